// Package smallfile reads small files back whole, within a bound: the
// state files atomicfile writes (every one of them, from a download's
// .part.state to the control API's token) and the model files the tools
// take. Such a file may have become huge or endless (a bug, a full disk's
// garbage, /dev/zero linked in its place, a hostile hand in the data
// directory); reading it must not take the memory.
//
// It sits under httpxfer beside atomicfile, for the same reason: httpxfer
// is the lowest of the packages that keep state files, so that all of
// them may import it in the architecture's direction.
package smallfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// ErrBad is wrapped by ReadJSON's error for a file it read but cannot
// use: over its limit (the error wraps ErrTooLarge too), not JSON of v's
// shape, or of another format than the one asked for.
var ErrBad = errors.New("unusable file")

// ReadJSON decodes the JSON file name, at most limit bytes, into v, once
// it checked that the file's "format" field is format: the number its
// writer bumps when the layout changes. It reports whether the file was
// there: a missing file is no error. The caller wraps the error with the
// sentinel of its own file.
func ReadJSON(name string, limit int64, format int, v any) (bool, error) {
	b, err := Read(name, limit)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case errors.Is(err, ErrTooLarge):
		return true, fmt.Errorf("%w: %w", ErrBad, err)
	case err != nil:
		return true, err
	}
	var f struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return true, fmt.Errorf("%w %s: %w", ErrBad, name, err)
	}
	if f.Format != format {
		return true, fmt.Errorf("%w %s: format %d, want %d", ErrBad, name, f.Format, format)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("%w %s: %w", ErrBad, name, err)
	}
	return true, nil
}
