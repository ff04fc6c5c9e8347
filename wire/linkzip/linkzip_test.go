package linkzip_test

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/linkzip"
)

var syncFlushTail = []byte{0x00, 0x00, 0xff, 0xff}

type msgShape struct {
	t   wire.PayloadType
	len uint32
}

// readMessage reads one descriptor (header and payload) from r.
func readMessage(t *testing.T, r io.Reader) msgShape {
	t.Helper()
	var hdr [wire.HeaderLen]byte
	_, err := io.ReadFull(r, hdr[:])
	require.NoError(t, err)
	h, err := wire.ParseHeader(hdr[:])
	require.NoError(t, err)
	require.LessOrEqual(t, h.Length, uint32(4096), "implausible payload length")
	_, err = io.ReadFull(r, make([]byte, h.Length))
	require.NoError(t, err)
	return msgShape{h.Type, h.Length}
}

// TestReadsGtkGnutellaStream inflates both directions of leaf-deflate.pcap,
// feeding one TCP segment at a time through a pipe: each segment's messages
// must be readable before the next segment exists (every write ends in a
// sync flush). The expected messages are the capture README's.
func TestReadsGtkGnutellaStream(t *testing.T) {
	cases := []struct {
		name            string
		from            layers.TCPPort
		handshakeBlocks int
		wantBytes       int
		wantHeader      []byte
		wantPerSegment  [][]msgShape
	}{
		{
			name: "gtk-gnutella to probe", from: 6350, handshakeBlocks: 1,
			wantBytes: 521, wantHeader: []byte{0x68, 0x81}, // 16 KiB window
			wantPerSegment: [][]msgShape{
				{{wire.TypeVendor, 226}, {wire.TypeVendor, 46}}, // Messages- and Features-Supported in one flush
				{{wire.TypePong, 41}},
				{{wire.TypeQueryHit, 171}},
				{{wire.TypeQueryHit, 177}},
			},
		},
		{
			name: "probe to gtk-gnutella", from: 45872, handshakeBlocks: 2,
			wantBytes: 253, wantHeader: []byte{0x78, 0x9c},
			wantPerSegment: [][]msgShape{
				{{wire.TypePing, 0}},
				{{wire.TypeQuery, 8}},
				{{wire.TypeQuery, 13}},
				{{wire.TypeQRP, 6}},
				{{wire.TypeQRP, 66}},
				{{wire.TypeBye, 21}},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			segs := compressedSegments(t, tc.from, tc.handshakeBlocks)
			require.Len(t, segs, len(tc.wantPerSegment))
			total := 0
			for _, s := range segs {
				total += len(s)
				assert.True(t, bytes.HasSuffix(s, syncFlushTail), "every write ends with a sync flush")
			}
			require.Equal(t, tc.wantBytes, total)
			require.True(t, bytes.HasPrefix(segs[0], tc.wantHeader))

			synctest.Test(t, func(t *testing.T) {
				pr, pw := io.Pipe()
				zr := linkzip.NewReader(pr, linkzip.ReaderConfig{})
				for i, seg := range segs {
					written := make(chan error, 1)
					go func() {
						_, err := pw.Write(seg)
						written <- err
					}()
					// Blocks for ever (a synctest deadlock) if inflate
					// waits for input beyond the flush.
					for _, want := range tc.wantPerSegment[i] {
						assert.Equal(t, want, readMessage(t, zr), "segment %d", i)
					}
					require.NoError(t, <-written)
				}
				require.NoError(t, pw.Close())
				n, err := zr.Read(make([]byte, 1))
				assert.Zero(t, n)
				assert.ErrorIs(t, err, io.EOF, "a stream that stops after a sync flush ends cleanly")
				st := zr.Stats()
				assert.Equal(t, uint64(tc.wantBytes), st.Compressed)
			})
		})
	}
}

