// Package link is a scripted Gnutella connection for tools that test other
// servents (the conformance suite, and anything else under cmd that needs
// to speak to a servent as a peer would): dial, run the 0.6 handshake step
// by step or all at once, negotiate deflate, send descriptors (well formed
// or not), and read what the servent sends back with deadlines.
//
// A Link is not a servent: it routes nothing and answers nothing on its
// own. Every descriptor the other side sends is decoded (through the framed
// reader of package wire, after inflation when the link is compressed) and
// queued for the caller, malformed ones included, so a test sees exactly
// what arrived and in which order. Everything it sends and receives is kept
// in a bounded transcript for failure reports.
package link

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/linkzip"
	"github.com/govent/govent/wire/neterr"
)

// Errors a Link reports.
var (
	// ErrTimeout: nothing that was waited for arrived in time.
	ErrTimeout = errors.New("timed out")
	// ErrClosed: the other side closed the link (io.EOF is wrapped too).
	ErrClosed = errors.New("closed by peer")
)

// UserAgent is what links call themselves unless told otherwise.
const UserAgent = "Govent-Conform/0.1"

// inboxSize bounds the descriptors read ahead of the caller. When it is
// full the reader goroutine waits, and TCP pushes back on the sender.
const inboxSize = 512

// transcriptLines bounds the transcript kept for failure reports.
const transcriptLines = 64

// Options says how a Link presents itself in a 0.6 handshake.
type Options struct {
	// Ultrapeer is our X-Ultrapeer value; false connects as a leaf.
	Ultrapeer bool
	// Headers are set on the CONNECT block after the defaults (same name:
	// replaced); an empty value removes a default header.
	Headers []wire.HandshakeHeader
	// AcceptDeflate offers to read a compressed stream (Accept-Encoding).
	AcceptDeflate bool
	// Deflate compresses what we send when the other side accepts deflate.
	Deflate bool
	// Timeout bounds the dial and each handshake step. Zero means 5 s.
	Timeout time.Duration
	// Local, when valid, is the address our end of the connection binds
	// to (any port); otherwise the system picks it.
	Local netip.Addr
}

// ConnectBlock returns the CONNECT block (step 1) Options describe: the
// headers deployed servents expect of a peer in that role. An ultrapeer
// link does not offer Ultrapeer QRP (X-Ultrapeer-Query-Routing) unless
// Headers add it: a servent would send it its whole table.
func (o Options) ConnectBlock() *wire.Handshake {
	h := &wire.Handshake{StartLine: wire.ConnectLine06}
	h.Add("User-Agent", UserAgent)
	if o.Ultrapeer {
		h.Add("X-Ultrapeer", "True")
		h.Add("X-Degree", "32")
		h.Add("X-Dynamic-Querying", "0.1")
		h.Add("X-Max-TTL", "4")
	} else {
		h.Add("X-Ultrapeer", "False")
	}
	h.Add("X-Query-Routing", "0.2")
	h.Add("Bye-Packet", "0.1")
	h.Add("GGEP", "0.5")
	h.Add("Pong-Caching", "0.1")
	h.Add("Vendor-Message", "0.2")
	if o.AcceptDeflate {
		h.Add("Accept-Encoding", "deflate")
	}
	for _, hd := range o.Headers {
		if hd.Value == "" {
			removeHeader(h, hd.Name)
			continue
		}
		h.Set(hd.Name, hd.Value)
	}
	return h
}

func removeHeader(h *wire.Handshake, name string) {
	out := h.Headers[:0]
	for _, hd := range h.Headers {
		if !strings.EqualFold(hd.Name, name) {
			out = append(out, hd)
		}
	}
	h.Headers = out
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return 5 * time.Second
}

// Received is one descriptor the other side sent. Err is set (wrapping
// wire.ErrMalformed) when the payload did not parse; Msg then holds the
// header and the raw payload.
type Received struct {
	Msg *wire.Message
	Err error
}

// Link is one connection to the servent under test.
type Link struct {
	Conn net.Conn
	// Answer is the other side's step-2 block (nil before it came).
	Answer *wire.Handshake
	// Code is the status code of Answer (0 before it came).
	Code int
	// Inflating: the other side compresses what it sends (its answer said
	// Content-Encoding: deflate).
	Inflating bool
	// Deflating: we compress what we send.
	Deflating bool

	br      *bufio.Reader
	timeout time.Duration

	// The first handshake block (or HTTP head) read, or why reading it
	// failed: what the other side answered to whatever we sent first.
	gmu         sync.Mutex
	greeted     bool
	greeting    *wire.Handshake
	greetingErr error

	wmu sync.Mutex
	out io.Writer       // Conn, or zw over it
	zw  *linkzip.Writer // nil unless Deflating
	in  chan Received   // filled by the reader goroutine
	err error           // why reading ended, valid once in is closed
	end chan struct{}   // closed when the reader goroutine ends
	buf []byte

	tmu        sync.Mutex
	transcript []string
	closeOnce  sync.Once
}

