package linkzip

import (
	"bufio"
	"bytes"
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
	ErrBomb = errors.New("compression bomb")
	// ErrCorrupt: the stream is not valid zlib/deflate, or it stopped in the
	// middle of a block. Connection-fatal.
	ErrCorrupt = errors.New("corrupt deflate stream")
	// ErrInterrupted: a deadline (or another timeout) of the underlying
	// reader struck inside a segment larger than the read buffer, which
	// inflate cannot resume. Connection-fatal.
	ErrInterrupted = errors.New("deadline inside a deflate segment")
	// ErrTooLarge: the stream inflates past ReaderConfig.MaxOutput.
	ErrTooLarge = errors.New("inflated stream over its bound")
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
	// MaxDeflateRatio is more than any deflate stream inflates per byte
	// (1032:1 at best): as a MaxRatio it lets every stream through, for a
	// caller whose output bound is the whole guard.
	MaxDeflateRatio = 2048
)

// ReaderConfig tunes a Reader. Zero fields take the defaults.
type ReaderConfig struct {
	// MaxRatio is the most inflated bytes per compressed byte allowed over
	// one window.
	MaxRatio int64
	// Window is how many inflated bytes make one window.
	Window int64
	// MaxOutput bounds what the whole stream may inflate to: past it Read
	// fails with ErrTooLarge. Zero means no bound, as on a link, whose
	// stream never ends and whose framed reader bounds each descriptor; a
	// caller inflating one value (a QRP patch, a GGEP value, a captured
	// stream) sets the most it accepts.
	MaxOutput int64
}

// source remembers the last error of the underlying reader, so Read can
// tell a peer that closed or failed from a stream that is corrupt.
type source struct {
	r   io.Reader
	err error
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.err = err
	return n, err
}

// meter counts the compressed bytes inflate actually consumes (not what the
// buffer read ahead) and keeps the last four, to recognise a stream that
// stopped right after a sync flush. It is an io.ByteReader, so flate reads
// through it without adding a buffer of its own: what inflate has not
// consumed is exactly what br holds.
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

// readBufferSize is how many compressed bytes are read ahead, and so the
// largest sync-flushed segment a deadline cannot spoil (see Reader).
// gtk-gnutella flushes every 4 KiB of input, which deflates to less.
const readBufferSize = 8 << 10

// syncMarker is the LEN/NLEN of the empty stored block a sync flush ends with.
const syncMarker = 0x0000ffff

var syncFlush = []byte{0x00, 0x00, 0xff, 0xff}

// inflated holds what one call into compress/flate produced. flate hands
// out at most its 32 KiB window per call, so one byte more tells for sure
// that nothing is left inside it: then the next call will read input.
type inflated [1<<15 + 1]byte

// freeInflated are the buffers no Reader holds: a Reader takes one only
// while it keeps bytes the caller has not read yet, so idle links hold
// none. A plain free list, not a sync.Pool, so that the memory it keeps is
// bounded and does not depend on the collector.
var freeInflated = make(chan *inflated, 64)

func getInflated() *inflated {
	select {
	case b := <-freeInflated:
		return b
	default:
		return new(inflated)
	}
}

func putInflated(b *inflated) {
	select {
	case freeInflated <- b:
	default:
	}
}

// Reader inflates one direction of a connection. It returns data as soon as
// the peer's sync flush arrives, without waiting for more input, and guards
// against compression bombs by ratio: once Window bytes came out, they must
// have taken at least Window/MaxRatio compressed bytes, or Read fails with
// ErrBomb. Bounding a single descriptor's length is the framed reader's job;
// this guard bounds the work a peer can make us do per byte it sends.
//
// Deadlines: compress/flate keeps the first error its input gives it, so a
// read deadline that struck inside inflate would end the stream. Read
// therefore inflates only once the next sync-flushed segment has arrived
// whole (or filled the read buffer), and an error of the underlying reader
// while it waits (a deadline on an idle link, or on a segment whose rest is
// still on its way) comes back as it is, with the Reader still usable:
// set a new deadline and read on. Only a segment larger than
// readBufferSize that stalls past a deadline, which needs a peer that
// flushes far less often than gtk-gnutella or Govent under load, fails for
// good, with ErrInterrupted.
//
// A peer that closes the connection right after a sync flush (Gnutella
// streams are never finished) reads as io.EOF; one that stops mid-block is
// ErrCorrupt.
//
// Not safe for concurrent use: it belongs to the connection's reader
// goroutine.
type Reader struct {
	src       source
	in        meter
	zr        io.ReadCloser // created once the zlib header arrived
	resetZR   bool          // zr is left from the stream before a Reset
	out       *inflated     // holds unread inflated bytes, or nil
	unread    []byte        // the unread part of out
	maxRatio  int64
	window    int64
	maxOutput int64
	plain     uint64 // handed out
	inflated  int64  // inflated in all
	winIn     int64  // compressed bytes consumed when the current window began
	winOut    int64  // inflated bytes in the current window
	finished  bool   // the stream's final block and checksum came
	err       error  // sticky: inflate cannot go on
}

// NewReader returns a Reader inflating from r. It reads nothing until the
// first Read.
func NewReader(r io.Reader, cfg ReaderConfig) *Reader {
	zr := &Reader{}
	zr.in.br = bufio.NewReaderSize(&zr.src, readBufferSize)
	zr.Reset(r, cfg)
	return zr
}

