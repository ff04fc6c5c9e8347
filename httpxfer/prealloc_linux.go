package httpxfer

import (
	"os"

	"golang.org/x/sys/unix"
)

// preallocate gives f the blocks of a file of size bytes, keeping its
// size (a resume reads what the .part holds from it). Best effort: where
// the file system cannot, blocks come as bytes are written, as before.
//
// On ext4 with delayed allocation, the commit's fsync otherwise allocates
// the blocks of what was written since the last one, holding the inode's
// i_data_sem; a worker's pwrite or splice that meets it blocks, holding
// the inode lock every other writer needs, and the cores idle until the
// allocation is done. Preallocated, writeback only writes.
func preallocate(f *os.File, size int64) {
	if size <= 0 {
		return
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.Fallocate(int(fd), unix.FALLOC_FL_KEEP_SIZE, 0, size)
	})
}