func TestRoundTripEachMessageReadableOnArrival(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	msgs := [][]byte{
		[]byte("GNUTELLA"),
		bytes.Repeat([]byte("penny lane "), 30),
		make([]byte, 100<<10), // spans several deflate blocks and window slides
		randomBytes(rng, 3000),
		{0x42},
	}
	for _, level := range []int{1, linkzip.DefaultLevel, 9, zlib.HuffmanOnly} {
		t.Run(zlibLevelName(level), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pr, pw := io.Pipe()
				zw, err := linkzip.NewWriter(pw, linkzip.WriterConfig{Level: level})
				require.NoError(t, err)
				zr := linkzip.NewReader(pr, linkzip.ReaderConfig{})
				var plain uint64
				for i, m := range msgs {
					done := make(chan error, 1)
					go func() {
						if _, err := zw.Write(m); err != nil {
							done <- err
							return
						}
						done <- zw.Flush()
					}()
					got := make([]byte, len(m))
					_, err := io.ReadFull(zr, got)
					require.NoError(t, err, "message %d", i)
					assert.Equal(t, m, got, "message %d", i)
					require.NoError(t, <-done)
					plain += uint64(len(m))
				}
				assert.Equal(t, plain, zw.Stats().Plain)
				assert.Equal(t, plain, zr.Stats().Plain)
				assert.Equal(t, zw.Stats().Compressed, zr.Stats().Compressed)
			})
		})
	}
}

func TestWriterStreamFormat(t *testing.T) {
	// RFC 1950: CMF 0x78 (deflate, 32 KiB window), then FLG whose FLEVEL
	// bits say fastest (0), default (2) or best (3) and whose FCHECK makes
	// the pair a multiple of 31.
	cases := []struct {
		level int
		want  []byte
	}{
		{1, []byte{0x78, 0x01}},
		{0, []byte{0x78, 0x9c}}, // zero means the default
		{linkzip.DefaultLevel, []byte{0x78, 0x9c}},
		{6, []byte{0x78, 0x9c}},
		{9, []byte{0x78, 0xda}},
	}
	for _, tc := range cases {
		t.Run(zlibLevelName(tc.level), func(t *testing.T) {
			var sink bytes.Buffer
			zw, err := linkzip.NewWriter(&sink, linkzip.WriterConfig{Level: tc.level})
			require.NoError(t, err)
			require.NoError(t, zw.Flush())
			assert.Zero(t, sink.Len(), "nothing on the wire before the first message")

			msg := []byte("a descriptor")
			_, err = zw.Write(msg)
			require.NoError(t, err)
			require.NoError(t, zw.Flush())
			out := append([]byte(nil), sink.Bytes()...)
			assert.Equal(t, tc.want, out[:2])
			assert.True(t, bytes.HasSuffix(out, syncFlushTail))
			assert.Equal(t, msg, stdlibInflate(t, out), "compress/zlib reads it")

			require.NoError(t, zw.Flush())
			assert.Equal(t, out, sink.Bytes(), "a flush with nothing new writes nothing")
			assert.Equal(t, linkzip.Stats{Plain: uint64(len(msg)), Compressed: uint64(len(out))}, zw.Stats())
		})
	}
}

