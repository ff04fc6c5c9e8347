package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// The 0.4 handshake is two fixed strings with bare LF line ends; old
// servents and tools still send it. gtk-gnutella answers CONNECT/0.4 by
// closing without a word.
const (
	Handshake04Connect = "GNUTELLA CONNECT/0.4\n\n"
	Handshake04OK      = "GNUTELLA OK\n\n"
)

// Start lines of the 0.6 handshake.
const (
	// ConnectLine06 opens a 0.6 handshake (step 1).
	ConnectLine06 = "GNUTELLA CONNECT/0.6"
	// HandshakeProto06 starts every 0.6 status line (steps 2 and 3).
	HandshakeProto06 = "GNUTELLA/0.6"

	connectPrefix = "GNUTELLA CONNECT/"
	okLine04      = "GNUTELLA OK"
	protoPrefix   = "GNUTELLA/"
)

// Default handshake block limits, as deployed servents cap them.
const (
	DefaultHandshakeMaxLines = 128
	DefaultHandshakeMaxBytes = 16 << 10
)

// HandshakeLimits bounds one header block. Zero fields take the defaults.
type HandshakeLimits struct {
	// MaxLines counts the start line, header lines and continuation lines;
	// the closing empty line is not counted.
	MaxLines int
	// MaxBytes counts every byte of the block, line ends and the closing
	// empty line included.
	MaxBytes int
}

func (l HandshakeLimits) withDefaults() HandshakeLimits {
	if l.MaxLines <= 0 {
		l.MaxLines = DefaultHandshakeMaxLines
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultHandshakeMaxBytes
	}
	return l
}

// HandshakeHeader is one header line, name spelled as it was sent.
type HandshakeHeader struct {
	Name, Value string
}

// Handshake is one 0.4 or 0.6 handshake block: a start line (a CONNECT or a
// status line) and its headers in the order they came.
type Handshake struct {
	StartLine string
	Headers   []HandshakeHeader
}

// ReadHandshake reads one block from r, up to and including its closing
// empty line; bytes after it stay in r (the descriptor stream, possibly
// compressed, follows at once).
//
// It accepts bare LF line ends (deployed servents send them), folds a
// continuation line (one starting with a space or tab) into the previous
// header's value with one space, and keeps repeated headers. A block over
// lim fails with ErrHeaderTooLarge before more than lim.MaxBytes are held,
// however long a line is. A stream that ends inside a block gives an error
// wrapping both ErrTruncated and io.ErrUnexpectedEOF; one that ends before
// the first byte gives an error wrapping io.EOF.
func ReadHandshake(r *bufio.Reader, lim HandshakeLimits) (*Handshake, error) {
	lim = lim.withDefaults()
	h := &Handshake{}
	var (
		line   []byte
		total  int // bytes consumed so far, line ends included
		nlines int
	)
	for {
		var n int
		var err error
		line, n, err = readHandshakeLine(r, line[:0], lim.MaxBytes-total)
		total += n
		if err == io.EOF { // at a line start: none of this line was read
			if total == 0 {
				return nil, fmt.Errorf("wire: handshake: connection closed before any byte: %w", io.EOF)
			}
			return nil, fmt.Errorf("%w: handshake block ends before its empty line: %w", ErrTruncated, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			if nlines == 0 {
				return nil, fmt.Errorf("%w: handshake: empty start line", ErrMalformed)
			}
			return h, nil
		}
		nlines++
		if nlines > lim.MaxLines {
			return nil, fmt.Errorf("%w: handshake: more than %d lines", ErrHeaderTooLarge, lim.MaxLines)
		}
		if nlines == 1 {
			h.StartLine = string(line)
			continue
		}
		if err := h.addLine(line); err != nil {
			return nil, err
		}
	}
}

// readHandshakeLine appends the next line to buf without its LF or CRLF and
// returns it with the bytes consumed. It holds at most budget bytes. A
// stream that ends before the line's first byte gives io.EOF itself.
func readHandshakeLine(r *bufio.Reader, buf []byte, budget int) ([]byte, int, error) {
	n := 0
	for {
		frag, err := r.ReadSlice('\n')
		n += len(frag)
		if n > budget {
			return nil, n, fmt.Errorf("%w: handshake block over its byte limit", ErrHeaderTooLarge)
		}
		buf = append(buf, frag...)
		switch {
		case err == nil:
			buf = buf[:len(buf)-1]
			if len(buf) > 0 && buf[len(buf)-1] == '\r' {
				buf = buf[:len(buf)-1]
			}
			return buf, n, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if n == 0 {
				return nil, 0, io.EOF
			}
			return nil, n, fmt.Errorf("%w: handshake block: %w", ErrTruncated, io.ErrUnexpectedEOF)
		default:
			return nil, n, fmt.Errorf("wire: handshake: %w", err)
		}
	}
}

// addLine adds a header line or folds a continuation line.
func (h *Handshake) addLine(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		if len(h.Headers) == 0 {
			return fmt.Errorf("%w: handshake: continuation line before any header", ErrMalformed)
		}
		last := &h.Headers[len(h.Headers)-1]
		if more := bytes.TrimSpace(line); len(more) > 0 {
			if last.Value == "" {
				last.Value = string(more)
			} else {
				last.Value += " " + string(more)
			}
		}
		return nil
	}
	name, value, ok := bytes.Cut(line, []byte{':'})
	name = bytes.TrimSpace(name)
	if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
		return fmt.Errorf("%w: handshake: bad header line %q", ErrMalformed, truncateForError(line))
	}
	h.Headers = append(h.Headers, HandshakeHeader{Name: string(name), Value: string(bytes.TrimSpace(value))})
	return nil
}

