package linkzip_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire/linkzip"
)

// Deflate and StreamWriter reuse compressors: each stream must be the bytes
// a fresh zlib.NewWriter writes, whatever stream its compressor wrote last
// (a long one, one cut short by a failing writer).
func TestWholeStreamsAreAFreshWritersBytes(t *testing.T) {
	inputs := [][]byte{nil, []byte("x"), gnutellaLike(70000), make([]byte, 5000), gnutellaLike(300), bytes.Repeat([]byte("ab"), 40000)}
	for round := range 3 {
		for i, in := range inputs {
			want := finishedStream(t, in, 0)

			prefix := []byte("kept")
			got, err := linkzip.Deflate(prefix, in)
			require.NoError(t, err)
			assert.Equal(t, append([]byte("kept"), want...), got, "Deflate, round %d input %d", round, i)

			var buf bytes.Buffer
			sw := linkzip.NewStreamWriter(&buf)
			for chunk := range slices.Chunk(in, 1000+round*7000) {
				n, err := sw.Write(chunk)
				require.NoError(t, err)
				require.Equal(t, len(chunk), n)
			}
			require.NoError(t, sw.Close())
			assert.Equal(t, want, buf.Bytes(), "StreamWriter, round %d input %d", round, i)

			// A stream whose writer fails, given up without Close, or
			// closed after the failure.
			broken := linkzip.NewStreamWriter(failingWriter{})
			_, err = broken.Write(gnutellaLike(100000))
			require.ErrorIs(t, err, errFailing)
			if round == 1 {
				require.ErrorIs(t, broken.Close(), errFailing)
			}
		}
	}
}

func TestStreamWriterAfterClose(t *testing.T) {
	sw := linkzip.NewStreamWriter(io.Discard)
	require.NoError(t, sw.Close())
	_, err := sw.Write([]byte("late"))
	assert.ErrorIs(t, err, linkzip.ErrClosed)
	assert.ErrorIs(t, sw.Close(), linkzip.ErrClosed)
}

// A QRP patch or a GGEP value is compressed without allocating a
// compressor (most of a megabyte) each time. The race detector's pool
// drops what it is given at random, so the count is checked without it.
func TestDeflateReusesCompressors(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	in := gnutellaLike(4096)
	dst := make([]byte, 0, 8192)
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := linkzip.Deflate(dst, in); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

var errFailing = errors.New("peer went away")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errFailing }
