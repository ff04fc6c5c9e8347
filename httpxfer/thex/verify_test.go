package thex

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

func treeOf(t testing.TB, data []byte, depth int) *Tree {
	t.Helper()
	b := NewBuilder()
	b.Write(data)
	tr := b.TreeToDepth(depth)
	require.Equal(t, depth, tr.Depth())
	return tr
}

// A download in chunks, one of them corrupted: the good chunks verify, the
// bad one is named by offset and length, and the check stops there.
func TestVerifyCatchesTheBadChunk(t *testing.T) {
	data := largeFile(100*BlockSize + 77) // full depth 7
	tr := treeOf(t, data, 4)              // chunks of 8 KiB, the last 4173 bytes
	chunk := tr.ChunkSize()
	require.Equal(t, int64(8*BlockSize), chunk)
	require.Len(t, tr.Levels[4], 13)

	n, err := tr.Verify(0, data)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), n)

	bad := append([]byte(nil), data...)
	bad[5*chunk+100] ^= 1
	n, err = tr.Verify(0, bad)
	assert.Equal(t, 5*chunk, n, "the chunks before the bad one are verified")
	var mm *MismatchError
	require.ErrorAs(t, err, &mm)
	assert.True(t, errors.Is(err, ErrMismatch))
	assert.Equal(t, MismatchError{Offset: 5 * chunk, Length: chunk}, *mm)

	// From a later chunk boundary, to the end, the last chunk short.
	n, err = tr.Verify(6*chunk, data[6*chunk:])
	require.NoError(t, err)
	assert.Equal(t, int64(len(data))-6*chunk, n)

	// A corrupted last, partial chunk.
	bad = append([]byte(nil), data...)
	bad[len(bad)-1] ^= 0x80
	_, err = tr.Verify(12*chunk, bad[12*chunk:])
	require.ErrorAs(t, err, &mm)
	assert.Equal(t, MismatchError{Offset: 12 * chunk, Length: int64(len(data)) - 12*chunk}, *mm)

	// A range that stops inside a chunk: the whole chunks before verify,
	// the rest is not counted.
	n, err = tr.Verify(chunk, data[chunk:3*chunk+10])
	require.NoError(t, err)
	assert.Equal(t, 2*chunk, n)
}

func TestCheckerStreams(t *testing.T) {
	data := largeFile(100*BlockSize + 77)
	tr := treeOf(t, data, 5)
	chunk := tr.ChunkSize()
	c, err := tr.NewChecker(2 * chunk)
	require.NoError(t, err)
	for p := data[2*chunk:]; len(p) > 0; {
		k := min(len(p), 999)
		n, err := c.Write(p[:k])
		require.NoError(t, err)
		require.Equal(t, k, n)
		p = p[k:]
	}
	assert.Equal(t, int64(len(data)), c.Verified())
	_, err = c.Write([]byte{0})
	assert.ErrorIs(t, err, ErrRange, "past the end of the file")

	c, err = tr.NewChecker(0)
	require.NoError(t, err)
	bad := append([]byte(nil), data[:3*chunk]...)
	bad[chunk+chunk/2] ^= 4
	n, err := c.Write(bad)
	assert.ErrorIs(t, err, ErrMismatch)
	assert.Equal(t, int(2*chunk), n, "Write stops at the end of the bad chunk")
	assert.Equal(t, chunk, c.Verified())
	_, err = c.Write(data[2*chunk:])
	assert.ErrorIs(t, err, ErrMismatch, "a Checker that failed stays failed")
}

func TestVerifyRefusesMisalignedRanges(t *testing.T) {
	data := largeFile(10 * BlockSize)
	tr := treeOf(t, data, 2)
	for _, off := range []int64{-1, 1, tr.ChunkSize() + 1, int64(len(data)), int64(len(data)) + tr.ChunkSize()} {
		_, err := tr.Verify(off, data[:1])
		assert.ErrorIs(t, err, ErrRange, "offset %d", off)
	}
}

func TestVerifyNode(t *testing.T) {
	data := largeFile(100*BlockSize + 77)
	tr := treeOf(t, data, 7)
	for depth := 0; depth <= 7; depth++ {
		seg := SegmentSize(tr.Size, depth)
		for i := range tr.Levels[depth] {
			start := int64(i) * seg
			part := data[start:min(start+seg, tr.Size)]
			require.NoError(t, tr.VerifyNode(depth, i, part), "depth %d node %d", depth, i)
		}
	}
	assert.ErrorIs(t, tr.VerifyNode(7, 3, data[3*BlockSize:4*BlockSize-1]), ErrRange, "short")
	bad := append([]byte(nil), data[3*BlockSize:4*BlockSize]...)
	bad[0]++
	assert.ErrorIs(t, tr.VerifyNode(7, 3, bad), ErrMismatch)
	assert.ErrorIs(t, tr.VerifyNode(8, 0, nil), ErrRange)
}

func TestVerifyEmptyFile(t *testing.T) {
	tr := treeOf(t, nil, 0)
	n, err := tr.Verify(0, nil)
	require.NoError(t, err)
	assert.Zero(t, n)
	other := &Tree{Size: 0, Levels: [][]wire.TTH{{{1}}}}
	_, err = other.Verify(0, nil)
	assert.ErrorIs(t, err, ErrMismatch)
	assert.NoError(t, tr.VerifyNode(0, 0, nil))
}
