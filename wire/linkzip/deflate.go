package linkzip

import (
	"compress/zlib"
	"errors"
	"io"
	"sync"
)

// Whole streams: a value or a body that is one finished zlib stream (final
// block and adler32) at DefaultLevel, as QRP patches (router), deflated
// GGEP values (wire) and browse host replies (httpxfer) are. A link's
// stream, which is never finished, is Writer's.
//
// Their compressors are reused: a fresh one allocates most of a megabyte
// (see the package comment), more than a QRP patch or a GGEP value is long.
// compress/flate's Reset makes a compressor the same as a new one, so the
// bytes do not depend on which one a stream gets.

// deflater is one reusable compressor. It writes to w: the caller's writer
// (StreamWriter) or buf (Deflate).
type deflater struct {
	zw  *zlib.Writer
	w   io.Writer
	buf appendWriter
}

func (d *deflater) Write(p []byte) (int, error) { return d.w.Write(p) }

// appendWriter appends what is written to b.
type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

var deflaters = sync.Pool{New: func() any {
	d := new(deflater)
	zw, err := zlib.NewWriterLevel(d, DefaultLevel)
	if err != nil {
		panic(err) // DefaultLevel is a valid level
	}
	d.zw = zw
	return d
}}

// getDeflater returns a compressor at the start of a stream; the caller
// sets w.
func getDeflater() *deflater {
	d := deflaters.Get().(*deflater)
	d.zw.Reset(d)
	return d
}

// put returns d to the pool, holding no reference to a caller's writer or
// buffer.
func (d *deflater) put() {
	d.w, d.buf.b = nil, nil
	deflaters.Put(d)
}

// Deflate appends src to dst as one whole zlib stream and returns the
// extended slice. It fails only when compress/zlib does, with its error.
func Deflate(dst, src []byte) ([]byte, error) {
	d := getDeflater()
	d.w, d.buf.b = &d.buf, dst
	_, err := d.zw.Write(src)
	if err == nil {
		err = d.zw.Close()
	}
	out := d.buf.b
	d.put()
	if err != nil {
		return dst, err
	}
	return out, nil
}

// ErrClosed: a StreamWriter was used after Close.
var ErrClosed = errors.New("deflate stream closed")

// StreamWriter compresses one whole zlib stream onto a writer, for a body
// too large to hold (a browse host reply). Its errors are the writer's or
// compress/zlib's, unwrapped. Not safe for concurrent use.
type StreamWriter struct {
	d *deflater
}

// NewStreamWriter returns a StreamWriter onto w. It writes nothing before
// the first Write or Close.
func NewStreamWriter(w io.Writer) *StreamWriter {
	d := getDeflater()
	d.w = w
	return &StreamWriter{d: d}
}

// Write compresses p; the compressed bytes reach the writer as the
// compressor's buffer fills, and at Close.
func (s *StreamWriter) Write(p []byte) (int, error) {
	if s.d == nil {
		return 0, ErrClosed
	}
	return s.d.zw.Write(p)
}

// Close finishes the stream: the rest of the data, the final block and the
// checksum reach the writer. A StreamWriter left without Close (its writer
// failed) costs only the memory of its compressor.
func (s *StreamWriter) Close() error {
	if s.d == nil {
		return ErrClosed
	}
	err := s.d.zw.Close()
	s.d.put()
	s.d = nil
	return err
}
