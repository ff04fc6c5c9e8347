//go:build unix

package httpxfer

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// openNoFollow opens path unless it is a symbolic link (O_NOFOLLOW: no
// window between a check and the open).
func openNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW, perm)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("refusing %s: %s is a symbolic link: %w", path, path, errSymlink)
	}
	return f, err
}

// LockFile takes an exclusive flock(2) on f without waiting; ErrLocked
// when another descriptor holds it. The lock goes with the last
// descriptor of the open file, so a crashed or killed process holds none.
// (The servent locks its data directory with it too.)
func LockFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		ferr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
	}); err != nil {
		return err
	}
	if errors.Is(ferr, syscall.EWOULDBLOCK) {
		return ErrLocked
	}
	return ferr
}
