package control

import (
	"fmt"
	"strconv"
)

// Errors of the queue, mapped to HTTP statuses by the server. Each reads
// "control: " and what it is; one about a download (queueError) adds
// which. The control API says them without the package's name (apiText),
// and the client puts its own "control: METHOD PATH: STATUS:" before the
// daemon's words: the package is named once on either side, by
// construction rather than by trimming text.
var (
	ErrNotFound  error = &queueKind{"no such download"}
	ErrQueueFull error = &queueKind{"download queue full"}
	ErrBadState  error = &queueKind{"download not in a state for that"}
)

type queueKind struct{ what string }

func (k *queueKind) Error() string { return "control: " + k.what }

// queueError is a refusal of one kind about one download.
type queueError struct {
	kind  error  // one of the Err values above, a *queueKind
	about string // with the separator it follows: ` "ID"`, ": ID is paused"
}

func (e *queueError) Error() string { return e.kind.Error() + e.about }
func (e *queueError) Unwrap() error { return e.kind }

// notFound: `control: no such download "ID"`.
func notFound(id string) error { return &queueError{ErrNotFound, " " + strconv.Quote(id)} }

// refused: "control: KIND: " and the words of format.
func refused(kind error, format string, args ...any) error {
	return &queueError{kind, ": " + fmt.Sprintf(format, args...)}
}

// inState: download id is in a state the verb does not act on.
func inState(id, state string) error { return refused(ErrBadState, "%s is %s", id, state) }

// apiText is err as the control API says it: the queue's errors without
// the package's name, any other as it reads.
func apiText(err error) string {
	switch e := err.(type) {
	case *queueKind:
		return e.what
	case *queueError:
		return apiText(e.kind) + e.about
	}
	return err.Error()
}
