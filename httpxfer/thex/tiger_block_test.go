package thex

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cxmcc/tiger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// refTiger is Tiger(prefix || b) by github.com/cxmcc/tiger: an
// implementation with S-boxes of its own, copied from the authors'
// sboxes.c, to check ours (made by genSboxes) and our compression
// functions against.
func refTiger(prefix, b []byte) wire.TTH {
	h := tiger.New()
	h.Write(prefix)
	h.Write(b)
	return wire.TTH(h.Sum(nil))
}

func refParents(level []wire.TTH) []wire.TTH {
	var up []wire.TTH
	for i := 0; i+1 < len(level); i += 2 {
		up = append(up, refTiger([]byte{0x01}, append(level[i][:], level[i+1][:]...)))
	}
	if len(level)%2 == 1 {
		up = append(up, level[len(level)-1])
	}
	return up
}

// referenceInputs are random messages of every length 0..2100 (each 0..3
// bytes off an aligned start, as the bytes of a socket read may lie) and a
// few large ones up to 320 KiB: the small ones alone are 34 000 blocks,
// so every S-box entry is looked up thousands of times.
func referenceInputs(seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 15))
	random := func(n int) []byte {
		b := make([]byte, n+3)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		off := r.IntN(4)
		return b[off : off+n]
	}
	var in [][]byte
	for n := 0; n <= 2100; n++ {
		in = append(in, random(n))
	}
	for range 3 {
		in = append(in, random(64<<10+r.IntN(256<<10)))
	}
	return in
}

// mismatchWithReference compares every way this package computes Tiger
// (the streaming digest, written whole and in pieces; prefixed, as leaves
// and nodes are hashed; prefixedPair, both halves; leaf3, all three)
// with refTiger on inputs, and describes the first difference ("" when
// there is none).
func mismatchWithReference(inputs [][]byte) string {
	for i, b := range inputs {
		want := refTiger(nil, b)
		if got := Tiger(b); got != want {
			return fmt.Sprintf("Tiger of %d bytes: %x, want %x", len(b), got, want)
		}
		var d digest
		d.Reset()
		for p := b; len(p) > 0; {
			n := min(len(p), 1+(len(p)*7)%97)
			d.Write(p[:n])
			p = p[n:]
		}
		if got := d.sum(); got != want {
			return fmt.Sprintf("Tiger of %d bytes written in pieces: %x, want %x", len(b), got, want)
		}
		for _, prefix := range []byte{0x00, 0x01} {
			wantP := refTiger([]byte{prefix}, b)
			if got := prefixed(prefix, b); got != wantP {
				return fmt.Sprintf("Tiger(%#x || %d bytes): %x, want %x", prefix, len(b), got, wantP)
			}
			// Paired with the next input of the same length (the reversed
			// bytes of the next one), so each side has its own data.
			other := bytes.Clone(inputs[(i+1)%len(inputs)])
			other = append(other, b...)[:len(b)]
			for k, l := 0, len(other)-1; k < l; k, l = k+1, l-1 {
				other[k], other[l] = other[l], other[k]
			}
			g0, g1 := prefixedPair(prefix, b, other)
			w1 := refTiger([]byte{prefix}, other)
			if g0 != wantP || g1 != w1 {
				return fmt.Sprintf("pair of %d bytes with prefix %#x: %x %x, want %x %x", len(b), prefix, g0, g1, wantP, w1)
			}
			// Three whole leaves together, each place with other bytes:
			// b, other, and b with every byte complemented.
			if prefix == 0x00 && len(b) == BlockSize {
				third := bytes.Clone(b)
				for k := range third {
					third[k] ^= 0xff
				}
				w2 := refTiger([]byte{prefix}, third)
				var g [3]wire.TTH
				if leaf3(&g, other, third, b); g != [3]wire.TTH{w1, w2, wantP} {
					return fmt.Sprintf("three whole leaves: %x, want %x %x %x", g, w1, w2, wantP)
				}
			}
		}
	}
	return ""
}

func TestTigerMatchesReference(t *testing.T) {
	assert.Empty(t, mismatchWithReference(referenceInputs(1)))
}

// The comparison above must see one wrong S-box entry: flip one bit of
// one entry in each box in turn (a byte of it the rounds use) and it must
// report a difference.
func TestReferenceComparisonCatchesOneWrongEntry(t *testing.T) {
	in := referenceInputs(2)
	r := rand.New(rand.NewPCG(3, 15))
	for box := range sbox {
		i, bit := r.IntN(256), r.IntN(64)
		t.Run(fmt.Sprintf("t%d[%d] bit %d", box+1, i, bit), func(t *testing.T) {
			sbox[box][i] ^= 1 << bit
			defer func() { sbox[box][i] ^= 1 << bit }()
			assert.NotEmpty(t, mismatchWithReference(in))
		})
	}
	require.Empty(t, mismatchWithReference(in[:100]), "the S-boxes were not restored")
}

