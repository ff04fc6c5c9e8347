package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/linkzip"
)

// Kind says what one direction of a connection carries, judged by its first
// bytes.
type Kind uint8

const (
	KindNone       Kind = iota // the sender sent nothing
	KindUnknown                // bytes we do not recognise
	KindGnutella06             // 0.6 handshake blocks, then descriptors
	KindGnutella04             // "GNUTELLA CONNECT/0.4" or "GNUTELLA OK", then descriptors
	KindHTTP                   // HTTP requests or responses
	KindGIV                    // a GIV line (push answer), then HTTP responses
	KindTLS                    // TLS from the first byte (tls.go)
	KindGnutella2              // a 0.6 handshake that chose G2, then G2 packets (g2.go)
)

var kindNames = [...]string{
	KindNone:       "none",
	KindUnknown:    "unknown",
	KindGnutella06: "gnutella/0.6",
	KindGnutella04: "gnutella/0.4",
	KindHTTP:       "http",
	KindGIV:        "giv",
	KindTLS:        "tls",
	KindGnutella2:  "gnutella2",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Flow is one direction of a connection split into what it carries.
type Flow struct {
	From, To netip.AddrPort
	Kind     Kind
	// Blocks are the sender's handshake blocks in order (for 0.6 a client's
	// CONNECT and final block, a server's response), or its GIV line; raw
	// text including the empty line that ends each.
	Blocks [][]byte
	// Deflate: the sender announced Content-Encoding: deflate, so Wire is one
	// zlib stream.
	Deflate bool
	// Wire holds the bytes after the handshake (or GIV line) as sent, still
	// compressed if Deflate. For KindHTTP and KindUnknown it is the whole
	// direction.
	Wire []byte
	// Descriptors is the descriptor stream (Gnutella kinds), inflated.
	Descriptors []byte
	// TLS, when set, says that Wire is TLS records: the whole direction
	// (KindTLS) or what followed a 0.6 handshake that upgraded to TLS
	// (deflate, if announced, is inside it). There are no Descriptors.
	TLS *TLSInfo
	// G2 is the Gnutella2 packet stream (KindGnutella2), inflated.
	G2 []byte
	// HTTP is the raw HTTP bytes: requests, or responses (KindHTTP, KindGIV).
	HTTP []byte
	// Timeline gives arrival times for offsets into Descriptors or HTTP. For
	// an inflated stream a byte's time is that of the segment where the
	// compressed block holding it ended.
	Timeline Timeline
	// Err says why the flow is incomplete or could not be split: a capture
	// gap, a size cap, an unterminated or oversized block, an inflate
	// failure. What was recovered before the problem is still set.
	Err error

	maxPayload uint32
}

// Scanner walks the flow's descriptor stream.
func (f *Flow) Scanner() *DescriptorScanner {
	s := NewDescriptorScanner(f.Descriptors, f.Timeline)
	s.MaxPayload = f.maxPayload
	return s
}

// Session is a connection split into its two flows.
type Session struct {
	Conn       *Conn
	FromClient Flow
	FromServer Flow
}

// DecodeFile reads the capture at path and splits every connection.
func DecodeFile(path string, opt Options) ([]Session, error) {
	c, err := ReadFile(path, opt)
	if err != nil {
		return nil, err
	}
	sessions := make([]Session, len(c.Conns))
	for i, conn := range c.Conns {
		sessions[i] = Split(conn, opt)
	}
	return sessions, nil
}

// Split classifies and splits both directions of c.
func Split(c *Conn, opt Options) Session {
	opt = opt.withDefaults()
	return Session{
		Conn:       c,
		FromClient: splitFlow(&c.FromClient, opt),
		FromServer: splitFlow(&c.FromServer, opt),
	}
}

// First bytes that tell what a direction carries.
var (
	prefixConnect06 = []byte("GNUTELLA CONNECT/0.6")
	prefixStatus06  = []byte("GNUTELLA/0.6")
	prefixConnect04 = []byte("GNUTELLA CONNECT/0.4")
	prefixOK04      = []byte("GNUTELLA OK")
	prefixGIV       = []byte("GIV ")
	prefixesHTTP    = [][]byte{[]byte("GET "), []byte("HEAD "), []byte("HTTP/1.")}
)

func splitFlow(s *Stream, opt Options) Flow {
	f := Flow{From: s.From, To: s.To, maxPayload: opt.MaxPayload}
	errs := []error{s.Err()}
	data := s.Data
	rest, deflate := data, false
	// heads are the blocks' headers, for what they say follows them.
	var heads []*wire.Handshake
	// block cuts the next header block off rest into f.Blocks; rest is nil
	// when there is none.
	block := func() {
		b, r, h, err := splitBlock(rest, opt.MaxBlockBytes)
		errs = append(errs, err)
		if b != nil {
			f.Blocks = append(f.Blocks, b)
		}
		if h != nil {
			heads = append(heads, h)
		}
		rest, deflate = r, deflate || announcesDeflate(h)
	}
	switch {
	case len(data) == 0:
		f.Kind = KindNone
		rest = nil
	case bytes.HasPrefix(data, prefixConnect06):
		// A client sends CONNECT, then (after the server's answer) its
		// final status block; descriptors follow the final block.
		f.Kind = KindGnutella06
		if block(); bytes.HasPrefix(rest, prefixStatus06) {
			block()
		}
	case bytes.HasPrefix(data, prefixStatus06):
		f.Kind = KindGnutella06
		block()
	case bytes.HasPrefix(data, prefixConnect04), bytes.HasPrefix(data, prefixOK04):
		f.Kind = KindGnutella04
		block()
	case bytes.HasPrefix(data, prefixGIV):
		f.Kind = KindGIV
		block()
	case hasAnyPrefix(data, prefixesHTTP):
		f.Kind = KindHTTP
	case isTLSRecord(data):
		f.Kind = KindTLS
		f.Wire, f.TLS = data, ReadTLS(data)
		errs = append(errs, f.TLS.Err)
		rest = nil
	default:
		f.Kind = KindUnknown
		f.Wire = data
		rest = nil
	}
	if rest == nil { // nothing sent, not recognised, or a block never ended
		f.Err = errors.Join(errs...)
		return f
	}
	bodyStart := len(data) - len(rest)
	f.Wire = rest
	switch f.Kind {
	case KindHTTP, KindGIV:
		f.HTTP = rest
		f.Timeline = shiftTimeline(s.Timeline, bodyStart)
	case KindGnutella06, KindGnutella04:
		f.Deflate = deflate
		if f.Kind == KindGnutella06 && upgradedToTLS(heads, rest) {
			f.TLS = ReadTLS(rest)
			errs = append(errs, f.TLS.Err)
			break
		}
		body := &f.Descriptors
		if f.Kind == KindGnutella06 && carriesG2(heads) {
			f.Kind, body = KindGnutella2, &f.G2
		}
		if !f.Deflate {
			*body = rest
			f.Timeline = shiftTimeline(s.Timeline, bodyStart)
			break
		}
		var err error
		*body, f.Timeline, err = inflate(rest, shiftTimeline(s.Timeline, bodyStart), opt.MaxInflatedBytes)
		errs = append(errs, err)
	}
	f.Err = errors.Join(errs...)
	return f
}

func hasAnyPrefix(b []byte, prefixes [][]byte) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(b, p) {
			return true
		}
	}
	return false
}

