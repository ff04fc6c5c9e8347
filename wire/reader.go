package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxPayload is the payload limit of a Reader made without one:
// LimeWire and Phex close connections above 64 KiB.
const DefaultMaxPayload = 65536

// DefaultReadBuffer is the Reader's buffer size. Payloads that fit in it are
// decoded in place; larger ones are copied into a second, reused buffer. It is
// kept small because a servent holds thousands of idle connections.
const DefaultReadBuffer = 4096

// Reader reads descriptors from a stream (the bytes after a handshake, after
// inflation if the link is compressed).
//
// The length in each header is checked against the limit before anything of
// the payload is read or allocated. The *Message returned by ReadMessage and
// every slice in it stay valid until the next call: they are views into the
// Reader's buffers, which is what keeps steady-state reading free of
// allocations.
type Reader struct {
	br *bufio.Reader
	// win is the part of br's buffer already Peeked and not yet returned;
	// used counts the bytes returned from it and not yet Discarded. A
	// descriptor wholly inside win is sliced off it with no call into br,
	// which would cost as much as decoding a small descriptor; br is only
	// asked again, and told what was used, when win runs short.
	win        []byte
	used       int
	maxPayload uint32
	big        []byte // payloads too large for br's buffer
	msg        Message
	n          int64 // bytes consumed, for error context
}

// NewReader returns a Reader with the given payload limit (0 means
// DefaultMaxPayload) and the default buffer size.
func NewReader(r io.Reader, maxPayload uint32) *Reader {
	return NewReaderSize(r, maxPayload, DefaultReadBuffer)
}

// NewReaderSize is NewReader with a chosen buffer size (at least HeaderLen).
func NewReaderSize(r io.Reader, maxPayload uint32, bufSize int) *Reader {
	if maxPayload == 0 {
		maxPayload = DefaultMaxPayload
	}
	if bufSize < HeaderLen {
		bufSize = HeaderLen
	}
	return &Reader{br: bufio.NewReaderSize(r, bufSize), maxPayload: maxPayload}
}

// Buffered returns the bytes read from the stream but not yet returned as
// descriptors (for handing a stream over, e.g. when the link turns compressed).
func (r *Reader) Buffered() int { return r.br.Buffered() - r.used }

// Offset returns how many bytes of the stream the Reader has consumed.
func (r *Reader) Offset() int64 { return r.n }

// ReadMessage reads the next descriptor.
//
// It returns io.EOF when the stream ends cleanly between descriptors. A frame
// error (errors.Is(err, ErrFrame)) means the stream cannot be read further:
// ErrTooLarge for a length over the limit (nothing of the payload has been
// read), ErrTruncated for a stream that ends inside a descriptor. A payload
// that does not parse comes back with its header and raw payload filled in and
// an error wrapping ErrMalformed: the stream is still in step and the caller
// may drop that one message and read on.
func (r *Reader) ReadMessage() (*Message, error) {
	if len(r.win) < HeaderLen {
		if err := r.peek(HeaderLen); err != nil {
			if errors.Is(err, io.EOF) {
				if len(r.win) == 0 {
					return nil, io.EOF
				}
				return nil, fmt.Errorf("%w: %w: stream ends %d bytes into a header at offset %d", ErrFrame, ErrTruncated, len(r.win), r.n)
			}
			return nil, fmt.Errorf("wire: reading header at offset %d: %w", r.n, err)
		}
	}
	h := &r.msg.Header
	h.decode((*[HeaderLen]byte)(r.win))
	if h.Length > r.maxPayload {
		return nil, fmt.Errorf("%w: %w: %s payload of %d bytes at offset %d, limit %d", ErrFrame, ErrTooLarge, h.Type, h.Length, r.n, r.maxPayload)
	}
	total := HeaderLen + int(h.Length)
	if total > len(r.win) && total <= r.br.Size() {
		// The descriptor fits in the read buffer but is not all read yet.
		if err := r.peek(total); err != nil {
			return nil, r.truncated(h, len(r.win)-HeaderLen, err)
		}
	}
	var payload []byte
	if total <= len(r.win) {
		// Decode in place.
		payload = r.win[HeaderLen:total:total]
		r.win = r.win[total:]
		r.used += total
	} else {
		// Too large for the read buffer: copy it into big.
		r.release()
		_, _ = r.br.Discard(HeaderLen) // cannot fail: the header was Peeked
		if cap(r.big) < int(h.Length) {
			// Bounded by maxPayload, checked above.
			r.big = make([]byte, h.Length)
		}
		payload = r.big[:h.Length]
		if n, err := io.ReadFull(r.br, payload); err != nil {
			r.n += int64(HeaderLen + n)
			return nil, r.truncated(h, n, err)
		}
	}
	r.n += int64(total)
	if err := r.msg.decodePayload(payload); err != nil {
		return &r.msg, fmt.Errorf("%s at offset %d: %w", h.Type, r.n-int64(total), err)
	}
	return &r.msg, nil
}

// release Discards the bytes returned from win and empties it.
func (r *Reader) release() {
	_, _ = r.br.Discard(r.used) // cannot fail: they were Peeked
	r.used, r.win = 0, nil
}

// peek releases win and Peeks at it anew, holding at least n bytes (n at
// most br's size) and all that br has buffered. On error win holds what
// there is.
func (r *Reader) peek(n int) error {
	r.release()
	d, err := r.br.Peek(n)
	if err != nil {
		r.win = d
		return err
	}
	// Cannot fail: Peeking no more than is buffered reads nothing.
	r.win, _ = r.br.Peek(r.br.Buffered())
	return nil
}

func (r *Reader) truncated(h *Header, got int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w: %s payload of %d bytes ends after %d at offset %d", ErrFrame, ErrTruncated, h.Type, h.Length, got, r.n)
	}
	return fmt.Errorf("wire: reading %s payload at offset %d: %w", h.Type, r.n, err)
}