func TestWriterRejectsUnknownLevel(t *testing.T) {
	for _, level := range []int{10, -3} {
		_, err := linkzip.NewWriter(io.Discard, linkzip.WriterConfig{Level: level})
		assert.ErrorIs(t, err, linkzip.ErrLevel, "level %d", level)
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestWriterMaxDelay(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	var sink bytes.Buffer
	zw, err := linkzip.NewWriter(&sink, linkzip.WriterConfig{MaxDelay: 200 * time.Millisecond, Now: clk.Now})
	require.NoError(t, err)
	write := func(s string) {
		t.Helper()
		_, err := zw.Write([]byte(s))
		require.NoError(t, err)
	}

	write("first ")
	clk.Advance(199 * time.Millisecond)
	write("second ")
	assert.Empty(t, stdlibInflate(t, sink.Bytes()), "199 ms: still buffered")

	clk.Advance(time.Millisecond)
	write("third ")
	assert.Equal(t, "first second third ", string(stdlibInflate(t, sink.Bytes())), "200 ms after the first write: flushed")
	assert.True(t, bytes.HasSuffix(sink.Bytes(), syncFlushTail))

	// The age counts from the first write after a flush, not from the last
	// flush: a write long after an idle period does not flush at once.
	clk.Advance(time.Hour)
	write("fourth ")
	assert.Equal(t, "first second third ", string(stdlibInflate(t, sink.Bytes())))
	clk.Advance(150 * time.Millisecond)
	write("fifth ")
	assert.Equal(t, "first second third ", string(stdlibInflate(t, sink.Bytes())))
	clk.Advance(50 * time.Millisecond)
	write("sixth")
	assert.Equal(t, "first second third fourth fifth sixth", string(stdlibInflate(t, sink.Bytes())))
}

// zeroBomb returns a zlib stream that inflates to mib MiB of zeros, built by
// repeating the compressed form of one MiB (after the first, every MiB of
// zeros compresses to the same bytes, which the function checks).
func zeroBomb(t *testing.T, mib int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	require.NoError(t, err)
	zeros := make([]byte, 1<<20)
	chunk := func() []byte {
		start := buf.Len()
		_, err := zw.Write(zeros)
		require.NoError(t, err)
		require.NoError(t, zw.Flush())
		return append([]byte(nil), buf.Bytes()[start:]...)
	}
	first, second, third := chunk(), chunk(), chunk()
	require.Equal(t, second, third, "steady-state chunks must repeat")
	bomb := append([]byte(nil), first...)
	for range mib - 1 {
		bomb = append(bomb, second...)
	}
	require.Equal(t, 3<<20, len(stdlibInflate(t, bytes.Join([][]byte{first, second, third}, nil))))
	return bomb
}

func TestBombIsRejectedWithBoundedMemory(t *testing.T) {
	bomb := zeroBomb(t, 100)
	t.Logf("100 MiB of zeros in %d compressed bytes", len(bomb))

	zr := linkzip.NewReader(bytes.NewReader(bomb), linkzip.ReaderConfig{})
	buf := make([]byte, 32<<10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var err error
	for err == nil {
		_, err = zr.Read(buf)
	}
	runtime.ReadMemStats(&after)

	require.ErrorIs(t, err, linkzip.ErrBomb)
	st := zr.Stats()
	assert.LessOrEqual(t, st.Plain, uint64(linkzip.DefaultWindow+len(buf)), "stopped within the first window")
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("rejected after %d inflated bytes, %d allocated", st.Plain, alloc)
	assert.Less(t, alloc, uint64(256<<10), "memory stays bounded")

	_, err = zr.Read(buf)
	assert.ErrorIs(t, err, linkzip.ErrBomb, "the error is sticky")
}

// gnutellaLike returns n bytes of descriptor-like traffic: each 216-byte
// record is 16 random bytes (a GUID) and 200 constant ones, about 10:1.
func gnutellaLike(n int) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	tail := bytes.Repeat([]byte("penny lane.mp3\x00"), 14)[:200]
	var b []byte
	for len(b) < n {
		b = append(b, randomBytes(rng, 16)...)
		b = append(b, tail...)
	}
	return b[:n]
}

func TestRatioGuardLetsRealTrafficThrough(t *testing.T) {
	plain := gnutellaLike(3 << 20)
	var wireBytes bytes.Buffer
	zw, err := linkzip.NewWriter(&wireBytes, linkzip.WriterConfig{})
	require.NoError(t, err)
	for off := 0; off < len(plain); off += 4096 {
		_, err := zw.Write(plain[off:min(off+4096, len(plain))])
		require.NoError(t, err)
		require.NoError(t, zw.Flush())
	}
	ratio := float64(len(plain)) / float64(wireBytes.Len())
	t.Logf("descriptor-like traffic compresses %.1f:1", ratio)
	require.Greater(t, ratio, 4.0, "the traffic must compress well enough to test a lower limit")

	cases := []struct {
		name     string
		maxRatio int64
		wantErr  error
	}{
		{"default limit passes it", 0, io.EOF},
		{"a limit under its ratio rejects it", int64(ratio) - 2, linkzip.ErrBomb},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			zr := linkzip.NewReader(bytes.NewReader(wireBytes.Bytes()), linkzip.ReaderConfig{MaxRatio: tc.maxRatio})
			got, err := io.ReadAll(zr)
			if tc.wantErr == io.EOF {
				require.NoError(t, err) // ReadAll turns io.EOF into nil
				assert.Equal(t, plain, got)
				return
			}
			assert.ErrorIs(t, err, tc.wantErr)
		})
	}
}

