package thex

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

func mustTTH(t testing.TB, b32 string) wire.TTH {
	t.Helper()
	r, err := wire.ParseTTHBase32([]byte(b32))
	require.NoError(t, err)
	return r
}

// The THEX spec's test vectors (Chapweske and Mohr, "Tree Hash EXchange
// format", section "Test Vectors"; gtk-gnutella's tt_check runs the same).
func TestTHEXSpecVectors(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		root string
	}{
		{"empty file", nil, "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ"},
		{"a single zero byte", []byte{0}, "VK54ZIEEVTWNAUI5D5RDFIL37LX2IQNSTAXFKSA"},
		{"1024 'A' (one whole leaf)", bytes.Repeat([]byte("A"), 1024), "L66Q4YVNAFWVS23X2HJIRA5ZJ7WXR3F26RSASFA"},
		{"1025 'A' (two leaves)", bytes.Repeat([]byte("A"), 1025), "PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := mustTTH(t, c.root)
			assert.Equal(t, want, Root(c.in))
			// One byte at a time through the streaming builder.
			b := NewBuilder()
			for i := range c.in {
				b.Write(c.in[i : i+1])
			}
			tr := b.Tree()
			assert.Equal(t, want, tr.Root())
			assert.Equal(t, int64(len(c.in)), tr.Size)
			assert.Zero(t, tr.Depth(), "gtk-gnutella serves the root alone below 256 KiB")
		})
	}
	assert.Equal(t, Tiger([]byte{0}), Root(nil), "the empty file's root is Tiger(0x00)")
}

// largeFile is the file of testdata/gtkg-tigertree-large.txt.
func largeFile(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(uint32(i) * 0x9E3779B1 >> 24)
	}
	return b
}

// A 5 MiB file against gtk-gnutella's own tigertree.o: the root, and the 21
// nodes it keeps at its good depth 5. The Builder folds its leaves once on
// the way (past 4096).
func TestLargeFileMatchesGtkGnutella(t *testing.T) {
	f, err := os.Open("testdata/gtkg-tigertree-large.txt")
	require.NoError(t, err)
	defer f.Close()
	var head []string
	var nodes []wire.TTH
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		switch line := sc.Text(); {
		case strings.HasPrefix(line, "#"):
		case head == nil:
			head = strings.Fields(line)
		default:
			nodes = append(nodes, mustTTH(t, line))
		}
	}
	require.NoError(t, sc.Err())
	require.Len(t, head, 8)
	size, err := strconv.Atoi(head[1])
	require.NoError(t, err)
	depth, err := strconv.Atoi(head[5])
	require.NoError(t, err)

	data := largeFile(size)
	b := NewBuilder()
	for p := data; len(p) > 0; {
		n := min(len(p), 65536+3)
		b.Write(p[:n])
		p = p[n:]
	}
	tr := b.Tree()
	assert.Equal(t, mustTTH(t, head[3]), tr.Root())
	require.Equal(t, depth, tr.Depth())
	assert.Equal(t, 5, GoodDepth(int64(size)))
	assert.Equal(t, nodes, tr.Levels[depth])
	assert.Equal(t, int64(256<<10), tr.ChunkSize())
	assert.Equal(t, 13, FullDepth(int64(size)))
}

// naiveTree computes every level of a file's tree, leaves first: the
// definition, with github.com/cxmcc/tiger's Tiger, to check the Builder's
// bounded bookkeeping and its own Tiger against.
func naiveTree(data []byte) [][]wire.TTH {
	var leaves []wire.TTH
	for off := 0; off < len(data) || off == 0; off += BlockSize {
		leaves = append(leaves, refTiger([]byte{0x00}, data[off:min(off+BlockSize, len(data))]))
		if len(data) == 0 {
			break
		}
	}
	levels := [][]wire.TTH{leaves}
	for len(levels[0]) > 1 {
		levels = append([][]wire.TTH{refParents(levels[0])}, levels...)
	}
	return levels
}

// With a tiny fold limit the Builder folds its kept level again and again;
// every level it can still give must equal the definition's, at every file
// size around block and power-of-two boundaries.
func TestBuilderFoldsMatchDefinition(t *testing.T) {
	data := largeFile(70 * BlockSize)
	for _, keep := range []int{2, 4, 8} {
		for _, n := range []int{0, 1, 1023, 1024, 1025, 2047, 2048, 2049, 3 * 1024, 4*1024 + 1, 7 * 1024, 8 * 1024, 8*1024 + 1, 33 * 1024, 64 * 1024, 70 * 1024} {
			want := naiveTree(data[:n])
			b := NewBuilder()
			b.m.keep = keep
			b.Write(data[:n/3])
			b.Write(data[n/3 : n])
			for d := range len(want) {
				tr := b.TreeToDepth(d)
				require.LessOrEqual(t, tr.Depth(), d)
				for k := range tr.Depth() + 1 {
					require.Equal(t, want[k], tr.Levels[k], "keep %d size %d depth %d level %d", keep, n, d, k)
				}
				if tr.Depth() < d {
					// Folded away: at least keep/2 nodes are left at the deepest level.
					assert.GreaterOrEqual(t, len(tr.Levels[tr.Depth()]), keep/2, "keep %d size %d", keep, n)
				}
			}
		}
	}
}

