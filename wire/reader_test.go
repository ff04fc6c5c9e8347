package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allCapturedStream concatenates every captured descriptor, in capture order.
func allCapturedStream(t testing.TB) ([]byte, []capturedDescriptor) {
	t.Helper()
	var all []capturedDescriptor
	var stream []byte
	for _, name := range allCaptures {
		for _, d := range captureDescriptors(t, name) {
			all = append(all, d)
			stream = append(stream, d.Raw...)
		}
	}
	require.NotEmpty(t, all)
	return stream, all
}

func TestReaderCapturedStream(t *testing.T) {
	stream, want := allCapturedStream(t)
	// A one-byte reader and a half reader exercise every partial read; the
	// small buffer forces payloads through the big-payload path.
	for name, mk := range map[string]func() *Reader{
		"plain":        func() *Reader { return NewReader(bytes.NewReader(stream), 0) },
		"one byte":     func() *Reader { return NewReader(iotest.OneByteReader(bytes.NewReader(stream)), 0) },
		"half reader":  func() *Reader { return NewReader(iotest.HalfReader(bytes.NewReader(stream)), 0) },
		"small buffer": func() *Reader { return NewReaderSize(bytes.NewReader(stream), 0, 64) },
	} {
		t.Run(name, func(t *testing.T) {
			r := mk()
			for i, d := range want {
				m, err := r.ReadMessage()
				require.NoError(t, err, "descriptor %d", i)
				assert.Equal(t, d.Header, m.Header, "descriptor %d", i)
				assert.Equal(t, d.Payload, m.Payload, "descriptor %d", i)
				out, err := m.Append(nil)
				require.NoError(t, err)
				assert.Equal(t, d.Raw, out, "descriptor %d re-encodes identically", i)
			}
			_, err := r.ReadMessage()
			assert.ErrorIs(t, err, io.EOF)
			assert.EqualValues(t, len(stream), r.Offset())
		})
	}
}

// Buffered and Offset count what ReadMessage has returned, though the
// Reader hands descriptors out of its buffer without telling bufio each time.
func TestReaderBufferedAndOffset(t *testing.T) {
	ping := rawHeader(TypePing, 1, 0, 0)
	pong := append(rawHeader(TypePong, 1, 0, 14), make([]byte, 14)...)
	stream := cat(ping, pong, ping)
	r := NewReader(bytes.NewReader(stream), 0)
	for i, want := range []int{len(ping), len(pong), len(ping)} {
		before := r.Offset()
		_, err := r.ReadMessage()
		require.NoError(t, err, "descriptor %d", i)
		assert.EqualValues(t, want, r.Offset()-before, "descriptor %d", i)
		assert.Equal(t, len(stream)-int(r.Offset()), r.Buffered(), "after descriptor %d", i)
	}
	_, err := r.ReadMessage()
	assert.ErrorIs(t, err, io.EOF)
	assert.Zero(t, r.Buffered())
}

// header builds a header by hand: GUID, type, TTL, hops, LE length.
func rawHeader(t PayloadType, ttl, hops uint8, length uint32) []byte {
	b := make([]byte, HeaderLen)
	for i := range GUIDLen {
		b[i] = byte(i + 1)
	}
	b[16], b[17], b[18] = byte(t), ttl, hops
	binary.LittleEndian.PutUint32(b[19:], length)
	return b
}

// countingReader records how many bytes were read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReaderErrors(t *testing.T) {
	t.Run("over the limit fails before the payload is read", func(t *testing.T) {
		in := append(rawHeader(TypeQuery, 3, 0, 1<<30), make([]byte, 100)...)
		cr := &countingReader{r: iotest.OneByteReader(bytes.NewReader(in))}
		r := NewReader(cr, 1024)
		m, err := r.ReadMessage()
		assert.Nil(t, m)
		assert.ErrorIs(t, err, ErrTooLarge)
		assert.ErrorIs(t, err, ErrFrame, "over-limit is connection-fatal")
		assert.NotErrorIs(t, err, ErrMalformed)
		assert.Equal(t, HeaderLen, cr.n, "nothing past the header was read")
	})
	t.Run("limit is inclusive", func(t *testing.T) {
		in := append(rawHeader(TypeVendor, 1, 0, 8), []byte("GTKG\x01\x00\x01\x00")...)
		_, err := NewReader(bytes.NewReader(in), 8).ReadMessage()
		assert.NoError(t, err)
	})
	t.Run("stream ends inside a header", func(t *testing.T) {
		_, err := NewReader(bytes.NewReader(rawHeader(TypePing, 1, 0, 0)[:10]), 0).ReadMessage()
		assert.ErrorIs(t, err, ErrTruncated)
		assert.ErrorIs(t, err, ErrFrame)
	})
	for _, bufSize := range []int{DefaultReadBuffer, HeaderLen} {
		t.Run("stream ends inside a payload", func(t *testing.T) {
			in := append(rawHeader(TypePong, 1, 0, 14), 1, 2, 3)
			_, err := NewReaderSize(bytes.NewReader(in), 0, bufSize).ReadMessage()
			assert.ErrorIs(t, err, ErrTruncated)
			assert.ErrorIs(t, err, ErrFrame)
		})
	}
	t.Run("malformed payload is a message error and the stream goes on", func(t *testing.T) {
		var in []byte
		in = append(in, rawHeader(TypePong, 1, 0, 3)...) // a Pong needs 14 bytes
		in = append(in, 1, 2, 3)
		in = append(in, rawHeader(TypePing, 1, 0, 0)...)
		r := NewReader(bytes.NewReader(in), 0)
		m, err := r.ReadMessage()
		require.NotNil(t, m, "the header and raw payload come back")
		assert.ErrorIs(t, err, ErrMalformed)
		assert.NotErrorIs(t, err, ErrFrame)
		assert.Equal(t, TypePong, m.Header.Type)
		assert.Equal(t, []byte{1, 2, 3}, m.Payload)
		m, err = r.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, TypePing, m.Header.Type)
	})
	t.Run("unknown types are raw messages", func(t *testing.T) {
		in := append(rawHeader(TypeHSEP, 1, 0, 4), 9, 8, 7, 6)
		in = append(in, rawHeader(0x77, 1, 0, 0)...)
		r := NewReader(bytes.NewReader(in), 0)
		m, err := r.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, []byte{9, 8, 7, 6}, m.Payload)
		m, err = r.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, PayloadType(0x77), m.Header.Type)
	})
	t.Run("clean end between descriptors", func(t *testing.T) {
		_, err := NewReader(bytes.NewReader(nil), 0).ReadMessage()
		assert.Equal(t, io.EOF, err)
	})
	t.Run("read error is passed through", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := NewReader(iotest.ErrReader(boom), 0).ReadMessage()
		assert.ErrorIs(t, err, boom)
		assert.NotErrorIs(t, err, ErrFrame)
	})
}

