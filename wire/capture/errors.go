package capture

import "errors"

var (
	// ErrFormat: the file is not a capture we can read, or it is corrupt or
	// cut short.
	ErrFormat = errors.New("unreadable capture file")
	// ErrCaptureTooLarge: the capture holds more TCP payload than
	// Options.MaxTotalBytes allows.
	ErrCaptureTooLarge = errors.New("capture over total size limit")
	// ErrStreamTooLarge: one direction of a connection carried more than
	// Options.MaxStreamBytes; only the first MaxStreamBytes were kept.
	ErrStreamTooLarge = errors.New("stream over size limit")
	// ErrGap: the capture is missing bytes of a stream (lost segments); the
	// stream was kept up to the hole.
	ErrGap = errors.New("bytes missing from stream")
	// ErrInflate: a deflate-encoded descriptor stream does not inflate.
	ErrInflate = errors.New("cannot inflate descriptor stream")
	// ErrInflateTooLarge: a deflate-encoded stream inflates past
	// Options.MaxInflatedBytes (a compression bomb).
	ErrInflateTooLarge = errors.New("inflated stream over size limit")
	// ErrAddress: ConnWriter was given an endpoint it cannot write.
	ErrAddress = errors.New("unsupported endpoint address")
)
