package httpxfer

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/govent/govent/wire"
)

// What the downloader does about a source after a failed exchange.
const (
	actRetry  = iota // count a failure, try again (same or other chunk)
	actBusy          // 503: count a failure, wait delay before the next try
	actQueued        // 503 with a queue place: no failure, poll after delay
	actDrop          // the source cannot serve this file: stop using it
	actFatal         // a local error (disk): stop the whole download
)

// sourceError classifies why an exchange with a source failed.
type sourceError struct {
	action int
	delay  time.Duration
	err    error
	queue  QueueStatus // for actQueued
	status string      // for actBusy: the reply's "503 Busy"
	keep   bool        // the connection stays usable (a queued poll on it)
	// noAnswer: the try got no answer (noanswer.go); retried after a backoff
	noAnswer bool
}

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

func retryErr(format string, a ...any) error {
	return &sourceError{action: actRetry, err: fmt.Errorf(format, a...)}
}

func dropErr(format string, a ...any) error {
	return &sourceError{action: actDrop, err: fmt.Errorf(format, a...)}
}

func fatalErr(err error) error { return &sourceError{action: actFatal, err: err} }

// clientConn is one connection to a source, reused for the next request
// while the source keeps it alive.
type clientConn struct {
	conn net.Conn
	br   *bufio.Reader
	buf  []byte
	sent bool   // a GET was sent ahead; its response is not read yet
	seg  int64  // copyBody's segment size, adapted to the source's rate
	body []byte // readBody's buffer, allocated at its first use
	// ahead reports the write of that GET, which runs beside the reading
	// of the current body (sendAhead); nil once waited for (sentAhead).
	ahead    chan error
	aheadBuf []byte
	// extra holds header lines sent with every request, each ending in
	// CRLF: the PARQ place the source gave us, X-Node, and the download's
	// X-Alt and X-NAlt.
	extra []byte
}

func newClientConn(conn net.Conn) *clientConn {
	return &clientConn{conn: conn, br: bufio.NewReader(conn), seg: minSegment}
}

func (c *clientConn) close() {
	if c != nil {
		c.conn.Close()
		_ = c.sentAhead() // closing ends the write
	}
}

// response is a parsed response head.
type response struct {
	status int
	reason string // printable ASCII, clipped: it goes into error messages
	keep   bool   // the source keeps the connection open after the body
	length int64  // Content-Length, -1 if absent
	h      *wire.Handshake
}

// roundTrip sends one request and reads the response head. rng may be nil.
func (c *clientConn) roundTrip(method, target, host, agent string, rng *byteRange, timeout time.Duration) (*response, error) {
	_ = c.conn.SetDeadline(time.Now().Add(timeout))
	if err := c.send(method, target, host, agent, rng); err != nil {
		return nil, err
	}
	return c.readResponse()
}

// send writes one request; the caller sets the write deadline.
func (c *clientConn) send(method, target, host, agent string, rng *byteRange) error {
	c.buf = c.appendRequest(c.buf[:0], method, target, host, agent, rng)
	return c.write(c.buf)
}

// sendAhead sends the next GET before the current body is read
// (pipelining), which saves a round trip per chunk. The write runs beside
// the reading of the body: the source reads the request only after it
// sent that body, so on a transport without a send buffer (net.Pipe) a
// write that waited for it would wait for a body we do not read, until a
// deadline broke the connection on both sides. The caller sets the write
// deadline; sentAhead waits for the write.
func (c *clientConn) sendAhead(method, target, host, agent string, rng *byteRange) {
	c.aheadBuf = c.appendRequest(c.aheadBuf[:0], method, target, host, agent, rng)
	done := make(chan error, 1)
	c.ahead, c.sent = done, true
	go func(b []byte) { done <- c.write(b) }(c.aheadBuf)
}

// sentAhead waits for the write sendAhead started, if one is pending, and
// returns its error: after a failed write the connection must not be used
// again (part of the request may be on the wire).
func (c *clientConn) sentAhead() error {
	if c.ahead == nil {
		return nil
	}
	err := <-c.ahead
	c.ahead = nil
	return err
}

func (c *clientConn) write(b []byte) error {
	if _, err := c.conn.Write(b); err != nil {
		return fmt.Errorf("writing request: %w", err)
	}
	return nil
}

// appendRequest appends a request head, with c.extra, to b.
func (c *clientConn) appendRequest(b []byte, method, target, host, agent string, rng *byteRange) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\n"...)
	if host != "" {
		b = append(b, "Host: "...)
		b = append(b, host...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "User-Agent: "...)
	b = append(b, agent...)
	b = append(b, "\r\n"...)
	if rng != nil {
		b = append(b, "Range: bytes="...)
		b = strconv.AppendInt(b, rng.start, 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, rng.end, 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, c.extra...)
	return append(b, "\r\n"...)
}

// readResponse reads a response head; the caller sets the read deadline.
func (c *clientConn) readResponse() (*response, error) {
	h, err := readHead(c.br)
	if err != nil {
		return nil, fmt.Errorf("reading response head: %w", err)
	}
	return parseResponse(h)
}

// parseResponse parses a status line ("HTTP/1.1 206 Partial Content"; the
// reason may be missing) and the framing headers.
func parseResponse(h *wire.Handshake) (*response, error) {
	r, proto, err := parseStatus(h)
	if err != nil {
		return nil, err
	}
	if proto == "HTTP/1.0" {
		r.keep = h.HasToken("Connection", "keep-alive")
	} else {
		r.keep = !h.HasToken("Connection", "close")
	}
	if len(h.Values("Content-Length")) > 1 {
		return nil, fmt.Errorf("%w: several Content-Length headers", ErrMalformed)
	}
	if v, ok := h.Get("Content-Length"); ok {
		if r.length, ok = parseDigits(v); !ok {
			return nil, fmt.Errorf("%w: Content-Length %q", ErrMalformed, clip([]byte(v)))
		}
	}
	if len(h.Values("Transfer-Encoding")) > 0 {
		// Sources do not chunk file bodies; we would not know the length.
		return nil, fmt.Errorf("%w: Transfer-Encoding on a file reply", ErrMalformed)
	}
	return r, nil
}

// parseStatus parses the status line into a response without framing,
// and returns the protocol too.
func parseStatus(h *wire.Handshake) (*response, string, error) {
	proto, status, reason, err := wire.ParseStatusLine(h.StartLine, wire.StatusHTTP1)
	if err != nil {
		return nil, "", fmt.Errorf("%w: status line %q", ErrMalformed, clip([]byte(h.StartLine)))
	}
	return &response{status: status, reason: printable(reason), length: -1, h: h}, proto, nil
}

// statusText is the status code and reason, "404 Not Found", for errors.
func (r *response) statusText() string {
	if r.reason == "" {
		return strconv.Itoa(r.status)
	}
	return strconv.Itoa(r.status) + " " + r.reason
}

// printable keeps the printable ASCII of a peer's text, clipped, so that
// it can go into an error message and a terminal.
func printable(s string) string {
	b := make([]byte, 0, min(len(s), 64))
	for i := 0; i < len(s) && len(b) < 64; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		}
	}
	return strings.TrimSpace(string(b))
}

// retryAfter reads Retry-After in seconds, bounded to [minPoll, hi]; def
// when absent or in the HTTP-date form.
func retryAfter(h *wire.Handshake, def, hi time.Duration) time.Duration {
	d := def
	if v, ok := h.Get("Retry-After"); ok {
		if n, ok := queueSeconds(v); ok {
			d = time.Duration(n) * time.Second
		}
	}
	return max(min(d, hi), minPoll)
}