// Get returns the value of the first header called name (any case).
func (h *Handshake) Get(name string) (string, bool) {
	for _, hd := range h.Headers {
		if strings.EqualFold(hd.Name, name) {
			return hd.Value, true
		}
	}
	return "", false
}

// Values returns the values of every header called name (any case), in
// order.
func (h *Handshake) Values(name string) []string {
	var vs []string
	for _, hd := range h.Headers {
		if strings.EqualFold(hd.Name, name) {
			vs = append(vs, hd.Value)
		}
	}
	return vs
}

// Set gives name the single value value: the first header of that name
// (any case) takes the new spelling and value in place, later ones go. A
// new header goes last.
func (h *Handshake) Set(name, value string) {
	found := false
	kept := h.Headers[:0]
	for _, hd := range h.Headers {
		if strings.EqualFold(hd.Name, name) {
			if found {
				continue
			}
			found = true
			hd = HandshakeHeader{Name: name, Value: value}
		}
		kept = append(kept, hd)
	}
	h.Headers = kept
	if !found {
		h.Add(name, value)
	}
}

// Add appends a header, even if one of that name exists.
func (h *Handshake) Add(name, value string) {
	h.Headers = append(h.Headers, HandshakeHeader{Name: name, Value: value})
}

// Append appends the block as it goes on the wire: start line, "Name:
// Value" lines in order with names spelled as given, CRLF after each, and
// the closing empty line.
func (h *Handshake) Append(b []byte) []byte {
	b = append(b, h.StartLine...)
	b = append(b, '\r', '\n')
	for _, hd := range h.Headers {
		b = append(b, hd.Name...)
		b = append(b, ':', ' ')
		b = append(b, hd.Value...)
		b = append(b, '\r', '\n')
	}
	return append(b, '\r', '\n')
}

// HasToken reports whether a comma-separated header (every occurrence of
// it) lists token, case-insensitively: "Accept-Encoding: gzip, deflate"
// has "deflate".
func (h *Handshake) HasToken(name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// IsConnect reports whether the start line is a CONNECT and returns its
// protocol version ("0.6", "0.4").
func (h *Handshake) IsConnect() (version string, ok bool) {
	v, ok := strings.CutPrefix(h.StartLine, connectPrefix)
	if !ok || v == "" {
		return "", false
	}
	return v, true
}

// Is04OK reports whether the block is the 0.4 server's "GNUTELLA OK".
func (h *Handshake) Is04OK() bool {
	return h.StartLine == okLine04 && len(h.Headers) == 0
}

// ParseStatus splits a 0.6 status line such as "GNUTELLA/0.6 503 Full"
// into its protocol, three-digit code and reason (which may be empty).
// Errors wrap ErrMalformed.
func (h *Handshake) ParseStatus() (proto string, code int, reason string, err error) {
	proto, rest, _ := strings.Cut(h.StartLine, " ")
	if !strings.HasPrefix(proto, protoPrefix) || len(proto) == len(protoPrefix) {
		return "", 0, "", fmt.Errorf("%w: handshake: not a status line: %q", ErrMalformed, truncateForError([]byte(h.StartLine)))
	}
	digits, reason, _ := strings.Cut(rest, " ")
	if len(digits) != 3 || digits[0] < '1' || digits[0] > '9' {
		return "", 0, "", fmt.Errorf("%w: handshake: bad status code in %q", ErrMalformed, truncateForError([]byte(h.StartLine)))
	}
	code, err = strconv.Atoi(digits)
	if err != nil {
		return "", 0, "", fmt.Errorf("%w: handshake: bad status code in %q", ErrMalformed, truncateForError([]byte(h.StartLine)))
	}
	return proto, code, strings.TrimSpace(reason), nil
}

// StatusLine06 returns a 0.6 status line: "GNUTELLA/0.6 <code> <reason>".
func StatusLine06(code int, reason string) string {
	return HandshakeProto06 + " " + strconv.Itoa(code) + " " + reason
}

// ParseAddrList reads an address-list header value (X-Try,
// X-Try-Ultrapeers): comma-separated "ip:port" entries with optional
// spaces, IPv6 in brackets. Some servents follow an address with a space
// and a timestamp; that is skipped. Entries that do not parse, or have port
// 0, are skipped. At most max addresses are returned, so a hostile list
// costs nothing past that.
func ParseAddrList(value string, max int) []netip.AddrPort {
	var out []netip.AddrPort
	for entry := range strings.SplitSeq(value, ",") {
		if len(out) >= max {
			break
		}
		entry = strings.TrimSpace(entry)
		if i := strings.IndexAny(entry, " \t"); i >= 0 {
			entry = entry[:i]
		}
		ap, err := netip.ParseAddrPort(entry)
		if err != nil || ap.Port() == 0 {
			continue
		}
		out = append(out, ap)
	}
	return out
}

// FormatAddrList writes addresses as an X-Try-Ultrapeers value: "ip:port"
// joined by commas.
func FormatAddrList(addrs []netip.AddrPort) string {
	var b []byte
	for i, a := range addrs {
		if i > 0 {
			b = append(b, ',')
		}
		b = a.AppendTo(b)
	}
	return string(b)
}
