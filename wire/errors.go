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
	ErrFrame = errors.New("broken descriptor frame")
	// ErrMalformed marks a payload (or block) that does not parse.
	ErrMalformed = errors.New("malformed payload")

	// ErrTooLarge: a payload length in a header is over the reader's limit.
	ErrTooLarge error = tooLarge
	// ErrTruncated: the input ended before a complete header or payload.
	ErrTruncated error = truncated
	// ErrHeaderTooLarge: a header block (a handshake block or an HTTP head)
	// has too many lines or bytes.
	ErrHeaderTooLarge = errors.New("header block over limit")
)

// frameKind is a kind of frame error (ErrTruncated, ErrTooLarge).
type frameKind struct{ what string }

func (k *frameKind) Error() string { return k.what }

var (
	tooLarge  = &frameKind{"payload length over limit"}
	truncated = &frameKind{"truncated input"}
)

// frameError is a frame error of one kind: errors.Is holds for both
// ErrFrame and kind, and its text says both once: "broken descriptor
// frame: truncated input: ...".
func frameError(kind *frameKind, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

type kindError struct {
	kind *frameKind
	msg  string
}

func (e *kindError) Error() string {
	return ErrFrame.Error() + ": " + e.kind.what + ": " + e.msg
}

func (e *kindError) Unwrap() []error { return []error{ErrFrame, e.kind} }

// ErrNotServent marks a handshake answered by something other than a
// Gnutella servent: an HTTP server's status line, or any start line that
// is not Gnutella's. The error names what was found ("\"HTTP/1.1 404 Not
// Found\": an HTTP server, not a Gnutella servent");
// errors.Is(err, ErrMalformed) still holds.
var ErrNotServent error = notServentError{}

type notServentError struct{}

func (notServentError) Error() string { return "not a Gnutella servent" }
func (notServentError) Unwrap() error { return ErrMalformed }

// notServent is ErrNotServent for a block that starts with start.
func notServent(start string) error {
	if strings.HasPrefix(start, "HTTP/") {
		return fmt.Errorf("%q: an HTTP server, %w", truncateForError([]byte(start)), ErrNotServent)
	}
	return fmt.Errorf("%q: %w", truncateForError([]byte(start)), ErrNotServent)
}

// ErrMagnet marks a magnet link that does not parse. Its text is for a
// user who typed the link ("magnet link: ..."), not the protocol's
// "malformed payload"; errors.Is(err, ErrMalformed) still holds.
var ErrMagnet error = magnetError{}

type magnetError struct{}

func (magnetError) Error() string { return "magnet link" }
func (magnetError) Unwrap() error { return ErrMalformed }