// DialTCP opens a TCP connection from local (when valid) and returns a
// Link still in its handshake: the caller writes and reads blocks
// (WriteBlock, ReadBlock, WriteRaw) and then calls Start.
func DialTCP(ctx context.Context, addr string, local netip.Addr, timeout time.Duration) (*Link, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	if local.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		// The cause alone ("connection refused"): the caller names
		// addr, and our source address is no business of the user's.
		return nil, neterr.Cause(err)
	}
	return &Link{Conn: nc, br: bufio.NewReader(nc), timeout: timeout}, nil
}

// Dial connects to addr and runs the whole 0.6 handshake as o describes:
// our CONNECT, the answer, our 200 (with Content-Encoding when we
// compress). A non-200 answer comes back as a *wire.RefusedError
// together with the Link, whose Answer and Code say what was refused; the
// connection is closed then. ctx ending (a Ctrl-C) cuts the handshake
// short: Dial then returns ctx's error.
func Dial(ctx context.Context, addr string, o Options) (*Link, error) {
	l, err := DialTCP(ctx, addr, o.Local, o.timeout())
	if err != nil {
		return nil, err
	}
	nc := l.Conn
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	l, err = l.handshake(o)
	if !stop() {
		// ctx ended and closed the connection, maybe as the handshake
		// ended: the link is gone either way.
		return nil, fmt.Errorf("handshake cut short: %w", context.Cause(ctx))
	}
	return l, err
}

// handshake is Dial's on the connection just made.
func (l *Link) handshake(o Options) (*Link, error) {
	if err := l.WriteBlock(o.ConnectBlock()); err != nil {
		l.Conn.Close()
		return nil, err
	}
	if _, err := l.ReadAnswer(); err != nil {
		l.Conn.Close()
		return l, err
	}
	final := &wire.Handshake{StartLine: wire.StatusLine06(200, "OK")}
	deflate := o.Deflate && l.Answer.HasToken("Accept-Encoding", "deflate")
	if deflate {
		final.Add("Content-Encoding", "deflate")
	}
	if err := l.WriteBlock(final); err != nil {
		l.Conn.Close()
		return nil, err
	}
	l.Start(l.Answer.HasToken("Content-Encoding", "deflate"), deflate)
	return l, nil
}

// WriteBlock sends one handshake block.
func (l *Link) WriteBlock(h *wire.Handshake) error {
	l.note("-> %s (%d headers)", h.StartLine, len(h.Headers))
	return l.writeConn(h.Append(nil))
}

// WriteRaw sends bytes as they are, bypassing any compression: handshake
// blocks that must be malformed, a broken descriptor, garbage.
func (l *Link) WriteRaw(b []byte) error {
	l.note("-> %d raw bytes", len(b))
	return l.writeConn(b)
}

func (l *Link) writeConn(b []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	_ = l.Conn.SetWriteDeadline(time.Now().Add(l.timeout))
	_, err := l.Conn.Write(b)
	if err != nil {
		return fmt.Errorf("write: %w", neterr.Cause(err))
	}
	return nil
}