// The compression functions the build uses (the assembly on amd64) against
// the Go one, on random states and every block count up to 40, one state,
// two and three.
func TestBlockMatchesGeneric(t *testing.T) { checkBlocksMatchGeneric(t) }

func checkBlocksMatchGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 15))
	state := func() [3]uint64 { return [3]uint64{r.Uint64(), r.Uint64(), r.Uint64()} }
	data := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	for n := 0; n <= 40; n++ {
		p0, p1, p2 := data(n*tigerBlock+r.IntN(tigerBlock)), data(n*tigerBlock), data(n*tigerBlock+r.IntN(tigerBlock))
		s0, s1, s2 := state(), state(), state()
		want0, want1, want2 := s0, s1, s2
		blockGeneric(&want0, p0)
		blockGeneric(&want1, p1)
		blockGeneric(&want2, p2)
		got := s0
		block(&got, p0)
		require.Equal(t, want0, got, "block, %d blocks", n)
		got0, got1 := s0, s1
		block2(&got0, &got1, p0, p1)
		require.Equal(t, want0, got0, "block2 first state, %d blocks", n)
		require.Equal(t, want1, got1, "block2 second state, %d blocks", n)
		// In three parts, cut at the same random blocks.
		cut1 := r.IntN(n+1) * tigerBlock
		cut2 := cut1 + r.IntN(n+1-cut1/tigerBlock)*tigerBlock
		parts := func(p []byte) [3][]byte { return [3][]byte{p[:cut1], p[cut1:cut2], p[cut2:]} }
		got3 := [3][3]uint64{s0, s1, s2}
		block3(&got3, &[3][3][]byte{parts(p0), parts(p1), parts(p2)})
		require.Equal(t, [3][3]uint64{want0, want1, want2}, got3, "block3, %d blocks cut at %d and %d", n, cut1, cut2)
	}
}

// leaves and parents, which take as many nodes as they are given three at
// a time and the rest in pairs or alone (parents a batch at a time),
// against the definition for every count up to 70 and around two and
// three batches of parents.
func TestLeavesAndParentsMatchReference(t *testing.T) {
	counts := []int{}
	for n := 0; n <= 70; n++ {
		counts = append(counts, n)
	}
	for _, n := range []int{2 * nodeBatch, 3 * nodeBatch} {
		counts = append(counts, n-3, n-2, n-1, n, n+1, n+2, n+3, n+4, n+5)
	}
	data := largeFile(counts[len(counts)-1] * BlockSize)
	for _, n := range counts {
		p := data[:n*BlockSize]
		got := make([]wire.TTH, n)
		leaves(got, p)
		want := make([]wire.TTH, n)
		for i := range want {
			want[i] = refTiger([]byte{0x00}, p[i*BlockSize:(i+1)*BlockSize])
		}
		require.Equal(t, want, got, "%d leaves", n)
		require.Equal(t, refParents(want), parents(nil, want), "parents of %d nodes", n)
		// In place, as the Builder folds its level.
		up := parents(got[:0], got)
		require.Equal(t, len(refParents(want)), len(up), "parents of %d nodes in place", n)
		if n > 0 {
			require.Equal(t, refParents(want), up, "parents of %d nodes in place", n)
		}
	}
}

// nodesAlone, which hashes one-block messages three at a time in one
// call (nodes3AMD64 on amd64) and the one or two left over together,
// against the Go compression function for every count up to 60 (more
// than a call takes).
func checkNodesMatchGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 15))
	blks := make([][tigerBlock]byte, 60)
	for i := range blks {
		for k := range blks[i] {
			blks[i][k] = byte(r.Uint32())
		}
	}
	for n := 0; n <= len(blks); n++ {
		want := make([]wire.TTH, n)
		for i := range want {
			s := tigerInit
			blockGeneric(&s, blks[i][:])
			want[i] = digestOf(&s)
		}
		got := make([]wire.TTH, n)
		nodesAlone(got, blks[:n])
		require.Equal(t, want, got, "%d blocks alone", n)
	}
}

func TestNodesMatchGeneric(t *testing.T) { checkNodesMatchGeneric(t) }

// FuzzParents: parents of any level (the nodes cut from the input)
// against the definition, into a new slice and in place.
func FuzzParents(f *testing.F) {
	for _, n := range []int{0, 1, 2, 3, 5, 6, 7, 95, 96, 97, 200} {
		f.Add(largeFile(n * Size))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		level := make([]wire.TTH, min(len(b)/Size, 4*nodeBatch))
		for i := range level {
			level[i] = wire.TTH(b[i*Size:])
		}
		want := refParents(level)
		require.Equal(t, want, parents(nil, level), "parents of %d nodes", len(level))
		up := parents(level[:0], level)
		require.Equal(t, len(want), len(up), "parents of %d nodes in place", len(level))
		if len(want) > 0 {
			require.Equal(t, want, up, "parents of %d nodes in place", len(level))
		}
	})
}