// splitBlock cuts one header block off the front of b with wire's header
// block parser: lines up to and including the first empty one, CRLF or
// bare LF, so both CRLF CRLF (0.6) and LF LF (0.4, GIV) end a block. The
// block may be at most limit bytes. It returns the block and the rest after
// it, and its headers (nil when none could be read); rest is nil when the
// block is not terminated. A malformed header line does not stop the split:
// a capture shows what was sent, well-formed or not.
func splitBlock(b []byte, limit int) (block, rest []byte, h *wire.Handshake, err error) {
	h, n, err := wire.ParseHandshake(b, wire.HandshakeLimits{MaxLines: limit, MaxBytes: limit})
	if n == 0 {
		return nil, nil, nil, err
	}
	return b[:n:n], b[n:], h, nil
}

// announcesDeflate reports whether a block's headers say that deflate
// follows.
func announcesDeflate(h *wire.Handshake) bool {
	return h != nil && h.HasToken("Content-Encoding", "deflate")
}

// shiftTimeline returns tl for the bytes from offset start on, re-based so
// that start becomes 0.
func shiftTimeline(tl Timeline, start int) Timeline {
	out := Timeline{}
	if t := tl.At(start); !t.IsZero() {
		out = append(out, Segment{Offset: 0, Time: t})
	}
	for _, s := range tl {
		if s.Offset > start {
			out = append(out, Segment{Offset: s.Offset - start, Time: s.Time})
		}
	}
	return out
}

// inflate decodes a zlib stream that, as on a live link, is never finished:
// it may stop anywhere when the capture's bytes run out, which is not an
// error. It inflates with linkzip, the servent's own inflater and bomb
// guard: output beyond limit, or at a ratio no link would be allowed, is an
// error (a compression bomb). The timeline of the inflated bytes maps each
// output chunk to the wire byte the decoder had reached when it produced it;
// flate hands out output at the end of each block, and every sync flush ends
// one.
func inflate(compressed []byte, wireTL Timeline, limit int) ([]byte, Timeline, error) {
	if len(compressed) == 0 {
		return nil, nil, nil
	}
	zr := linkzip.NewReader(bytes.NewReader(compressed), linkzip.ReaderConfig{MaxOutput: int64(limit)})
	var (
		out []byte
		tl  Timeline
		buf = make([]byte, 16<<10)
	)
	for {
		n, err := zr.Read(buf)
		if n > 0 {
			consumed := int(zr.Stats().Compressed)
			if t := wireTL.At(max(consumed-1, 0)); len(tl) == 0 || !tl[len(tl)-1].Time.Equal(t) {
				tl = append(tl, Segment{Offset: len(out), Time: t})
			}
			out = append(out, buf[:n]...)
		}
		switch {
		case err == nil:
		case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF): // the capture ends
			return out, tl, nil
		case errors.Is(err, linkzip.ErrTooLarge), errors.Is(err, linkzip.ErrBomb):
			return out, tl, fmt.Errorf("%w: %w, from %d compressed", ErrInflateTooLarge, err, len(compressed))
		default:
			return out, tl, fmt.Errorf("%w: after %d bytes out: %w", ErrInflate, len(out), err)
		}
	}
}