func TestCorruptStreamsFailWithoutPanic(t *testing.T) {
	cases := []struct {
		name    string
		in      []byte
		wantErr error
	}{
		{"nothing at all is a clean close", nil, io.EOF},
		{"bad header checksum", []byte{0x78, 0x9d, 0x01, 0x02}, linkzip.ErrCorrupt},
		{"not deflate", []byte{0x12, 0x34, 0x56}, linkzip.ErrCorrupt},
		{"header then close", []byte{0x68, 0x81}, linkzip.ErrCorrupt},
		{"one header byte", []byte{0x78}, linkzip.ErrCorrupt},
		{"reserved block type", []byte{0x78, 0x9c, 0x06, 0x00}, linkzip.ErrCorrupt},
		{"stored block with bad length check", []byte{0x78, 0x9c, 0x00, 0x05, 0x00, 0x00, 0x00}, linkzip.ErrCorrupt},
		{"finished stream with a bad adler32", finishedStream(t, []byte("bye"), 1), linkzip.ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := io.ReadAll(linkzip.NewReader(bytes.NewReader(tc.in), linkzip.ReaderConfig{}))
			if tc.wantErr == io.EOF {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.wantErr)
		})
	}

	t.Run("random garbage after a valid header", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for range 500 {
			in := append([]byte{0x78, 0x9c}, randomBytes(rng, 1+rng.IntN(300))...)
			_, err := io.ReadAll(linkzip.NewReader(bytes.NewReader(in), linkzip.ReaderConfig{}))
			require.ErrorIs(t, err, linkzip.ErrCorrupt, "input %x", in)
		}
	})
}

func TestFinishedStreamEndsWithEOF(t *testing.T) {
	got, err := io.ReadAll(linkzip.NewReader(bytes.NewReader(finishedStream(t, []byte("bye"), 0)), linkzip.ReaderConfig{}))
	require.NoError(t, err)
	assert.Equal(t, "bye", string(got))
}

// finishedStream compresses p into a complete zlib stream and, if corrupt is
// non-zero, xors it into the last adler32 byte.
func finishedStream(t *testing.T, p []byte, corrupt byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, err := zw.Write(p)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	b := buf.Bytes()
	b[len(b)-1] ^= corrupt
	return b
}

