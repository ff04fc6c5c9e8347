// Package smallfile reads small files back whole, within a bound: the
// state files atomicfile writes (a download's .part.state, the host cache,
// the host caches' state) and the model files the tools take. Such a file
// may have become huge or endless (a bug, a full disk's garbage, /dev/zero
// linked in its place, a hostile hand in the data directory); reading it
// must not take the memory.
//
// It sits under httpxfer beside atomicfile, for the same reason: httpxfer
// is the lowest of the packages that keep state files, so that all of
// them may import it in the architecture's direction.
package smallfile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooLarge is wrapped by the error for a file over its limit.
var ErrTooLarge = errors.New("file over its size limit")

// Read returns the content of the file name, at most limit bytes. A file
// of more is refused with an error that names it and the limit and wraps
// ErrTooLarge; whatever its size, no more than limit+1 bytes are read.
// A missing file's error wraps fs.ErrNotExist, as os.Open's does.
func Read(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadOpen(f, limit)
}

// ReadOpen is Read for a file the caller opened its own way (without
// following a symbolic link, say), just opened: at offset 0. It does not
// close it.
func ReadOpen(f *os.File, limit int64) ([]byte, error) {
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > limit {
		return nil, tooLarge(f.Name(), limit) // refused before a byte is read
	}
	// The size may lie (a file still growing, a device, a FIFO): the
	// limit is enforced on what is read.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(f.Name(), limit)
	}
	return b, nil
}

func tooLarge(name string, limit int64) error {
	return fmt.Errorf("%s: over %d bytes: %w", name, limit, ErrTooLarge)
}