// ReadBlock reads one handshake block within the link's timeout.
func (l *Link) ReadBlock() (*wire.Handshake, error) {
	_ = l.Conn.SetReadDeadline(time.Now().Add(l.timeout))
	h, err := wire.ReadHandshake(l.br, wire.HandshakeLimits{})
	_ = l.Conn.SetReadDeadline(time.Time{})
	l.gmu.Lock()
	if !l.greeted {
		l.greeted, l.greeting, l.greetingErr = true, h, err
	}
	l.gmu.Unlock()
	if err != nil {
		if errors.Is(err, io.EOF) {
			l.note("<- closed")
			return nil, fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return nil, fmt.Errorf("reading a handshake block: %w", neterr.Cause(err))
	}
	l.note("<- %s (%d headers)", h.StartLine, len(h.Headers))
	return h, nil
}

// Greeting returns the first block read on the link (the answer to our
// CONNECT, or the first HTTP response head) or why reading it failed;
// read is false while no block was read yet.
func (l *Link) Greeting() (h *wire.Handshake, read bool, err error) {
	l.gmu.Lock()
	defer l.gmu.Unlock()
	return l.greeting, l.greeted, l.greetingErr
}

// ReadAnswer reads the step-2 block and records it in Answer and Code. A
// non-200 status is a *wire.RefusedError.
func (l *Link) ReadAnswer() (*wire.Handshake, error) {
	h, err := l.ReadBlock()
	if err != nil {
		return nil, err
	}
	l.Answer = h
	_, code, reason, err := h.ParseStatus()
	if err != nil {
		return h, fmt.Errorf("handshake answer: %w", err) // it quotes the start line
	}
	l.Code = code
	if code != 200 {
		return h, &wire.RefusedError{Addr: l.Conn.RemoteAddr().String(), Code: code, Reason: reason}
	}
	return h, nil
}

// ReadN reads exactly n bytes within the link's timeout, for bodies
// outside the descriptor stream (an HTTP reply).
func (l *Link) ReadN(n int) ([]byte, error) {
	_ = l.Conn.SetReadDeadline(time.Now().Add(l.timeout))
	defer l.Conn.SetReadDeadline(time.Time{})
	b := make([]byte, n)
	if _, err := io.ReadFull(l.br, b); err != nil {
		return nil, fmt.Errorf("reading %d bytes: %w", n, err)
	}
	l.note("<- %d raw bytes", n)
	return b, nil
}

// ReadGIV reads the GIV line a servent sends first on the connection it
// opens in answer to a Push, within the link's timeout.
func (l *Link) ReadGIV() (httpxfer.GIV, error) {
	_ = l.Conn.SetReadDeadline(time.Now().Add(l.timeout))
	defer l.Conn.SetReadDeadline(time.Time{})
	g, err := httpxfer.ReadGIV(l.br)
	if err != nil {
		return g, fmt.Errorf("reading a GIV: %w", err)
	}
	l.note("<- GIV %d:%s/%s", g.Index, g.ServentGUID, g.Name)
	return g, nil
}

// ReadToClose reads until the other side closes, within the link's
// timeout, keeping at most max bytes (and counting the rest). It returns
// how many bytes came before the close.
func (l *Link) ReadToClose(max int) ([]byte, int64, error) {
	_ = l.Conn.SetReadDeadline(time.Now().Add(l.timeout))
	defer l.Conn.SetReadDeadline(time.Time{})
	var keep []byte
	var total int64
	buf := make([]byte, 4096)
	for {
		n, err := l.br.Read(buf)
		total += int64(n)
		if room := max - len(keep); room > 0 {
			keep = append(keep, buf[:min(n, room)]...)
		}
		if err != nil {
			l.note("<- %d raw bytes, then %v", total, err)
			if errors.Is(err, io.EOF) {
				return keep, total, nil
			}
			return keep, total, fmt.Errorf("reading to the close: %w", err)
		}
	}
}

// Start ends the handshake phase: from here on the link carries
// descriptors, inflated from the other side when inflate is set and
// compressed by us when deflate is set.
func (l *Link) Start(inflate, deflate bool) {
	l.Inflating, l.Deflating = inflate, deflate
	l.out = l.Conn
	if deflate {
		zw, err := linkzip.NewWriter(l.Conn, linkzip.WriterConfig{})
		if err != nil {
			// Only a bad level fails, and we pass the default.
			panic(err)
		}
		l.zw, l.out = zw, zw
	}
	var src io.Reader = l.br
	if inflate {
		src = linkzip.NewReader(l.br, linkzip.ReaderConfig{})
	}
	l.in = make(chan Received, inboxSize)
	l.end = make(chan struct{})
	go l.readLoop(wire.NewReader(src, wire.DefaultMaxPayload))
}

// readLoop decodes descriptors into the inbox until the stream ends.
func (l *Link) readLoop(r *wire.Reader) {
	defer close(l.end)
	defer close(l.in)
	for {
		m, err := r.ReadMessage()
		if m == nil {
			if errors.Is(err, io.EOF) {
				l.note("<- closed")
				l.err = fmt.Errorf("%w: %w", ErrClosed, err)
			} else {
				l.note("<- stream error: %v", err)
				l.err = fmt.Errorf("reading descriptors: %w", err)
			}
			return
		}
		c := Clone(m)
		if err != nil {
			l.note("<- malformed %s: %v", m.Header.Type, err)
		} else {
			l.note("<- %s", Summary(c))
		}
		l.in <- Received{Msg: c, Err: err}
	}
}

// Clone copies a message that a wire.Reader handed out (valid only until
// its next read) into one that owns its bytes.
func Clone(m *wire.Message) *wire.Message {
	payload := append([]byte(nil), m.Payload...)
	c := &wire.Message{}
	if err := c.Decode(m.Header, payload); err != nil {
		c.Header, c.Payload = m.Header, payload
	}
	return c
}

// Send encodes and sends descriptors (compressed when the link is),
// recording each in the transcript.
func (l *Link) Send(msgs ...*wire.Message) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	b := l.buf[:0]
	for _, m := range msgs {
		var err error
		if b, err = m.Append(b); err != nil {
			return fmt.Errorf("encoding %s: %w", m.Header.Type, err)
		}
		l.note("-> %s", Summary(m))
	}
	l.buf = b
	return l.writeOut(b)
}

