package linkzip

import (
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"time"
)

// Defaults for a zero WriterConfig.
const (
	// DefaultLevel is zlib's default (6). gtk-gnutella's compression notes
	// found it the best trade: higher levels gain a few percent for about
	// twice the CPU. Lower levels save no memory in Go (see the package
	// comment); level 1 even costs more.
	DefaultLevel = zlib.DefaultCompression
	// DefaultMaxDelay is the longest compressed data may wait for its sync
	// flush, from gtk-gnutella's compression notes.
	DefaultMaxDelay = 200 * time.Millisecond
)

// ErrLevel reports a compression level compress/zlib does not know.
var ErrLevel = errors.New("invalid compression level")

// WriterConfig tunes a Writer. Zero fields take the defaults.
type WriterConfig struct {
	// Level is a compress/zlib level, 1 (best speed) to 9 (best
	// compression), or zlib.HuffmanOnly. Zero means DefaultLevel: a link
	// that does not want compression does not negotiate it.
	Level int
	// MaxDelay bounds how long written data may stay unflushed.
	MaxDelay time.Duration
	// Now is the clock; tests inject a fake one. Default time.Now.
	Now func() time.Time
}

// Stats counts a direction's bytes on each side of the compressor.
type Stats struct {
	Plain      uint64 // descriptor bytes before deflate / after inflate
	Compressed uint64 // bytes on the wire
}

// countingWriter counts what the compressor puts on the wire.
type countingWriter struct {
	w io.Writer
	n uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	return n, err
}

// Writer compresses one direction of a connection.
//
// It is owned by the connection's writer goroutine and is not safe for
// concurrent use. That goroutine also owns the flushing: it calls Flush
// whenever its send queue runs dry, and Write itself flushes once the oldest
// unflushed byte is MaxDelay old. Between them no data waits longer than
// MaxDelay or one batch write, whichever is longer, without a timer
// goroutine racing the writer for the socket: a writer that keeps writing
// reaches the age check, one that stops has drained its queue and flushed.
type Writer struct {
	zw         *zlib.Writer
	wire       countingWriter
	plain      uint64
	maxDelay   time.Duration
	now        func() time.Time
	dirty      bool // data written since the last flush
	dirtySince time.Time
}

// NewWriter returns a Writer compressing onto w. It writes nothing until the
// first Write or Flush (the zlib header goes out with the first data).
func NewWriter(w io.Writer, cfg WriterConfig) (*Writer, error) {
	if cfg.Level == 0 {
		cfg.Level = DefaultLevel
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	zw := &Writer{wire: countingWriter{w: w}, maxDelay: cfg.MaxDelay, now: cfg.Now}
	var err error
	zw.zw, err = zlib.NewWriterLevel(&zw.wire, cfg.Level)
	if err != nil {
		return nil, fmt.Errorf("%w: %d", ErrLevel, cfg.Level)
	}
	return zw, nil
}

// Write compresses p. The compressed bytes reach the underlying writer when
// the compressor's buffer fills, at Flush, or at the end of a Write that
// finds unflushed data MaxDelay old.
func (w *Writer) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := w.zw.Write(p)
	w.plain += uint64(n)
	if err != nil {
		return n, fmt.Errorf("deflate: %w", err)
	}
	if !w.dirty {
		w.dirty = true
		w.dirtySince = w.now()
		return n, nil
	}
	if w.now().Sub(w.dirtySince) >= w.maxDelay {
		return n, w.Flush()
	}
	return n, nil
}

// Flush sync-flushes: everything written so far reaches the underlying
// writer, ending in 00 00 ff ff, and the peer can inflate all of it. It
// writes nothing when nothing was written since the last flush, so the
// writer goroutine may call it every time its queue runs dry.
func (w *Writer) Flush() error {
	if !w.dirty {
		return nil
	}
	w.dirty = false
	if err := w.zw.Flush(); err != nil {
		return fmt.Errorf("deflate flush: %w", err)
	}
	return nil
}

// Stats returns the byte counts so far.
func (w *Writer) Stats() Stats {
	return Stats{Plain: w.plain, Compressed: w.wire.n}
}
