//go:build !unix

package httpxfer

import (
	"fmt"
	"os"
)

// openNoFollow opens path unless it is a symbolic link. Without
// O_NOFOLLOW the check comes before the open, so a link planted in
// between is followed: only unix closes that window.
func openNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return nil, fmt.Errorf("refusing %s: %s is a symbolic link: %w", path, path, errSymlink)
	}
	return os.OpenFile(path, flag, perm)
}

// LockFile: there is no flock(2) here, so only the Downloader's own
// table refuses a second download of a name, and two servents on one
// data directory are not kept apart.
func LockFile(*os.File) error { return nil }
