package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Status-line protocols, as prefixes for ParseStatusLine: the version
// follows ("0.6", "1" of HTTP/1.1).
const (
	StatusGnutella = protoPrefix // "GNUTELLA/": a 0.6 handshake answer
	StatusHTTP1    = "HTTP/1."   // an HTTP/1.x response
)

// Bounds on a status line, which comes from the other side.
const (
	// MaxStatusLine is the longest status line ParseStatusLine takes.
	// Deployed servents and HTTP servers send a few dozen bytes; more
	// than this is junk, not a longer reason.
	MaxStatusLine = 1024
	// MaxStatusReason clips the reason phrase ParseStatusLine returns.
	MaxStatusReason = 256
)

// ParseStatusLine splits a status line such as "GNUTELLA/0.6 503 Full" or
// "HTTP/1.1 206 Partial Content" into its protocol, three-digit code (100
// to 999) and reason. The protocol must start with one of protos
// (StatusGnutella, StatusHTTP1) followed by a version of digits and dots;
// one space, the code, and the reason after one more space, or nothing.
// The reason is trimmed of spaces and clipped to MaxStatusReason bytes (at
// a rune boundary); it is the peer's text, to be quoted before display.
// A line over MaxStatusLine bytes is refused unread. Errors wrap
// ErrMalformed.
func ParseStatusLine(line string, protos ...string) (proto string, code int, reason string, err error) {
	if len(line) > MaxStatusLine {
		return "", 0, "", fmt.Errorf("%w: status line of %d bytes, over %d", ErrMalformed, len(line), MaxStatusLine)
	}
	proto, rest, _ := strings.Cut(line, " ")
	if !knownProto(proto, protos) {
		return "", 0, "", fmt.Errorf("%w: not a status line: %q", ErrMalformed, truncateForError([]byte(line)))
	}
	digits, reason, _ := strings.Cut(rest, " ")
	if len(digits) != 3 || digits[0] < '1' || digits[0] > '9' || !isDigits(digits) {
		return "", 0, "", fmt.Errorf("%w: bad status code in %q", ErrMalformed, truncateForError([]byte(line)))
	}
	code = int(digits[0]-'0')*100 + int(digits[1]-'0')*10 + int(digits[2]-'0')
	return proto, code, clipReason(strings.TrimSpace(reason)), nil
}

// knownProto reports whether proto is one of protos with a version of
// digits and dots after it.
func knownProto(proto string, protos []string) bool {
	for _, p := range protos {
		if v, ok := strings.CutPrefix(proto, p); ok && v != "" && strings.Trim(v, "0123456789.") == "" {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clipReason cuts s to MaxStatusReason bytes, not inside a rune.
func clipReason(s string) string {
	if len(s) <= MaxStatusReason {
		return s
	}
	i := MaxStatusReason
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// ReadLine appends the next line from r to buf, without its LF or CRLF,
// holding at most max bytes of it (line end included) however long the
// line is. It returns the line and the bytes it took from r. Errors: over
// max, ErrHeaderTooLarge; the stream ends inside the line, one wrapping
// ErrTruncated and io.ErrUnexpectedEOF; before its first byte, io.EOF
// itself; any other read error as it came.
//
// It is the header-block parser's line reader, for callers that want one
// line and not a block (a status line with a body of unknown form after it).
func ReadLine(r *bufio.Reader, buf []byte, max int) (line []byte, n int, err error) {
	for {
		frag, err := r.ReadSlice('\n')
		n += len(frag)
		if n > max {
			return nil, n, fmt.Errorf("%w: line over %d bytes", ErrHeaderTooLarge, max)
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
		case errors.Is(err, io.EOF) && n == 0:
			return nil, 0, io.EOF
		case errors.Is(err, io.EOF):
			return nil, n, fmt.Errorf("%w: line cut short: %w", ErrTruncated, io.ErrUnexpectedEOF)
		default:
			return nil, n, err
		}
	}
}
