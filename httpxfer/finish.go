package httpxfer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/govent/govent/httpxfer/atomicfile"
)

// discard removes the .part and state: their content is known bad. The
// lock is held until both are gone.
func (j *job) discard() {
	j.mu.Lock()
	j.have = 0
	j.mu.Unlock()
	os.Remove(j.statePath)
	os.Remove(j.partPath)
	j.part.Close()
	j.part = nil
}

// finish links the verified .part to a free final name and removes the
// .part and state file, holding the lock until they are gone: a download
// of the same name that comes next finds the final file, not a .part.
func (j *job) finish() (string, error) {
	final, err := linkUnique(j.partPath, j.cfg.Dir, j.name)
	if err != nil {
		return "", err
	}
	if err := os.Remove(j.statePath); err != nil {
		return final, err
	}
	if err := os.Remove(j.partPath); err != nil {
		return final, err
	}
	err = j.part.Close()
	j.part = nil
	if err != nil {
		return final, err
	}
	return final, atomicfile.SyncDir(j.cfg.Dir)
}

// linkUnique hard-links src as dir/name, or "name (n).ext" when taken. A
// link never replaces an existing file, unlike a rename.
func linkUnique(src, dir, name string) (string, error) {
	for n := range maxCopies {
		p := filepath.Join(dir, numberedName(name, n))
		err := os.Link(src, p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free name for %q in %s", name, dir)
}
