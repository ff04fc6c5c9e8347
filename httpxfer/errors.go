package httpxfer

import "errors"

var (
	// ErrMalformed: a request, response or GIV line does not parse.
	ErrMalformed = errors.New("httpxfer: malformed message")
	// ErrHeaderTooLarge: a header block has more than MaxHeaderBytes bytes
	// or MaxHeaderLines lines.
	ErrHeaderTooLarge = errors.New("httpxfer: header block over limit")
	// ErrTruncated: the input ended before a complete GIV.
	ErrTruncated = errors.New("httpxfer: truncated input")
	// ErrHashMismatch: the downloaded bytes do not have the expected SHA-1.
	ErrHashMismatch = errors.New("httpxfer: SHA-1 mismatch")
	// ErrNoSources: the download has no usable source left. The error
	// that wraps it names each source and why it was dropped.
	ErrNoSources = errors.New("httpxfer: no usable source left")
	// ErrBusy: a download of the same file name is already running, in
	// this process or another (which holds the lock on its .part).
	ErrBusy = errors.New("httpxfer: download of this name already running")
	// ErrPushSource: NetDialer was asked to dial a source that needs a Push.
	ErrPushSource = errors.New("httpxfer: source is firewalled, needs a Push")
	// ErrUnreachable: a Dialer's error that wraps it says no try can reach
	// the source (we and it are both firewalled, and nothing relays): the
	// source is dropped at once, not retried.
	ErrUnreachable = errors.New("httpxfer: no way to reach the source")
)

var (
	// ErrOtherDownload: the .part of this name holds committed progress
	// of another file (another urn:sha1 or size); it is left alone.
	ErrOtherDownload = errors.New("httpxfer: the .part holds another download's progress")
	// ErrSlowReader: an upload's client read below MinUploadRate for
	// SlowUploadTime and lost its slot.
	ErrSlowReader = errors.New("httpxfer: client reads too slowly")
)
