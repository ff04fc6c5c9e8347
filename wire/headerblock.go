package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A header block is a start line, "Name: value" lines and an empty line:
// every 0.4 and 0.6 handshake step, and every HTTP request and response
// head (uploads, downloads, GIV answers). One parser reads them all, live
// from a connection (ReadHandshake, ReadHTTPHead) or from bytes at hand
// such as a capture (ParseHandshake), under one set of limits.

// Default header block limits, as deployed servents cap handshakes.
const (
	DefaultHandshakeMaxLines = 128
	DefaultHandshakeMaxBytes = 16 << 10
)

// HandshakeLimits bounds one header block. Zero fields take the defaults.
type HandshakeLimits struct {
	// MaxLines counts the start line, header lines and continuation lines
	// (and for an HTTP head the empty lines before its start line); the
	// closing empty line is not counted.
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

// Handshake is one header block: a 0.4 or 0.6 handshake block (a CONNECT
// or a status line) or an HTTP head (a request or status line), with its
// headers in the order they came.
type Handshake struct {
	StartLine string
	Headers   []HandshakeHeader
}

// ReadHandshake reads one handshake block from r, up to and including its
// closing empty line; bytes after it stay in r (the descriptor stream,
// possibly compressed, follows at once).
//
// It accepts bare LF line ends (deployed servents send them), folds a
// continuation line (one starting with a space or tab) into the previous
// header's value with one space, and keeps repeated headers. A block over
// lim fails with ErrHeaderTooLarge before more than lim.MaxBytes are held,
// however long a line is. A stream that ends inside a block gives an error
// wrapping both ErrTruncated and io.ErrUnexpectedEOF; one that ends before
// the first byte gives an error wrapping io.EOF.
func ReadHandshake(r *bufio.Reader, lim HandshakeLimits) (*Handshake, error) {
	return readBlock(r, newBlockParser(lim, false))
}

// ReadHTTPHead reads an HTTP/1.x request or response head as ReadHandshake
// reads a handshake block, with the same limits and errors, but by RFC
// 9112's rules where they differ: empty lines before the start line are
// skipped (they count against lim), and a folded line or whitespace
// between a field name and its colon is ErrMalformed.
func ReadHTTPHead(r *bufio.Reader, lim HandshakeLimits) (*Handshake, error) {
	return readBlock(r, newBlockParser(lim, true))
}

// ParseHandshake parses the handshake block at the front of b, as
// ReadHandshake would read it, and returns the block's length through its
// empty line. If b holds only part of a block the error wraps ErrTruncated:
// get more and call again.
//
// Made for bytes already at hand (a capture), it reads a block with a
// malformed line to its end: the error wraps ErrMalformed, h holds the lines
// that parsed and n is the whole block, so the caller may step over it.
func ParseHandshake(b []byte, lim HandshakeLimits) (h *Handshake, n int, err error) {
	p := newBlockParser(lim, false)
	window := b[:min(len(b), p.lim.MaxBytes)]
	var bad error
	for {
		i := bytes.IndexByte(window[n:], '\n')
		if i < 0 {
			if len(b) >= p.lim.MaxBytes {
				return nil, 0, fmt.Errorf("%w: handshake block over %d bytes", ErrHeaderTooLarge, p.lim.MaxBytes)
			}
			return nil, 0, fmt.Errorf("%w: handshake block of %d bytes has no empty line: %w", ErrTruncated, len(b), io.ErrUnexpectedEOF)
		}
		line := bytes.TrimSuffix(window[n:n+i], []byte{'\r'})
		n += i + 1
		done, err := p.take(line)
		switch {
		case errors.Is(err, ErrHeaderTooLarge):
			return nil, 0, err
		case err != nil && len(line) == 0: // an empty start line: a block of nothing
			return nil, n, err
		case err != nil && bad == nil:
			bad = err
		}
		if done {
			return p.h, n, bad
		}
	}
}

// blockParser turns the lines of one block into a Handshake, counting them
// against its limits. http selects RFC 9112's rules (see ReadHTTPHead).
type blockParser struct {
	lim     HandshakeLimits
	http    bool
	what    string // "handshake" or "HTTP head", for errors
	h       *Handshake
	started bool // the start line is in
	lines   int
	total   int // bytes read, line ends included
}

func newBlockParser(lim HandshakeLimits, http bool) *blockParser {
	p := &blockParser{lim: lim.withDefaults(), http: http, what: "handshake", h: &Handshake{}}
	if http {
		p.what = "HTTP head"
	}
	return p
}

// readBlock reads lines from r into p up to the closing empty line.
func readBlock(r *bufio.Reader, p *blockParser) (*Handshake, error) {
	var line []byte
	for {
		var err error
		if line, err = p.readLine(r, line[:0]); err != nil {
			return nil, err
		}
		done, err := p.take(line)
		if err != nil && !p.http && p.started && !strings.HasPrefix(p.h.StartLine, "GNUTELLA") && errors.Is(err, ErrMalformed) {
			// Not a handshake at all (an HTTP server's answer, or
			// its bare error page): say what it is.
			return nil, notServent(p.h.StartLine)
		}
		if err != nil {
			return nil, err
		}
		if done {
			return p.h, nil
		}
	}
}

// readLine appends the next line to buf without its LF or CRLF. It holds
// no more than the block's byte limit allows, however long the line.
func (p *blockParser) readLine(r *bufio.Reader, buf []byte) ([]byte, error) {
	line, n, err := ReadLine(r, buf, p.lim.MaxBytes-p.total)
	p.total += n
	switch {
	case err == nil:
		return line, nil
	case errors.Is(err, ErrHeaderTooLarge):
		return nil, fmt.Errorf("%w: %s block over its byte limit", ErrHeaderTooLarge, p.what)
	case errors.Is(err, io.EOF) && p.total == 0:
		// The caller names what it read ("handshake with X"): an
		// I/O failure does not name it again.
		return nil, fmt.Errorf("connection closed before any byte: %w", io.EOF)
	case errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%w: %s block ends before its empty line: %w", ErrTruncated, p.what, io.ErrUnexpectedEOF)
	case errors.Is(err, ErrTruncated):
		return nil, fmt.Errorf("%w: %s block: %w", ErrTruncated, p.what, io.ErrUnexpectedEOF)
	default:
		return nil, err
	}
}

// take adds one line, without its line end, to the block; done when it was
// the closing empty line.
func (p *blockParser) take(line []byte) (done bool, err error) {
	if len(line) == 0 {
		switch {
		case p.started:
			return true, nil
		case !p.http:
			return false, fmt.Errorf("%w: %s: empty start line", ErrMalformed, p.what)
		}
		// RFC 9112 2.2: empty lines before a request line are ignored.
	}
	p.lines++
	if p.lines > p.lim.MaxLines {
		return false, fmt.Errorf("%w: %s: more than %d lines", ErrHeaderTooLarge, p.what, p.lim.MaxLines)
	}
	switch {
	case len(line) == 0:
		return false, nil
	case !p.started:
		p.h.StartLine, p.started = string(line), true
		return false, nil
	case line[0] == ' ' || line[0] == '\t':
		return false, p.fold(line)
	}
	name, value, ok := bytes.Cut(line, []byte{':'})
	if !p.http {
		// A space before the colon is a handshake's harmless slip.
		name = bytes.TrimSpace(name)
	}
	if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
		return false, fmt.Errorf("%w: %s: bad header line %q", ErrMalformed, p.what, truncateForError(line))
	}
	p.h.Headers = append(p.h.Headers, HandshakeHeader{Name: string(name), Value: string(bytes.TrimSpace(value))})
	return false, nil
}

// fold appends a continuation line to the previous header's value, with
// one space; RFC 9112 5.2 lets an HTTP recipient refuse it instead.
func (p *blockParser) fold(line []byte) error {
	if p.http {
		return fmt.Errorf("%w: %s: folded header line", ErrMalformed, p.what)
	}
	if len(p.h.Headers) == 0 {
		return fmt.Errorf("%w: %s: continuation line before any header", ErrMalformed, p.what)
	}
	last := &p.h.Headers[len(p.h.Headers)-1]
	if more := bytes.TrimSpace(line); len(more) > 0 {
		if last.Value == "" {
			last.Value = string(more)
		} else {
			last.Value += " " + string(more)
		}
	}
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
// has "deflate", "Connection: keep-alive, TE" has "keep-alive".
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
