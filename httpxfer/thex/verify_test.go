package thex

import (
	"errors"
	"math/rand/v2"
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

// writePatterns are the sizes a download's writes come in (whatever a
// socket read returned): each func gives the next write's size.
func writePatterns(r *rand.Rand) map[string]func() int {
	return map[string]func() int{
		"1.5 KiB":     func() int { return 1536 },
		"16 KiB":      func() int { return 16 << 10 },
		"64 KiB":      func() int { return 64 << 10 },
		"1 byte":      func() int { return 1 },
		"1 leaf":      func() int { return BlockSize },
		"2 leaves":    func() int { return 2 * BlockSize },
		"4 leaves":    func() int { return 4 * BlockSize },
		"odd 4093":    func() int { return 4093 },
		"odd 9000":    func() int { return 9000 },
		"random":      func() int { return 1 + r.IntN(70<<10) },
		"random tiny": func() int { return 1 + r.IntN(3*BlockSize) },
	}
}

// Leaves wait across writes to be hashed three at a time: for every
// write pattern, writes ending mid-leaf and between leaves, every chunk
// is checked as soon as its last byte is written (Verified moves at
// exactly the chunk ends), the whole file verifies, and a flipped byte
// is caught in its own chunk, wherever the write around it ends.
func TestCheckerWritePatterns(t *testing.T) {
	data := largeFile(203*BlockSize + 5)
	r := rand.New(rand.NewPCG(15, 2))
	for _, depth := range []int{0, 3, 5, 8} {
		tr := treeOf(t, data, depth)
		chunk := tr.ChunkSize()
		for name, next := range writePatterns(r) {
			c, err := tr.NewChecker(0)
			require.NoError(t, err)
			off := int64(0)
			for off < tr.Size {
				k := min(int64(next()), tr.Size-off)
				n, err := c.Write(data[off : off+k])
				require.NoError(t, err, "%s, depth %d, at %d", name, depth, off)
				require.Equal(t, int(k), n)
				off += k
				want := off / chunk * chunk
				if off == tr.Size {
					want = tr.Size
				}
				require.Equal(t, want, c.Verified(), "%s, depth %d, after %d", name, depth, off)
			}

			bad := append([]byte(nil), data...)
			at := r.Int64N(tr.Size)
			bad[at] ^= 0x10
			start := at / chunk * chunk
			c, err = tr.NewChecker(0)
			require.NoError(t, err)
			off, err = 0, nil
			for off < tr.Size && err == nil {
				k := min(int64(next()), tr.Size-off)
				var n int
				n, err = c.Write(bad[off : off+k])
				off += int64(n)
			}
			var mm *MismatchError
			require.ErrorAs(t, err, &mm, "%s, depth %d, byte %d", name, depth, at)
			assert.Equal(t, start, mm.Offset, "%s, depth %d, byte %d", name, depth, at)
			assert.Equal(t, min(start+chunk, tr.Size), off, "Write stops at the end of the bad chunk")
			assert.Equal(t, start, c.Verified())
		}
	}
}

// A Builder asked for its tree between writes (leaves waiting in it) gives
// the tree of the bytes so far, and goes on to the right tree of all.
func TestBuilderTreeBetweenWrites(t *testing.T) {
	data := largeFile(13*BlockSize + 300)
	r := rand.New(rand.NewPCG(2, 15))
	for name, next := range writePatterns(r) {
		b := NewBuilder()
		for off := 0; off < len(data); {
			k := min(next(), len(data)-off)
			b.Write(data[off : off+k])
			off += k
			want := naiveTree(data[:off])
			require.Equal(t, want[len(want)-1], b.TreeToDepth(len(want) - 1).Levels[len(want)-1], "%s, after %d", name, off)
		}
		assert.Equal(t, naiveTree(data)[0][0], b.Root(), name)
	}
}
