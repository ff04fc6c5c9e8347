//go:build !purego

package thex

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/govent/govent/wire"
)

// Without AVX2, block2 and block3 are block, message by message.
func TestBlocksWithoutAVX2(t *testing.T) {
	defer func(had bool) { hasAVX2 = had }(hasAVX2)
	hasAVX2 = false
	checkBlocksMatchGeneric(t)
	checkNodesMatchGeneric(t)
	require.Empty(t, mismatchWithReference(referenceInputs(5)[:300]))
}

// block2AMD64, block3AMD64 and nodes3AMD64 compute the next blocks' words while they
// hash the current ones: they must read no byte past the last block. Each
// message ends where an unreadable page begins.
func TestBlocksReadNothingPastTheEnd(t *testing.T) {
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
		require.Equal(t, want, got, "block3, %d blocks", n)
		got[0], got[1] = [3]uint64{0, 2, 3}, [3]uint64{1, 2, 3}
		block2(&got[0], &got[1], m[0][1], m[1][1])
		require.Equal(t, want[:2], got[:2], "block2, %d blocks", n)
	}
	// n one-block messages, the last one ending the page.
	blks := unsafe.Slice((*[tigerBlock]byte)(unsafe.Pointer(&msgs[0][0])), page/tigerBlock)
	for n := 0; n <= len(blks); n++ {
		want := make([]wire.TTH, n)
		for i, b := range blks[len(blks)-n:] {
			s := tigerInit
			blockGeneric(&s, b[:])
			want[i] = digestOf(&s)
		}
		got := make([]wire.TTH, n)
		nodesAlone(got, blks[len(blks)-n:])
		require.Equal(t, want, got, "nodesAlone, %d blocks", n)
	}
}