// The depth policy is gtk-gnutella's tt_good_depth, and the level sizes
// its tt_node_count_at_depth.
func TestDepthPolicy(t *testing.T) {
	cases := []struct {
		size  int64
		depth int
	}{
		{0, 0}, {256<<10 - 1, 0}, {256 << 10, 1}, {512 << 10, 2}, {1 << 20, 3}, {2 << 20, 4},
		{4 << 20, 5}, {64<<20 - 1, 8}, {64 << 20, 9}, {256 << 20, 10}, {1 << 30, MaxDepth}, {1 << 40, MaxDepth},
	}
	for _, c := range cases {
		assert.Equal(t, c.depth, GoodDepth(c.size), "size %d", c.size)
		assert.LessOrEqual(t, NodeCount(c.size, c.depth), int64(1)<<MaxDepth)
	}
	assert.Equal(t, int64(100), NodeCount(102400, 7))
	assert.Equal(t, int64(50), NodeCount(102400, 6))
	assert.Equal(t, int64(1), NodeCount(102400, 0))
	assert.Equal(t, 7, FullDepth(102400))
	assert.Equal(t, int64(BlockSize<<7), SegmentSize(102400, 0))
	const maxSize = 1<<63 - 1
	assert.Equal(t, int64(1)<<53, Blocks(maxSize), "no overflow at the largest size")
	assert.Equal(t, 53, FullDepth(maxSize))
	assert.Equal(t, int64(1)<<MaxDepth, NodeCount(maxSize, MaxDepth))
}

func TestNewTreeRefusesWrongCounts(t *testing.T) {
	_, err := NewTree(102400, 7, make([]wire.TTH, 99))
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = NewTree(102400, 8, make([]wire.TTH, 100))
	assert.ErrorIs(t, err, ErrMalformed, "deeper than the leaves")
	_, err = NewTree(-1, 0, make([]wire.TTH, 1))
	assert.ErrorIs(t, err, ErrMalformed)
}

// A merkle that keeps level top (the Checker's) lifts whole runs of leaves
// a level at a time where they start a subtree; at every top, for writes
// that start on and off a leaf's and a subtree's boundary, its nodes must
// be the definition's.
func TestMerkleRunsMatchDefinition(t *testing.T) {
	data := largeFile(203*BlockSize + 5)
	want := naiveTree(data)
	r := rand.New(rand.NewPCG(6, 15))
	splits := map[string]func() int{
		"whole":           func() int { return len(data) },
		"64 KiB":          func() int { return 64 << 10 },
		"leaf by leaf":    func() int { return BlockSize },
		"3 leaves":        func() int { return 3 * BlockSize },
		"odd leaves":      func() int { return (1 + 2*r.IntN(40)) * BlockSize },
		"any size":        func() int { return 1 + r.IntN(80*BlockSize) },
		"1023 then 1025s": func() int { return BlockSize + 1 - 2*r.IntN(2) },
		"1.5 KiB":         func() int { return 1536 },
		"2 leaves":        func() int { return 2 * BlockSize },
		"16 KiB":          func() int { return 16 << 10 },
		"64 KiB + 1":      func() int { return 64<<10 + 1 },
		"under 3 leaves":  func() int { return 1 + r.IntN(3*BlockSize) },
	}
	for name, next := range splits {
		for top := range len(want) {
			m := newMerkle(top)
			for p := data; len(p) > 0; {
				k := min(len(p), next())
				m.write(p[:k])
				p = p[k:]
			}
			require.Equal(t, want[len(want)-1-top], m.finish(), "%s, top %d", name, top)
		}
	}
}

// FullDepth, computed in constant time, is the number of pairings that
// take the leaves to the root, by the definition, around every power of
// two of blocks.
func TestFullDepthByDefinition(t *testing.T) {
	byDefinition := func(size int64) int {
		d := 0
		for n := Blocks(size); n > 1; n = (n + 1) / 2 {
			d++
		}
		return d
	}
	sizes := []int64{0, 1, BlockSize - 1, BlockSize, 1<<63 - 1}
	for k := 10; k < 63; k++ {
		sizes = append(sizes, 1<<k-1, 1<<k, 1<<k+1)
	}
	for _, size := range sizes {
		assert.Equal(t, byDefinition(size), FullDepth(size), "size %d", size)
	}
}
