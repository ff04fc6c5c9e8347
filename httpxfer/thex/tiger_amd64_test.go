//go:build !purego

package thex

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Without AVX2, block3 is block2 and block.
func TestBlock3WithoutAVX2(t *testing.T) {
	defer func(had bool) { hasAVX2 = had }(hasAVX2)
	hasAVX2 = false
	checkBlocksMatchGeneric(t)
	require.Empty(t, mismatchWithReference(referenceInputs(5)[:300]))
}

// block3AMD64 computes the next blocks' words while it hashes the current
// ones: it must read no byte past the last block. Each message ends where
// an unreadable page begins.
func TestBlock3ReadsNothingPastTheEnd(t *testing.T) {
	page := unix.Getpagesize()
	var msgs [3][]byte
	for k := range msgs {
		mem, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
		require.NoError(t, err)
		defer unix.Munmap(mem)
		require.NoError(t, unix.Mprotect(mem[page:], unix.PROT_NONE))
		r := rand.New(rand.NewPCG(7, uint64(k)))
		for i := range page {
			mem[i] = byte(r.Uint32())
		}
		msgs[k] = mem[:page]
	}
	for n := 1; n <= 20; n++ {
		var m [3][3][]byte
		var want, got [3][3]uint64
		for k := range m {
			m[k][1] = msgs[k][page-n*tigerBlock:]
			want[k] = [3]uint64{uint64(k), 2, 3}
			got[k] = want[k]
			blockGeneric(&want[k], m[k][1])
		}
		block3(&got, &m)
		require.Equal(t, want, got, "%d blocks", n)
	}
}
