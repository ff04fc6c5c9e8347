//go:build !amd64 || purego

package thex

import "github.com/govent/govent/wire"

// block compresses the whole 64-byte blocks of p into s.
func block(s *[3]uint64, p []byte) { blockGeneric(s, p) }

// block2 compresses the whole blocks of p0 into s0 and those of p1 into
// s1; p0 and p1 have as many.
func block2(s0, s1 *[3]uint64, p0, p1 []byte) {
	if len(p0)/tigerBlock != len(p1)/tigerBlock {
		panic("thex: block2 of unequal lengths")
	}
	blockGeneric(s0, p0)
	blockGeneric(s1, p1)
}

// block3 compresses the whole blocks of m[k][0], m[k][1] and m[k][2] in
// turn into s[k] (see tiger_amd64.go).
func block3(s *[3][3]uint64, m *[3][3][]byte) {
	for k := range m {
		for _, part := range m[k] {
			blockGeneric(&s[k], part)
		}
	}
}

// nodesAlone sets dst[i] to the digest of blks[i] compressed alone from
// Tiger's initial state (see tiger_amd64.go).
func nodesAlone(dst []wire.TTH, blks [][tigerBlock]byte) {
	if len(dst) != len(blks) {
		panic("thex: nodesAlone of unequal lengths")
	}
	for i := range blks {
		s := tigerInit
		blockGeneric(&s, blks[i][:])
		dst[i] = digestOf(&s)
	}
}
