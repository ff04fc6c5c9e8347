package linkzip

import (
	"bufio"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
)

// Errors from Reader.Read. Errors from the underlying reader (a reset, a
// deadline) come back unwrapped, so the connection can tell them apart.
var (
	// ErrBomb: the stream inflates at an absurd ratio (a compression bomb).
	// Connection-fatal.
	ErrBomb = errors.New("linkzip: compression bomb")
	// ErrCorrupt: the stream is not valid zlib/deflate, or it stopped in the
	// middle of a block. Connection-fatal.
	ErrCorrupt = errors.New("linkzip: corrupt deflate stream")
)

// Defaults for a zero ReaderConfig.
const (
	// DefaultMaxRatio is the inflation ratio past which a window of output
	// is a bomb. Deflate cannot exceed about 1032:1, so a limit of 1000
	// would only catch perfect runs of one byte; real Gnutella traffic
	// compresses 2:1 to 3:1 and even a table of zeros mixed into a megabyte
	// of traffic stays far below 100:1.
	DefaultMaxRatio = 100
	// DefaultWindow is the inflated output over which the ratio is judged.
	DefaultWindow = 1 << 20
)

// ReaderConfig tunes a Reader. Zero fields take the defaults.
type ReaderConfig struct {
	// MaxRatio is the most inflated bytes per compressed byte allowed over
	// one window.
	MaxRatio int64
	// Window is how many inflated bytes make one window.
	Window int64
}

// source remembers the first error of the underlying reader, so Read can
// tell a peer that closed or failed from a stream that is corrupt.
type source struct {
	r   io.Reader
	err error
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && s.err == nil {
		s.err = err
	}
	return n, err
}

// meter counts the compressed bytes inflate actually consumes (not what the
// buffer read ahead) and keeps the last four, to recognise a stream that
// stopped right after a sync flush. It is an io.ByteReader, so flate reads
// through it without adding a buffer of its own.
type meter struct {
	br    *bufio.Reader
	n     int64
	last4 uint32
}

func (m *meter) ReadByte() (byte, error) {
	b, err := m.br.ReadByte()
	if err == nil {
		m.n++
		m.last4 = m.last4<<8 | uint32(b)
	}
	return b, err
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.br.Read(p)
	m.n += int64(n)
	for _, b := range p[max(0, n-4):n] {
		m.last4 = m.last4<<8 | uint32(b)
	}
	return n, err
}

// syncMarker is the LEN/NLEN of the empty stored block a sync flush ends with.
const syncMarker = 0x0000ffff

// Reader inflates one direction of a connection. It returns data as soon as
// the peer's sync flush arrives, without waiting for more input, and guards
// against compression bombs by ratio: once Window bytes came out, they must
// have taken at least Window/MaxRatio compressed bytes, or Read fails with
// ErrBomb. Bounding a single descriptor's length is the framed reader's job;
// this guard bounds the work a peer can make us do per byte it sends.
//
// A peer that closes the connection right after a sync flush (Gnutella
// streams are never finished) reads as io.EOF; one that stops mid-block is
// ErrCorrupt.
//
// Not safe for concurrent use: it belongs to the connection's reader
// goroutine.
type Reader struct {
	src      source
	in       meter
	zr       io.ReadCloser // created at the first Read: zlib reads its header at once
	maxRatio int64
	window   int64
	plain    uint64
	winIn    int64 // compressed bytes consumed when the current window began
	winOut   int64 // inflated bytes in the current window
	err      error // sticky
}

// NewReader returns a Reader inflating from r. It reads nothing until the
// first Read.
func NewReader(r io.Reader, cfg ReaderConfig) *Reader {
	if cfg.MaxRatio <= 0 {
		cfg.MaxRatio = DefaultMaxRatio
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	zr := &Reader{src: source{r: r}, maxRatio: cfg.MaxRatio, window: cfg.Window}
	zr.in.br = bufio.NewReader(&zr.src)
	return zr
}

// Read inflates into p. See Reader for the errors.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.zr == nil {
		zr, err := zlib.NewReader(&r.in)
		if err != nil {
			r.err = r.classify(err)
			return 0, r.err
		}
		r.zr = zr
	}
	n, err := r.zr.Read(p)
	r.plain += uint64(n)
	r.winOut += int64(n)
	if r.winOut >= r.window {
		if r.winOut > r.maxRatio*(r.in.n-r.winIn) {
			r.err = fmt.Errorf("%w: %d bytes inflated from %d", ErrBomb, r.winOut, r.in.n-r.winIn)
			return 0, r.err
		}
		r.winIn, r.winOut = r.in.n, 0
	}
	if err != nil {
		r.err = r.classify(err)
	}
	return n, r.err
}

// classify turns an error from compress/zlib into what the connection needs
// to know: the peer closed (io.EOF), the socket failed (its own error), or
// the stream is bad (ErrCorrupt).
func (r *Reader) classify(err error) error {
	switch {
	case err == io.EOF:
		return io.EOF // a finished stream, adler32 checked
	case r.src.err != nil && r.src.err != io.EOF && errors.Is(err, r.src.err):
		return r.src.err
	case errors.Is(err, io.ErrUnexpectedEOF) && r.src.err == io.EOF:
		if r.in.n == 0 || r.in.last4 == syncMarker {
			return io.EOF
		}
		return fmt.Errorf("%w: stream cut mid-block: %w", ErrCorrupt, io.ErrUnexpectedEOF)
	default:
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
}

// Stats returns the byte counts so far: Compressed counts what inflate
// consumed, not what was read ahead.
func (r *Reader) Stats() Stats {
	return Stats{Plain: r.plain, Compressed: uint64(r.in.n)}
}
