//go:build !purego

package thex

import (
	"golang.org/x/sys/cpu"

	"github.com/govent/govent/wire"
)

// The assembly in tiger_amd64.s: Tiger's compression function with the
// S-box indices taken a byte register at a time (AL and AH, then shifted),
// one state (blockAMD64), or two or three independent ones interleaved
// round by round (block2AMD64, block3AMD64), and three at a time for
// messages of one block each (nodes3AMD64).

//go:noescape
func blockAMD64(s *[3]uint64, p *byte, n int)

//go:noescape
func block2AMD64(s0, s1 *[3]uint64, p0, p1 *byte, n int)

//go:noescape
func block3AMD64(s *[3][3]uint64, p *[3]*byte, n int)

//go:noescape
func nodes3AMD64(out *wire.TTH, p *[3]*byte, n int)

// hasAVX2 says block2 and block3 may use block2AMD64 and block3AMD64,
// whose key schedule is AVX2; without it, each message is hashed alone
// by blockAMD64. A variable for the tests.
var hasAVX2 = cpu.X86.HasAVX2

// block compresses the whole 64-byte blocks of p into s.
func block(s *[3]uint64, p []byte) {
	if n := len(p) / tigerBlock; n > 0 {
		blockAMD64(s, &p[0], n)
	}
}

// block2 compresses the whole blocks of p0 into s0 and those of p1 into
// s1; p0 and p1 have as many.
func block2(s0, s1 *[3]uint64, p0, p1 []byte) {
	if len(p0)/tigerBlock != len(p1)/tigerBlock {
		panic("thex: block2 of unequal lengths")
	}
	switch n := len(p0) / tigerBlock; {
	case n == 0:
	case hasAVX2:
		block2AMD64(s0, s1, &p0[0], &p1[0], n)
	default:
		blockAMD64(s0, &p0[0], n)
		blockAMD64(s1, &p1[0], n)
	}
}

// block3 compresses three messages at once, each in three parts (a leaf
// is its first block framed with the prefix, the blocks of the leaf where
// they lie, and its last block framed with the padding): the whole blocks
// of m[k][0], m[k][1] and m[k][2] in turn into s[k]. The three messages
// have as many blocks in each part. block3AMD64 is given their addresses,
// a leaf's in one call.
func block3(s *[3][3]uint64, m *[3][3][]byte) {
	if !hasAVX2 {
		for k := range m {
			for _, part := range m[k] {
				block(&s[k], part)
			}
		}
		return
	}
	var list [2 + BlockSize/tigerBlock][3]*byte
	n := 0
	for part := range m[0] {
		nb := len(m[0][part]) / tigerBlock
		if len(m[1][part])/tigerBlock != nb || len(m[2][part])/tigerBlock != nb {
			panic("thex: block3 of unequal lengths")
		}
		for i := 0; i < nb*tigerBlock; i += tigerBlock {
			if n == len(list) {
				block3AMD64(s, &list[0], n)
				n = 0
			}
			list[n] = [3]*byte{&m[0][part][i], &m[1][part][i], &m[2][part][i]}
			n++
		}
	}
	if n > 0 {
		block3AMD64(s, &list[0], n)
	}
}

// nodesAlone sets dst[i] to the digest of blks[i] compressed alone from
// Tiger's initial state, its padding in it (an inner node is one block):
// three at a time in one call to nodes3AMD64, which writes the states
// into dst as they are, a state being its digest on a little-endian
// machine; the one or two left over together.
func nodesAlone(dst []wire.TTH, blks [][tigerBlock]byte) {
	if len(dst) != len(blks) {
		panic("thex: nodesAlone of unequal lengths")
	}
	if !hasAVX2 {
		for i := range blks {
			s := tigerInit
			block(&s, blks[i][:])
			dst[i] = digestOf(&s)
		}
		return
	}
	var list [nodeBatch / 3][3]*byte
	for len(blks) >= 3 {
		n := min(len(blks)/3, len(list))
		for i := range n {
			list[i] = [3]*byte{&blks[3*i][0], &blks[3*i+1][0], &blks[3*i+2][0]}
		}
		nodes3AMD64(&dst[0], &list[0], n)
		dst, blks = dst[3*n:], blks[3*n:]
	}
	s0, s1 := tigerInit, tigerInit
	switch len(blks) {
	case 2:
		block2AMD64(&s0, &s1, &blks[0][0], &blks[1][0], 1)
		dst[0], dst[1] = digestOf(&s0), digestOf(&s1)
	case 1:
		blockAMD64(&s0, &blks[0][0], 1)
		dst[0] = digestOf(&s0)
	}
}
