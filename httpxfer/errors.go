package httpxfer

import "errors"

var (
	// ErrMalformed: a request, response or GIV line does not parse.
	ErrMalformed = errors.New("malformed message")
	// ErrHeaderTooLarge: a header block has more than MaxHeaderBytes bytes
	// or MaxHeaderLines lines.
	ErrHeaderTooLarge = errors.New("header block over limit")
	// ErrTruncated: the input ended before a complete GIV.
	ErrTruncated = errors.New("truncated input")
	// ErrHashMismatch: the downloaded bytes do not have the expected SHA-1.
	// A source blamed for bytes its tiger tree refuses wraps it too, but
	// its reason reads as the tree's *thex.MismatchError.
	ErrHashMismatch = errors.New("SHA-1 mismatch")
	// ErrNoSources: the download has no usable source left. The error
	// that wraps it names each source and why it was dropped.
	ErrNoSources = errors.New("no usable source left")
	// ErrBusy: a download of the same file name is already running, in
	// this process or another (which holds the lock on its .part).
	ErrBusy = errors.New("download of this name already running")
	// ErrPushSource: NetDialer was asked to dial a source that needs a Push.
	ErrPushSource = errors.New("source is firewalled, needs a Push")
	// ErrUnreachable: a Dialer's error that wraps it says no try can reach
	// the source (we and it are both firewalled, and nothing relays): the
	// source is dropped at once, not retried.
	ErrUnreachable = errors.New("no way to reach the source")
)

var (
	// ErrOtherDownload: the .part of this name holds committed progress
	// of another file (another urn:sha1 or size); it is left alone.
	ErrOtherDownload = errors.New("the .part holds another download's progress")
	// ErrSlowReader: an upload's client read below MinUploadRate for
	// SlowUploadTime and lost its slot.
	ErrSlowReader = errors.New("client reads too slowly")
)