// loopReader replays a stream forever without allocating.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

// TestReaderSteadyStateAllocatesNothing reads every captured message type
// through the framed reader, in place and through the big-payload buffer.
func TestReaderSteadyStateAllocatesNothing(t *testing.T) {
	stream, all := allCapturedStream(t)
	types := map[PayloadType]bool{}
	for _, d := range all {
		types[d.Header.Type] = true
	}
	for _, typ := range []PayloadType{TypePing, TypePong, TypeQuery, TypeQueryHit, TypePush, TypeBye, TypeQRP, TypeVendor} {
		require.True(t, types[typ], "the captures hold a %s", typ)
	}
	for _, bufSize := range []int{DefaultReadBuffer, 64} {
		r := NewReaderSize(&loopReader{data: stream}, 0, bufSize)
		// Warm up: grow every reused slice once.
		for range 2 * len(all) {
			_, err := r.ReadMessage()
			require.NoError(t, err)
		}
		allocs := testing.AllocsPerRun(20, func() {
			for range len(all) {
				if _, err := r.ReadMessage(); err != nil {
					t.Fatal(err)
				}
			}
		})
		require.Zero(t, allocs, "buffer %d", bufSize)
	}
}

// mixedStream is a realistic relay stream built from the captured
// descriptors: mostly Pongs, Queries and QueryHits with extensions, with the
// odd Ping and Push, as an ultrapeer sees it.
func mixedStream(t testing.TB, size int) []byte {
	_, all := allCapturedStream(t)
	byType := map[PayloadType][][]byte{}
	for _, d := range all {
		byType[d.Header.Type] = append(byType[d.Header.Type], d.Raw)
	}
	weights := []struct {
		t PayloadType
		w int
	}{{TypePong, 30}, {TypeQuery, 35}, {TypeQueryHit, 25}, {TypePing, 5}, {TypePush, 5}}
	rng := rand.New(rand.NewPCG(1, 2))
	var out []byte
	for len(out) < size {
		n := rng.IntN(100)
		for _, w := range weights {
			if n < w.w {
				c := byType[w.t]
				out = append(out, c[rng.IntN(len(c))]...)
				break
			}
			n -= w.w
		}
	}
	return out
}

// BenchmarkReaderMixed parses a realistic stream fully through the framed
// reader; BenchmarkReaderMixed/copy-baseline only copies the same bytes
// through a bufio.Reader of the same size, so the ratio of the two is what
// decoding costs on top of moving the bytes.
func BenchmarkReaderMixed(b *testing.B) {
	stream := mixedStream(b, 4<<20)
	b.Run("parse", func(b *testing.B) {
		r := NewReader(&loopReader{data: stream}, 0)
		// Count messages per pass to report a per-message figure.
		msgs := 0
		for off := 0; off < len(stream); msgs++ {
			h, _ := ParseHeader(stream[off:])
			off += HeaderLen + int(h.Length)
		}
		b.SetBytes(int64(len(stream)))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			for range msgs {
				if _, err := r.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*msgs), "ns/msg")
	})
	b.Run("copy-baseline", func(b *testing.B) {
		br := bufio.NewReaderSize(&loopReader{data: stream}, DefaultReadBuffer)
		buf := make([]byte, DefaultReadBuffer)
		b.SetBytes(int64(len(stream)))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			for left := len(stream); left > 0; {
				n, _ := br.Read(buf[:min(len(buf), left)])
				left -= n
			}
		}
	})
}
