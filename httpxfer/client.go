package httpxfer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// What the downloader does about a source after a failed exchange.
const (
	actRetry = iota // count a failure, try again (same or other chunk)
	actBusy         // 503: count a failure, wait delay before the next try
	actDrop         // the source cannot serve this file: stop using it
	actFatal        // a local error (disk): stop the whole download
)

// sourceError classifies why an exchange with a source failed.
type sourceError struct {
	action int
	delay  time.Duration
	err    error
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
	sent bool  // a GET was sent ahead; its response is not read yet
	seg  int64 // copyBody's segment size, adapted to the source's rate
}

func newClientConn(conn net.Conn) *clientConn {
	return &clientConn{conn: conn, br: bufio.NewReader(conn), seg: minSegment}
}

func (c *clientConn) close() {
	if c != nil {
		c.conn.Close()
	}
}

// response is a parsed response head.
type response struct {
	status int
	keep   bool  // the source keeps the connection open after the body
	length int64 // Content-Length, -1 if absent
	h      fields
}

// roundTrip sends one request and reads the response head. rng may be nil.
func (c *clientConn) roundTrip(method, target, host, agent string, rng *byteRange, timeout time.Duration) (*response, error) {
	_ = c.conn.SetDeadline(time.Now().Add(timeout))
	if err := c.send(method, target, host, agent, rng); err != nil {
		return nil, err
	}
	return c.readResponse()
}

// send writes one request; the caller sets the write deadline. Sending
// the next GET before the current body is read (pipelining) saves a round
// trip per chunk.
func (c *clientConn) send(method, target, host, agent string, rng *byteRange) error {
	b := c.buf[:0]
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
	b = append(b, "\r\n"...)
	c.buf = b
	if _, err := c.conn.Write(b); err != nil {
		return fmt.Errorf("writing request: %w", err)
	}
	return nil
}

// readResponse reads a response head; the caller sets the read deadline.
func (c *clientConn) readResponse() (*response, error) {
	start, h, err := readHead(c.br)
	if err != nil {
		return nil, fmt.Errorf("reading response head: %w", err)
	}
	return parseResponse(start, h)
}

// parseResponse parses a status line ("HTTP/1.1 206 Partial Content"; the
// reason may be missing) and the framing headers.
func parseResponse(start string, h fields) (*response, error) {
	proto, rest, _ := strings.Cut(start, " ")
	code, _, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(proto, "HTTP/1.") || len(code) != 3 {
		return nil, fmt.Errorf("%w: status line %q", ErrMalformed, clip([]byte(start)))
	}
	status, ok := parseDigits(code)
	if !ok || status < 100 {
		return nil, fmt.Errorf("%w: status line %q", ErrMalformed, clip([]byte(start)))
	}
	r := &response{status: int(status), length: -1, h: h}
	if proto == "HTTP/1.0" {
		r.keep = h.hasToken("Connection", "keep-alive")
	} else {
		r.keep = !h.hasToken("Connection", "close")
	}
	if h.count("Content-Length") > 1 {
		return nil, fmt.Errorf("%w: several Content-Length headers", ErrMalformed)
	}
	if v, ok := h.get("Content-Length"); ok {
		if r.length, ok = parseDigits(v); !ok {
			return nil, fmt.Errorf("%w: Content-Length %q", ErrMalformed, clip([]byte(v)))
		}
	}
	if h.count("Transfer-Encoding") > 0 {
		// Sources do not chunk file bodies; we would not know the length.
		return nil, fmt.Errorf("%w: Transfer-Encoding on a file reply", ErrMalformed)
	}
	return r, nil
}

// copyBody moves a body in segments, calling credit after each, so that a
// progress display moves even while a slow source sends one chunk. A
// segment is sized to take about segmentTime: tiny segments cost a fast
// transfer dearly (a splice round each), big ones leave a slow source's
// progress frozen.
const (
	minSegment  = 16 << 10
	maxSegment  = 4 << 20
	segmentTime = 100 * time.Millisecond
)

// copyBody writes the next n body bytes to w at off, calling credit with
// each run of bytes that reached w. Bytes already in the bufio.Reader go
// with WriteAt; the rest are spliced from the socket into the file at its
// offset (io.CopyN gives *os.File.ReadFrom a LimitedReader over the
// *net.TCPConn). It returns how many bytes reached w.
func (c *clientConn) copyBody(w *os.File, off, n int64, timeout time.Duration, credit func(int64)) (int64, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	var done int64
	if k := min(int64(c.br.Buffered()), n); k > 0 {
		p, _ := c.br.Peek(int(k))
		if _, err := w.WriteAt(p, off); err != nil {
			return 0, fatalErr(err)
		}
		_, _ = c.br.Discard(int(k))
		done = k
		credit(k)
	}
	if done == n {
		return done, nil
	}
	if _, err := w.Seek(off+done, io.SeekStart); err != nil {
		return done, fatalErr(err)
	}
	for done < n {
		seg := min(n-done, c.seg)
		t0 := time.Now()
		m, err := io.CopyN(w, c.conn, seg)
		done += m
		if m > 0 {
			credit(m)
		}
		switch took := time.Since(t0); {
		case m == seg && took < segmentTime/4 && c.seg < maxSegment:
			c.seg *= 2
		case took > segmentTime && c.seg > minSegment:
			c.seg /= 2
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return done, retryErr("body cut after %d of %d bytes: %w", done, n, err)
		}
	}
	return done, nil
}

// discard reads and drops n body bytes we did not ask for.
func (c *clientConn) discard(n int64) error {
	_, err := io.CopyN(io.Discard, c.br, n)
	return err
}

// retryAfter reads Retry-After in seconds, bounded to [0, max]; def when
// absent or in the HTTP-date form.
func retryAfter(h fields, def, max time.Duration) time.Duration {
	d := def
	if v, ok := h.get("Retry-After"); ok {
		if n, ok := parseDigits(v); ok && n < 1<<31 {
			d = time.Duration(n) * time.Second
		}
	}
	return min(d, max)
}