func TestEveryTruncationOfTheCapture(t *testing.T) {
	segs := compressedSegments(t, 6350, 1)
	full := bytes.Join(segs, nil)
	want := stdlibInflate(t, full)
	boundaries := map[int]bool{0: true}
	end := 0
	for _, s := range segs {
		end += len(s)
		boundaries[end] = true
	}
	for cut := 0; cut <= len(full); cut++ {
		got, err := io.ReadAll(linkzip.NewReader(bytes.NewReader(full[:cut]), linkzip.ReaderConfig{}))
		require.True(t, bytes.HasPrefix(want, got), "cut %d: output must be a prefix of the real stream", cut)
		if boundaries[cut] {
			require.NoError(t, err, "cut %d is after a sync flush: a clean close", cut)
		} else {
			require.ErrorIs(t, err, linkzip.ErrCorrupt, "cut %d", cut)
			require.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut %d", cut)
		}
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestSocketErrorsComeBackUnwrapped(t *testing.T) {
	errReset := errors.New("connection reset by peer")
	segs := compressedSegments(t, 6350, 1)
	zr := linkzip.NewReader(&failingReader{data: segs[0][:20], err: errReset}, linkzip.ReaderConfig{})
	_, err := io.ReadAll(zr)
	assert.Equal(t, errReset, err)
	assert.NotErrorIs(t, err, linkzip.ErrCorrupt)
}

// TestMemoryPerConnection measures what one compressed direction costs. The
// bounds are there so a regression shows; the logged numbers are the ones
// the package comment quotes.
func TestMemoryPerConnection(t *testing.T) {
	msg := gnutellaLike(2000)
	measure := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	for _, level := range []int{zlib.HuffmanOnly, 1, 2, linkzip.DefaultLevel, 9} {
		var zw *linkzip.Writer
		n := measure(func() {
			var err error
			zw, err = linkzip.NewWriter(io.Discard, linkzip.WriterConfig{Level: level})
			require.NoError(t, err)
			_, err = zw.Write(msg)
			require.NoError(t, err)
			require.NoError(t, zw.Flush())
		})
		t.Logf("writer %s: %d KiB", zlibLevelName(level), n>>10)
		assert.Less(t, n, uint64(1536<<10), "writer %s", zlibLevelName(level))
		runtime.KeepAlive(zw)
	}

	var stream bytes.Buffer
	zw, err := linkzip.NewWriter(&stream, linkzip.WriterConfig{})
	require.NoError(t, err)
	_, err = zw.Write(msg)
	require.NoError(t, err)
	require.NoError(t, zw.Flush())
	var zr *linkzip.Reader
	// The buffer a Reader borrows while it holds unread output is shared
	// by all of them: count what one connection keeps.
	linkzip.PutInflated(new(linkzip.Inflated))
	n := measure(func() {
		zr = linkzip.NewReader(bytes.NewReader(stream.Bytes()), linkzip.ReaderConfig{})
		_, err := io.ReadFull(zr, make([]byte, len(msg)))
		require.NoError(t, err)
	})
	t.Logf("reader: %d KiB, and a shared %d KiB buffer", n>>10, unsafe.Sizeof(linkzip.Inflated{})>>10)
	assert.Less(t, n, uint64(64<<10))
	runtime.KeepAlive(zr)
}

func stdlibInflate(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	require.NoError(t, err)
	out, err := io.ReadAll(zr)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		require.NoError(t, err)
	}
	return out
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func zlibLevelName(level int) string {
	switch level {
	case zlib.HuffmanOnly:
		return "huffman-only"
	case linkzip.DefaultLevel:
		return "default"
	}
	return "level-" + strconv.Itoa(level)
}

func BenchmarkWriter(b *testing.B) {
	plain := gnutellaLike(64 << 10)
	for _, level := range []int{1, 2, linkzip.DefaultLevel, 9} {
		b.Run(zlibLevelName(level), func(b *testing.B) {
			zw, err := linkzip.NewWriter(io.Discard, linkzip.WriterConfig{Level: level})
			require.NoError(b, err)
			b.ReportAllocs()
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				// The writer goroutine's rhythm: a batch of messages, then
				// a flush when the queue runs dry.
				for off := 0; off < len(plain); off += 2048 {
					if _, err := zw.Write(plain[off : off+2048]); err != nil {
						b.Fatal(err)
					}
					if err := zw.Flush(); err != nil {
						b.Fatal(err)
					}
				}
			}
			st := zw.Stats()
			b.ReportMetric(float64(st.Plain)/float64(st.Compressed), "ratio")
		})
	}
}

func BenchmarkReader(b *testing.B) {
	plain := gnutellaLike(1 << 20)
	var stream bytes.Buffer
	zw, err := linkzip.NewWriter(&stream, linkzip.WriterConfig{})
	require.NoError(b, err)
	for off := 0; off < len(plain); off += 2048 {
		_, err := zw.Write(plain[off : off+2048])
		require.NoError(b, err)
		require.NoError(b, zw.Flush())
	}
	buf := make([]byte, 32<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		zr := linkzip.NewReader(bytes.NewReader(stream.Bytes()), linkzip.ReaderConfig{})
		for {
			_, err := zr.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
