package wire

import (
	"errors"
	"fmt"
	"strings"
)

// Errors come in two classes, told apart with errors.Is:
//
//   - ErrFrame: the descriptor stream itself is broken (a payload length over
//     the limit, a stream that ends mid-descriptor). The connection cannot go
//     on: the caller should send a Bye 4xx and close.
//   - ErrMalformed: one payload does not parse. The frame around it was
//     sound, so the caller may drop that message, count it, and go on.
//
// The specific errors below wrap one of the two classes where that makes
// sense, so errors.Is(err, ErrTooLarge) and errors.Is(err, ErrFrame) both
// hold for an over-limit length.
var (
	// ErrFrame marks connection-fatal framing errors.
	ErrFrame = errors.New("wire: broken descriptor frame")
	// ErrMalformed marks a payload (or block) that does not parse.
	ErrMalformed = errors.New("wire: malformed payload")

	// ErrTooLarge: a payload length in a header is over the reader's limit.
	ErrTooLarge = errors.New("wire: payload length over limit")
	// ErrTruncated: the input ended before a complete header or payload.
	ErrTruncated = errors.New("wire: truncated input")
	// ErrHeaderTooLarge: a header block (a handshake block or an HTTP head)
	// has too many lines or bytes.
	ErrHeaderTooLarge = errors.New("wire: header block over limit")
)

// frameError is a frame error of one kind (ErrTruncated, ErrTooLarge):
// errors.Is holds for both ErrFrame and kind, and its text says "wire:"
// once: "wire: broken descriptor frame: truncated input: ...".
func frameError(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string {
	return ErrFrame.Error() + ": " + strings.TrimPrefix(e.kind.Error(), "wire: ") + ": " + e.msg
}

func (e *kindError) Unwrap() []error { return []error{ErrFrame, e.kind} }

// ErrNotServent marks a handshake answered by something other than a
// Gnutella servent: an HTTP server's status line, or any start line that
// is not Gnutella's. The error names what was found ("wire: \"HTTP/1.1
// 404 Not Found\": an HTTP server, not a Gnutella servent");
// errors.Is(err, ErrMalformed) still holds.
var ErrNotServent error = notServentError{}

type notServentError struct{}

func (notServentError) Error() string { return "not a Gnutella servent" }
func (notServentError) Unwrap() error { return ErrMalformed }

// notServent is ErrNotServent for a block that starts with start.
func notServent(start string) error {
	if strings.HasPrefix(start, "HTTP/") {
		return fmt.Errorf("wire: %q: an HTTP server, %w", truncateForError([]byte(start)), ErrNotServent)
	}
	return fmt.Errorf("wire: %q: %w", truncateForError([]byte(start)), ErrNotServent)
}

// ErrMagnet marks a magnet link that does not parse. Its text is for a
// user who typed the link ("magnet link: ..."), not the protocol's
// "malformed payload"; errors.Is(err, ErrMalformed) still holds.
var ErrMagnet error = magnetError{}

type magnetError struct{}

func (magnetError) Error() string { return "magnet link" }
func (magnetError) Unwrap() error { return ErrMalformed }
