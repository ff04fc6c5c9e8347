//go:build !purego

package thex

// The assembly in tiger_amd64.s: Tiger's compression function with the
// S-box indices taken a byte register at a time (AL and AH, then shifted),
// one state (blockAMD64) or two independent ones interleaved round by
// round (block2AMD64).

//go:noescape
func blockAMD64(s *[3]uint64, p *byte, n int)

//go:noescape
func block2AMD64(s0, s1 *[3]uint64, p0, p1 *byte, n int)

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
	if n := len(p0) / tigerBlock; n > 0 {
		block2AMD64(s0, s1, &p0[0], &p1[0], n)
	}
}
