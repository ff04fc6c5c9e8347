package wire_test

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
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
	for name, mk := range map[string]func() *wire.Reader{
		"plain":        func() *wire.Reader { return wire.NewReader(bytes.NewReader(stream), 0) },
		"one byte":     func() *wire.Reader { return wire.NewReader(iotest.OneByteReader(bytes.NewReader(stream)), 0) },
		"half reader":  func() *wire.Reader { return wire.NewReader(iotest.HalfReader(bytes.NewReader(stream)), 0) },
		"small buffer": func() *wire.Reader { return wire.NewReaderSize(bytes.NewReader(stream), 0, 64) },
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
	types := map[wire.PayloadType]bool{}
	for _, d := range all {
		types[d.Header.Type] = true
	}
	for _, typ := range []wire.PayloadType{wire.TypePing, wire.TypePong, wire.TypeQuery, wire.TypeQueryHit, wire.TypePush, wire.TypeBye, wire.TypeQRP, wire.TypeVendor} {
		require.True(t, types[typ], "the captures hold a %s", typ)
	}
	for _, bufSize := range []int{wire.DefaultReadBuffer, 64} {
		r := wire.NewReaderSize(&loopReader{data: stream}, 0, bufSize)
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
	byType := map[wire.PayloadType][][]byte{}
	for _, d := range all {
		byType[d.Header.Type] = append(byType[d.Header.Type], d.Raw)
	}
	weights := []struct {
		t wire.PayloadType
		w int
	}{{wire.TypePong, 30}, {wire.TypeQuery, 35}, {wire.TypeQueryHit, 25}, {wire.TypePing, 5}, {wire.TypePush, 5}}
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
		r := wire.NewReader(&loopReader{data: stream}, 0)
		// Count messages per pass to report a per-message figure.
		msgs := 0
		for off := 0; off < len(stream); msgs++ {
			h, _ := wire.ParseHeader(stream[off:])
			off += wire.HeaderLen + int(h.Length)
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
		br := bufio.NewReaderSize(&loopReader{data: stream}, wire.DefaultReadBuffer)
		buf := make([]byte, wire.DefaultReadBuffer)
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

// Dropping descriptors on their headers allocates nothing, in place and
// past the buffer.
func TestReaderHeaderSkipAllocatesNothing(t *testing.T) {
	stream, all := allCapturedStream(t)
	for _, bufSize := range []int{wire.DefaultReadBuffer, 64} {
		r := wire.NewReaderSize(&loopReader{data: stream}, 0, bufSize)
		allocs := testing.AllocsPerRun(20, func() {
			for range len(all) {
				if _, err := r.ReadHeader(); err != nil {
					t.Fatal(err)
				}
			}
		})
		require.Zero(t, allocs, "buffer %d", bufSize)
	}
}
