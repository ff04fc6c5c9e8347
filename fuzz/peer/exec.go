package peer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/linkzip"
)

// DialFunc opens a connection to addr (host:port) from the local address
// local (the zero Addr: let the system choose).
type DialFunc func(ctx context.Context, local netip.Addr, addr string) (net.Conn, error)

// TCPDial is the DialFunc of real runs.
func TCPDial(ctx context.Context, local netip.Addr, addr string) (net.Conn, error) {
	var d net.Dialer
	if local.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	return d.DialContext(ctx, "tcp", addr)
}

// FromDialer is a network that dials from a chosen source address, such
// as servent/memnet's in-memory one.
type FromDialer interface {
	DialFrom(ctx context.Context, from netip.Addr, network, address string) (net.Conn, error)
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// NetworkDial is the DialFunc of a FromDialer: runs against a servent on
// an in-memory network, inside a testing/synctest bubble.
func NetworkDial(n FromDialer) DialFunc {
	return func(ctx context.Context, local netip.Addr, addr string) (net.Conn, error) {
		if !local.IsValid() {
			return n.DialContext(ctx, "tcp", addr)
		}
		return n.DialFrom(ctx, local, "tcp", addr)
	}
}

// sources spreads case connections over many source addresses when the
// target is on IPv4 loopback: servents limit connections and lock out
// misbehaving hosts per address, and a fuzzer that ran every case from
// 127.0.0.1 would soon test those limits and nothing else. It also keeps
// the ephemeral ports of any one address far from exhaustion. The control
// connection keeps the default source (127.0.0.1), which no case uses.
type sources struct {
	pool []netip.Addr
	next atomic.Uint64
}

// sourcePoolSize is how many loopback source addresses cases rotate over:
// 127.1.0.1 to 127.1.3.248.
const sourcePoolSize = 1016

func newSources(target string) *sources {
	ap, err := netip.ParseAddrPort(target)
	if err != nil || !ap.Addr().Unmap().Is4() || !ap.Addr().IsLoopback() {
		return &sources{}
	}
	s := &sources{pool: make([]netip.Addr, sourcePoolSize)}
	for i := range s.pool {
		s.pool[i] = netip.AddrFrom4([4]byte{127, 1, byte(i / 254), byte(i%254 + 1)})
	}
	return s
}

// pick returns the source of the next case (the zero Addr without a pool).
func (s *sources) pick() netip.Addr {
	if len(s.pool) == 0 {
		return netip.Addr{}
	}
	return s.pool[(s.next.Add(1)-1)%uint64(len(s.pool))]
}

// AnswerKind classifies what the target did with a case.
type AnswerKind string

// Answer kinds.
const (
	AnswerRefused   AnswerKind = "refused"   // the connection was not accepted
	AnswerHandshake AnswerKind = "handshake" // a non-200 handshake status (Code)
	AnswerBye       AnswerKind = "bye"       // a Bye (Code, Reason)
	AnswerHTTP      AnswerKind = "http"      // an HTTP status line (Code)
	AnswerAlive     AnswerKind = "alive"     // the probe Ping's Pong: all read, nothing fatal said
	AnswerClose     AnswerKind = "close"     // closed without a word
	AnswerReset     AnswerKind = "reset"     // reset
	AnswerSilence   AnswerKind = "silence"   // nothing within the answer timeout
	AnswerStall     AnswerKind = "stall"     // it stopped reading: our write timed out
	AnswerGarbled   AnswerKind = "garbled"   // it sent bytes that do not parse
	AnswerRequest   AnswerKind = "request"   // after a GIV: it sent an HTTP request
)

// Answer is the target's answer to one case.
type Answer struct {
	Kind   AnswerKind `json:"kind"`
	Code   int        `json:"code,omitempty"`
	Reason string     `json:"reason,omitempty"`
}

// Key is the answer as the summary counts it: "bye 400", "http 416",
// "handshake 503", "alive".
func (a Answer) Key() string {
	if a.Code != 0 {
		return string(a.Kind) + " " + strconv.Itoa(a.Code)
	}
	return string(a.Kind)
}

// Bounds on reading an answer: a target that keeps talking cannot keep a
// case open.
const (
	maxAnswerDescriptors = 256
	maxAnswerBlockBytes  = 64 << 10
	maxAnswerBlockLines  = 1024
	maxStatusLine        = 8 << 10
)

// executor runs cases against the target.
type executor struct {
	dial    DialFunc
	target  string
	src     *sources
	timeout time.Duration // each wait for an answer, each write
}

// run opens a fresh connection, does the case's steps and reads the answer.
func (e *executor) run(ctx context.Context, c *Case) Answer {
	dctx, cancel := context.WithTimeout(ctx, e.timeout)
	nc, err := e.dial(dctx, e.src.pick(), e.target)
	cancel()
	if err != nil {
		return Answer{Kind: AnswerRefused, Reason: clipText(err.Error())}
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	defer stop()
	br := bufio.NewReaderSize(nc, 16<<10)
	var (
		ans       *Answer
		writeErr  *Answer // a failed write: the target closed, reset or stopped reading
		deflateIn bool
	)
steps:
	for _, s := range c.Steps {
		switch {
		case s.Send != nil:
			if writeErr != nil {
				continue // the rest is not sent, but the waits still read
			}
			_ = nc.SetWriteDeadline(time.Now().Add(e.timeout))
			if _, err := nc.Write(s.Send); err != nil {
				a := writeError(err)
				writeErr = &a
			}
		case s.Await == AwaitBlock:
			_ = nc.SetReadDeadline(time.Now().Add(e.timeout))
			h, err := wire.ReadHandshake(br, wire.HandshakeLimits{MaxLines: maxAnswerBlockLines, MaxBytes: maxAnswerBlockBytes})
			if err != nil {
				a := readError(err)
				ans = &a
				break steps
			}
			if code, reason, ok := handshakeStatus(h); !ok {
				ans = &Answer{Kind: AnswerHandshake, Code: code, Reason: clipText(reason)}
				if _, code, _, err := wire.ParseStatusLine(h.StartLine, wire.StatusHTTP1); err == nil {
					// Not taken for Gnutella: answered as HTTP.
					ans = &Answer{Kind: AnswerHTTP, Code: code}
				}
				break steps
			}
			deflateIn = h.HasToken("Content-Encoding", "deflate")
		}
	}
	if ans != nil {
		if writeErr != nil && !decisive(ans.Kind) {
			return *writeErr
		}
		return *ans
	}
	// Read the answer even after a failed write: a target that said Bye
	// (or sent a status) and closed has answered, whatever our write met.
	_ = nc.SetReadDeadline(time.Now().Add(e.timeout))
	var got Answer
	switch c.Proto {
	case ProtoHTTP:
		got = readHTTPAnswer(br)
	case ProtoGIV:
		got = readGIVAnswer(br)
	default:
		var in io.Reader = br
		if deflateIn {
			in = linkzip.NewReader(br, linkzip.ReaderConfig{})
		}
		got = readDescriptorAnswer(wire.NewReader(in, 0), c.Probe)
	}
	if writeErr != nil && !decisive(got.Kind) {
		return *writeErr
	}
	return got
}

// decisive answers say something of their own; the others (a close, a
// reset, nothing) say less than the write error that came first.
func decisive(k AnswerKind) bool {
	switch k {
	case AnswerClose, AnswerReset, AnswerSilence:
		return false
	}
	return true
}

// handshakeStatus reads a handshake answer: ok for a 200 (or the 0.4 OK),
// else the code (0 when the start line is no status line) and reason.
func handshakeStatus(h *wire.Handshake) (code int, reason string, ok bool) {
	if h.Is04OK() {
		return 200, "", true
	}
	_, code, reason, err := h.ParseStatus()
	if err != nil {
		return 0, h.StartLine, false
	}
	return code, reason, code == 200
}

// readDescriptorAnswer reads descriptors until one decides the answer: a
// Bye, or the Pong of the probe Ping.
func readDescriptorAnswer(r *wire.Reader, probe string) Answer {
	probeGUID, err := wire.ParseGUID(probe)
	hasProbe := err == nil
	for range maxAnswerDescriptors {
		m, err := r.ReadMessage()
		if err != nil && m == nil {
			return readError(err)
		}
		if err != nil {
			continue // a payload of theirs we cannot parse: not our business here
		}
		switch {
		case m.Header.Type == wire.TypeBye:
			return Answer{Kind: AnswerBye, Code: int(m.Bye.Code), Reason: clipText(string(m.Bye.Reason()))}
		case hasProbe && m.Header.Type == wire.TypePong && m.Header.GUID == probeGUID:
			return Answer{Kind: AnswerAlive}
		}
	}
	return Answer{Kind: AnswerSilence, Reason: "many descriptors, none decisive"}
}

func readHTTPAnswer(br *bufio.Reader) Answer {
	line, err := readStatusLine(br)
	if err != nil {
		return readError(err)
	}
	if _, code, _, err := wire.ParseStatusLine(string(line), wire.StatusHTTP1); err == nil {
		return Answer{Kind: AnswerHTTP, Code: code}
	}
	return Answer{Kind: AnswerGarbled, Reason: clipText(string(line))}
}

func readGIVAnswer(br *bufio.Reader) Answer {
	line, err := readStatusLine(br)
	if err != nil {
		return readError(err)
	}
	if bytes.HasPrefix(line, []byte("GET ")) || bytes.HasPrefix(line, []byte("HEAD ")) {
		return Answer{Kind: AnswerRequest}
	}
	if _, code, _, err := wire.ParseStatusLine(string(line), wire.StatusHTTP1); err == nil {
		return Answer{Kind: AnswerHTTP, Code: code}
	}
	return Answer{Kind: AnswerGarbled, Reason: clipText(string(line))}
}

// readStatusLine reads the answer's first line only: what follows it may
// be a body of any form, not a header block.
func readStatusLine(br *bufio.Reader) ([]byte, error) {
	line, _, err := wire.ReadLine(br, nil, maxStatusLine)
	if errors.Is(err, wire.ErrTruncated) {
		// A line cut short is a garbled answer, not a plain close.
		return nil, fmt.Errorf("%w: %w", wire.ErrMalformed, err)
	}
	return line, err
}

// readError classifies a failed read.
func readError(err error) Answer {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, wire.ErrMalformed):
		return Answer{Kind: AnswerClose}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return Answer{Kind: AnswerReset}
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return Answer{Kind: AnswerSilence}
	case errors.Is(err, wire.ErrMalformed), errors.Is(err, wire.ErrFrame), errors.Is(err, wire.ErrHeaderTooLarge),
		errors.Is(err, linkzip.ErrCorrupt), errors.Is(err, linkzip.ErrBomb):
		return Answer{Kind: AnswerGarbled, Reason: clipText(err.Error())}
	}
	return Answer{Kind: AnswerClose, Reason: clipText(err.Error())}
}

// writeError classifies a failed write: the target closed, reset, or
// stopped reading.
func writeError(err error) Answer {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return Answer{Kind: AnswerStall}
	case errors.Is(err, syscall.ECONNRESET):
		return Answer{Kind: AnswerReset}
	}
	return Answer{Kind: AnswerClose, Reason: clipText(err.Error())}
}

// clipText keeps recorded reasons short: they come from the target.
func clipText(s string) string {
	const max = 120
	if len(s) > max {
		s = s[:max] + "..."
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