// SendBytes sends already-encoded descriptor bytes through the link's
// compression, for descriptors wire would refuse to encode.
func (l *Link) SendBytes(b []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.note("-> %d descriptor bytes", len(b))
	return l.writeOut(b)
}

func (l *Link) writeOut(b []byte) error {
	_ = l.Conn.SetWriteDeadline(time.Now().Add(l.timeout))
	if _, err := l.out.Write(b); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if l.zw != nil {
		if err := l.zw.Flush(); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
	}
	return nil
}

// Next returns the next descriptor, waiting at most wait. When the stream
// has ended it returns the reason (wrapping ErrClosed for a clean close);
// when nothing came in time, ErrTimeout.
func (l *Link) Next(wait time.Duration) (Received, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case r, ok := <-l.in:
		if !ok {
			return Received{}, l.err
		}
		return r, nil
	case <-t.C:
		return Received{}, ErrTimeout
	}
}

// Poll returns a descriptor that has already arrived, without waiting.
func (l *Link) Poll() (Received, bool) {
	select {
	case r, ok := <-l.in:
		return r, ok
	default:
		return Received{}, false
	}
}

// CloseWrite half-closes the connection: the other side reads EOF after
// what we sent.
func (l *Link) CloseWrite() error {
	l.note("-> FIN")
	if tc, ok := l.Conn.(*net.TCPConn); ok {
		return tc.CloseWrite()
	}
	return l.Conn.Close()
}

// Close ends the link politely: a Bye 200, a half-close, and a bounded wait
// (the link's timeout, at most a second) for the other side to close, so
// that its connection slot is free again before the next test connects.
func (l *Link) Close() {
	l.closeOnce.Do(func() {
		if l.in == nil {
			// Still in its handshake, or carrying HTTP: half-close and
			// wait for the other side's close, which tells that it let go
			// of whatever the connection held (an upload slot).
			if l.CloseWrite() == nil {
				_ = l.Conn.SetReadDeadline(time.Now().Add(min(l.timeout, time.Second)))
				_, _ = io.Copy(io.Discard, io.LimitReader(l.br, 1<<20))
			}
			l.Conn.Close()
			return
		}
		select {
		case <-l.end:
		default:
			bye := &wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeBye, TTL: 1},
				Bye: wire.NewBye(wire.ByeNormal, "Conformance case done", "Server: "+UserAgent)}
			if l.Send(bye) == nil {
				_ = l.CloseWrite()
				l.drain(min(l.timeout, time.Second))
			}
		}
		l.Conn.Close()
		l.drain(time.Second)
	})
}

// drain discards what arrives until the reader ends or wait passes.
func (l *Link) drain(wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case _, ok := <-l.in:
			if !ok {
				return
			}
		case <-t.C:
			return
		}
	}
}

// Transcript returns the last lines of what went each way ("->" sent,
// "<-" received), oldest first.
func (l *Link) Transcript() []string {
	l.tmu.Lock()
	defer l.tmu.Unlock()
	return append([]string(nil), l.transcript...)
}

func (l *Link) note(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	l.tmu.Lock()
	defer l.tmu.Unlock()
	if len(l.transcript) == transcriptLines {
		l.transcript = append(l.transcript[:0], l.transcript[1:]...)
	}
	l.transcript = append(l.transcript, line)
}

// Summary is the one-line form of a message, as transcripts show it.
func Summary(m *wire.Message) string { return string(m.AppendSummary(nil)) }
