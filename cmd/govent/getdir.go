package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// makeDir makes dir and its missing parents, as os.MkdirAll does, and
// returns unmake, which removes the directories makeDir made, innermost
// first, when err is not nil: a failed get leaves no empty --dir of its own
// behind. A directory that was there before, or one that holds anything (a
// .part with data), is never removed: os.Remove refuses a non-empty one.
func makeDir(dir string) (unmake func(err error), err error) {
	var made []string // innermost first
	for d := filepath.Clean(dir); ; {
		if _, err := os.Lstat(d); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		made = append(made, d)
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return func(err error) {
		if err == nil {
			return
		}
		for _, d := range made {
			if os.Remove(d) != nil {
				return
			}
		}
	}, nil
}