// Reset makes r inflate a new stream from src under cfg, keeping its
// buffers and inflate state: a pool of Readers serves many short streams
// (QRP patches, each with its own bound) without allocating for each.
func (r *Reader) Reset(src io.Reader, cfg ReaderConfig) {
	if cfg.MaxRatio <= 0 {
		cfg.MaxRatio = DefaultMaxRatio
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if r.out != nil {
		putInflated(r.out)
	}
	*r = Reader{
		src: source{r: src}, in: meter{br: r.in.br}, zr: r.zr, resetZR: r.zr != nil,
		maxRatio: cfg.MaxRatio, window: cfg.Window, maxOutput: cfg.MaxOutput,
	}
	r.in.br.Reset(&r.src)
}

// Finished reports whether the stream ended with its final block and a
// good checksum, as a zlib value must; a link's stream, which only ever
// stops after a sync flush, never does.
func (r *Reader) Finished() bool { return r.finished }

// Read inflates into p. See Reader for the errors.
func (r *Reader) Read(p []byte) (int, error) {
	if len(r.unread) > 0 {
		return r.copyOut(p), nil
	}
	if r.err != nil {
		return 0, r.err
	}
	if err := r.awaitSegment(); err != nil {
		return 0, err
	}
	switch {
	case r.zr == nil:
		zr, err := zlib.NewReader(&r.in)
		if err != nil {
			r.err = r.classify(err)
			return 0, r.err
		}
		r.zr = zr
	case r.resetZR:
		r.resetZR = false
		if err := r.zr.(zlib.Resetter).Reset(&r.in, nil); err != nil {
			r.err = r.classify(err)
			return 0, r.err
		}
	}
	out := getInflated()
	n, err := r.zr.Read(out[:])
	r.inflated += int64(n)
	if r.maxOutput > 0 && r.inflated > r.maxOutput {
		// Hand out what fits; the error comes after it.
		n -= int(r.inflated - r.maxOutput)
		err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, r.maxOutput)
	}
	r.winOut += int64(n)
	if r.winOut >= r.window {
		if r.winOut > r.maxRatio*(r.in.n-r.winIn) {
			putInflated(out)
			r.err = fmt.Errorf("%w: %d bytes inflated from %d", ErrBomb, r.winOut, r.in.n-r.winIn)
			return 0, r.err
		}
		r.winIn, r.winOut = r.in.n, 0
	}
	switch {
	case errors.Is(err, ErrTooLarge):
		r.err = err
	case err != nil:
		r.finished = err == io.EOF // zlib's EOF comes after the checksum
		r.err = r.classify(err)
	}
	r.out, r.unread = out, out[:n]
	k := r.copyOut(p)
	if len(r.unread) > 0 {
		// The error, if any, comes once what was inflated is read.
		return k, nil
	}
	return k, r.err
}

// copyOut hands out inflated bytes, and the buffer back once all are read.
func (r *Reader) copyOut(p []byte) int {
	n := copy(p, r.unread)
	r.unread = r.unread[n:]
	r.plain += uint64(n)
	if len(r.unread) == 0 && r.out != nil {
		putInflated(r.out)
		r.out, r.unread = nil, nil
	}
	return n
}

// awaitSegment reads ahead until inflate can run without asking for input
// that has not arrived: the zlib header, then a whole segment up to its
// sync flush, or a full read buffer. Nothing is consumed, so an error here
// leaves the Reader as it was; the end of the input is left for inflate to
// judge (a clean end after a flush, or a cut mid-block).
func (r *Reader) awaitSegment() error {
	br := r.in.br
	need := 1
	if r.zr == nil {
		need = 2
	}
	for {
		buffered := br.Buffered()
		if buffered == br.Size() {
			return nil
		}
		if buffered >= need {
			ahead, _ := br.Peek(buffered) // cannot fail: already buffered
			if bytes.Contains(ahead, syncFlush) {
				return nil
			}
		}
		if _, err := br.Peek(buffered + 1); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// classify turns an error from compress/zlib into what the connection needs
// to know: the peer closed (io.EOF), the socket failed (its own error), a
// deadline struck inside inflate (ErrInterrupted), or the stream is bad
// (ErrCorrupt).
func (r *Reader) classify(err error) error {
	src := r.src.err
	switch {
	case err == io.EOF:
		return io.EOF // a finished stream, adler32 checked
	case src != nil && src != io.EOF && errors.Is(err, src):
		if isTimeout(src) {
			// Inflate keeps it: not the recoverable timeout it looks like.
			return fmt.Errorf("%w: %v", ErrInterrupted, src)
		}
		return src
	case errors.Is(err, io.ErrUnexpectedEOF) && src == io.EOF:
		if r.in.n == 0 || r.in.last4 == syncMarker {
			return io.EOF
		}
		return fmt.Errorf("%w: stream cut mid-block: %w", ErrCorrupt, io.ErrUnexpectedEOF)
	default:
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
}

// isTimeout reports whether err is a deadline (net.Error timeouts and
// os.ErrDeadlineExceeded alike).
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// Stats returns the byte counts so far: Compressed counts what inflate
// consumed, not what was read ahead.
func (r *Reader) Stats() Stats {
	return Stats{Plain: r.plain, Compressed: uint64(r.in.n)}
}
