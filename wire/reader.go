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
// the payload is read or allocated. ReadHeader hands out the next header
// before its payload is read or decoded, as x/net/http2's Framer does with
// ReadFrameHeader: a caller that drops the descriptor on its header alone (a
// duplicate, a TTL spent) calls ReadHeader again, and the payload is skipped
// without being decoded. ReadPayload decodes the payload of the header last
// handed out; ReadMessage is the two in one.
//
// The *Header and *Message returned and every slice in them stay valid until
// the next call: they are views into the Reader's buffers, which is what
// keeps steady-state reading free of allocations.
//
// A read error from the stream that is not its end (a read deadline passing,
// say) leaves the Reader where it was, in the middle of a header or payload
// if need be: calling the same method again goes on from there. Frame errors
// (ErrFrame) are for good: every later call returns the same error.
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

	// The descriptor in progress, once ReadHeader has decoded its header
	// into msg.Header. A payload that fits br's buffer is read in place:
	// its header stays at the front of win until the payload is consumed.
	// A larger one has its header consumed at once and is copied into big
	// (or discarded, when skipped), got bytes of it so far.
	state   readState
	inPlace bool
	got     int
	err     error // the frame error that ended the stream
}

// readState says where the Reader is in the stream.
type readState uint8

const (
	atHeader   readState = iota // between descriptors
	atPayload                   // a header handed out, its payload unread
	atSkipping                  // skipping a payload that was not wanted
)

// errNoHeader: ReadPayload without a header handed out first.
var errNoHeader = errors.New("ReadPayload without a header from ReadHeader")

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

// ReadMessage reads the next descriptor: ReadHeader, then ReadPayload. After
// a ReadHeader (or a ReadMessage interrupted by a read error) it finishes
// the descriptor in progress instead.
//
// It returns io.EOF when the stream ends cleanly between descriptors. A frame
// error (errors.Is(err, ErrFrame)) means the stream cannot be read further:
// ErrTooLarge for a length over the limit (nothing of the payload has been
// read), ErrTruncated for a stream that ends inside a descriptor. A payload
// that does not parse comes back with its header and raw payload filled in and
// an error wrapping ErrMalformed: the stream is still in step and the caller
// may drop that one message and read on.
func (r *Reader) ReadMessage() (*Message, error) {
	if r.state != atPayload {
		if _, err := r.ReadHeader(); err != nil {
			return nil, err
		}
	}
	return r.ReadPayload()
}

// ReadHeader reads the next descriptor's header and checks its length,
// without reading its payload; the payload of a header handed out before and
// not read is skipped first. It returns io.EOF at a clean end of the stream
// and the frame errors ReadMessage does.
func (r *Reader) ReadHeader() (*Header, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.state != atHeader && !r.skipInPlace() {
		if err := r.skip(); err != nil {
			return nil, err
		}
	}
	if len(r.win) < HeaderLen {
		if err := r.peek(HeaderLen); err != nil {
			if errors.Is(err, io.EOF) {
				if len(r.win) == 0 {
					return nil, io.EOF
				}
				return nil, r.fail(frameError(truncated, "stream ends %d bytes into a header at offset %d", len(r.win), r.n))
			}
			return nil, fmt.Errorf("reading header at offset %d: %w", r.n, err)
		}
	}
	h := &r.msg.Header
	h.decode((*[HeaderLen]byte)(r.win))
	if h.Length > r.maxPayload {
		return nil, r.fail(frameError(tooLarge, "%s payload of %d bytes at offset %d, limit %d", h.Type, h.Length, r.n, r.maxPayload))
	}
	r.state, r.got = atPayload, 0
	r.inPlace = HeaderLen+int(h.Length) <= r.br.Size()
	if !r.inPlace {
		// Too large for the read buffer: the header goes now, the payload
		// is read past it.
		r.release()
		_, _ = r.br.Discard(HeaderLen) // cannot fail: the header was Peeked
		r.n += HeaderLen
	}
	return h, nil
}

// ReadPayload reads and decodes the payload of the header ReadHeader handed
// out. Errors are ReadMessage's.
func (r *Reader) ReadPayload() (*Message, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.state != atPayload {
		return nil, errNoHeader
	}
	h := &r.msg.Header
	var payload []byte
	if r.inPlace {
		total := HeaderLen + int(h.Length)
		if total > len(r.win) {
			// It fits in the read buffer but is not all read yet.
			if err := r.peek(total); err != nil {
				return nil, r.truncated(h, len(r.win)-HeaderLen, err)
			}
		}
		payload = r.win[HeaderLen:total:total]
		r.win = r.win[total:]
		r.used += total
		r.n += int64(total)
	} else {
		if cap(r.big) < int(h.Length) {
			// Bounded by maxPayload, checked in ReadHeader.
			r.big = make([]byte, h.Length)
		}
		payload = r.big[:h.Length]
		n, err := io.ReadFull(r.br, payload[r.got:])
		r.got += n
		r.n += int64(n)
		if err != nil {
			return nil, r.truncated(h, r.got, err)
		}
	}
	r.state = atHeader
	if err := r.msg.decodePayload(payload); err != nil {
		return &r.msg, fmt.Errorf("%s at offset %d: %w", h.Type, r.n-int64(HeaderLen)-int64(h.Length), err)
	}
	return &r.msg, nil
}

// skipInPlace drops the payload of the descriptor in progress if it is all
// in win, and reports whether it did: the common case, small enough to be
// inlined where a duplicate's header is read.
func (r *Reader) skipInPlace() bool {
	total := HeaderLen + int(r.msg.Header.Length)
	if !r.inPlace || r.state != atPayload || total > len(r.win) {
		return false
	}
	r.win = r.win[total:]
	r.used += total
	r.n += int64(total)
	r.state = atHeader
	return true
}

// skip drops the payload of the descriptor in progress unread.
func (r *Reader) skip() error {
	h := &r.msg.Header
	if r.skipInPlace() {
		return nil
	}
	if r.inPlace && r.state == atPayload {
		// Not all here yet: discard what is and read past the rest.
		r.release()
		_, _ = r.br.Discard(HeaderLen) // cannot fail: the header was Peeked
		r.n += HeaderLen
		r.inPlace = false
	}
	r.state = atSkipping
	n, err := r.br.Discard(int(h.Length) - r.got)
	r.got += n
	r.n += int64(n)
	if err != nil {
		return r.truncated(h, r.got, err)
	}
	r.state = atHeader
	return nil
}

// fail records a frame error: the stream is over.
func (r *Reader) fail(err error) error {
	r.err = err
	return err
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

// truncated wraps an error met inside a payload: the end of the stream is a
// frame error, anything else leaves the Reader where it was.
func (r *Reader) truncated(h *Header, got int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return r.fail(frameError(truncated, "%s payload of %d bytes ends after %d at offset %d", h.Type, h.Length, got, r.n))
	}
	return fmt.Errorf("reading %s payload at offset %d: %w", h.Type, r.n, err)
}
