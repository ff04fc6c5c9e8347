package linkzip_test

import (
	"bytes"
	"compress/zlib"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire/linkzip"
)

// The inflater also serves values inflated whole (QRP patches, GGEP values,
// captured streams): their callers bound the output, ask whether the stream
// was finished, and reuse one Reader for many streams.

func TestMaxOutputBoundsTheStream(t *testing.T) {
	plain := gnutellaLike(10000)
	z := finishedStream(t, plain, 0)
	got, err := io.ReadAll(linkzip.NewReader(bytes.NewReader(z), linkzip.ReaderConfig{MaxOutput: 10000}))
	require.NoError(t, err, "exactly the bound")
	assert.Equal(t, plain, got)

	r := linkzip.NewReader(bytes.NewReader(z), linkzip.ReaderConfig{MaxOutput: 9999})
	got, err = io.ReadAll(r)
	require.ErrorIs(t, err, linkzip.ErrTooLarge)
	assert.Equal(t, plain[:9999], got, "what fits comes first")
	_, err = r.Read(make([]byte, 1))
	assert.ErrorIs(t, err, linkzip.ErrTooLarge, "and the error stays")
}

// A zero bomb under an output bound stops at the bound, whatever the ratio
// allows.
func TestMaxOutputStopsABombTheRatioLetsThrough(t *testing.T) {
	bomb := zeroBomb(t, 8)
	r := linkzip.NewReader(bytes.NewReader(bomb), linkzip.ReaderConfig{MaxRatio: linkzip.MaxDeflateRatio, MaxOutput: 1 << 20})
	n, err := io.Copy(io.Discard, r)
	require.ErrorIs(t, err, linkzip.ErrTooLarge)
	assert.EqualValues(t, 1<<20, n)
}

func TestFinished(t *testing.T) {
	r := linkzip.NewReader(bytes.NewReader(finishedStream(t, []byte("bye"), 0)), linkzip.ReaderConfig{})
	_, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.True(t, r.Finished(), "final block and adler32")

	// A link's stream stops after a sync flush: EOF, but not finished.
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, err = zw.Write([]byte("bye"))
	require.NoError(t, err)
	require.NoError(t, zw.Flush())
	r = linkzip.NewReader(bytes.NewReader(buf.Bytes()), linkzip.ReaderConfig{})
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "bye", string(got))
	assert.False(t, r.Finished())

	r = linkzip.NewReader(bytes.NewReader(nil), linkzip.ReaderConfig{})
	_, err = io.ReadAll(r)
	require.NoError(t, err)
	assert.False(t, r.Finished(), "no stream at all")
}

// Reset starts a new stream on the same Reader: nothing of the last one
// (output, error, counts, bound) carries over, and once warm a stream costs
// one allocation: compress/zlib's Reset takes a new adler32 digest.
func TestResetReusesTheReader(t *testing.T) {
	a, b := gnutellaLike(5000), gnutellaLike(7000)
	za, zb := finishedStream(t, a, 0), finishedStream(t, b, 0)
	bound := linkzip.ReaderConfig{MaxOutput: 6000}
	r := linkzip.NewReader(bytes.NewReader(za), bound)
	_, err := r.Read(make([]byte, 100)) // leave most of a unread
	require.NoError(t, err)

	r.Reset(bytes.NewReader(zb), bound)
	_, err = io.ReadAll(r)
	require.ErrorIs(t, err, linkzip.ErrTooLarge)

	r.Reset(bytes.NewReader(zb), linkzip.ReaderConfig{})
	got, err := io.ReadAll(r)
	require.NoError(t, err, "no error carried over, nor the bound")
	assert.Equal(t, b, got)

	r.Reset(bytes.NewReader(za), bound)
	got, err = io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, a, got)
	assert.True(t, r.Finished())
	assert.Equal(t, linkzip.Stats{Plain: uint64(len(a)), Compressed: uint64(len(za))}, r.Stats())

	r.Reset(bytes.NewReader([]byte("not zlib")), bound)
	_, err = io.ReadAll(r)
	require.ErrorIs(t, err, linkzip.ErrCorrupt)
	assert.False(t, r.Finished())

	src := bytes.NewReader(za)
	out := make([]byte, len(a)+1)
	allocs := testing.AllocsPerRun(20, func() {
		src.Reset(za)
		r.Reset(src, bound)
		if n, err := io.ReadFull(r, out); n != len(a) || err != io.ErrUnexpectedEOF {
			t.Fatal(n, err)
		}
	})
	assert.LessOrEqual(t, allocs, 1.0)
}
