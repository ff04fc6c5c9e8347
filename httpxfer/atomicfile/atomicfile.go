// Package atomicfile is the one writer of the servent's state files, so
// that a crash leaves the old content or the new, never a mix. Write
// replaces a file: a download's .part.state, the PARQ upload queue and
// the TLS cache (httpxfer), the host cache and what the bootstrapper
// learnt of host caches (GWebCaches and UDP host caches), the
// library index and its THEX tree cache, the servent GUID and its TLS key
// and certificate, and the control API's download queue and address
// file. Create makes a file once and keeps it: the control API's token.
// Package smallfile, beside it, reads such files back within a bound.
//
// It sits under httpxfer, the lowest of the packages that keep state
// files, so that all of them may import it in the architecture's direction
// (wire <- router <- servent -> httpxfer): servent and its subpackages
// import httpxfer, httpxfer imports nothing of the servent.
package atomicfile

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"sync"
)

// Write replaces name with b. It writes name+".tmp", flushes it to disk,
// renames it over name and flushes the directory, so that the rename itself
// survives a crash. The directory is created if need be.
//
// Symbolic links are never followed: a leftover temporary file or a link
// planted under its name is removed and the temporary created afresh
// (O_EXCL), and the rename replaces a link at name instead of writing
// through it. Writes of one name must not overlap: the callers serialise
// them (a mutex per file, or the download's lock on its .part). The file
// is owner-only (0o600): its callers write servent state, nobody else's
// business.
func Write(name string, b []byte) error { return WritePerm(name, b, 0o600) }

// WritePerm is Write for a file made with permissions perm (before the
// umask), such as 0o600 for a private key: the temporary file has them from
// its creation, so the content is never readable by others, even for a
// moment.
func WritePerm(name string, b []byte, perm os.FileMode) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := name + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// Create makes name with content b and permissions perm (as given: the
// umask does not narrow them), unless name exists: then it returns an
// error matching fs.ErrExist and leaves the file as it was. It writes a
// temporary file of a name of its own, flushes it, links it to name and
// flushes the directory, so that no reader ever sees name partly written
// or with looser permissions, and of two callers at once (two daemons
// starting on one data directory) exactly one makes the file. It is for a
// file made once and kept, such as the control API's token; Write
// replaces.
func Create(name string, b []byte, perm os.FileMode) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(name)+".tmp*") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, name); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir flushes the directory dir to disk, so that a rename or a link
// made in it survives a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Last is Write for state saved now and then, as the servent saves its
// host and TLS caches while it runs: it remembers the SHA-256 of the bytes
// it last wrote, and to which file, and skips writing the same bytes to the
// same file again, so that an idle servent does not rewrite (and flush)
// its caches every minute. A write that fails is not remembered. Last
// serialises its writes of a file. The zero Last has written nothing.
type Last struct {
	mu   sync.Mutex
	name string
	sum  [sha256.Size]byte
}

// Write writes b to name as Write does, unless the last successful Write
// through l wrote the same bytes to name. It reports whether it wrote.
func (l *Last) Write(name string, b []byte) (bool, error) {
	sum := sha256.Sum256(b)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.name == name && l.sum == sum {
		return false, nil
	}
	if err := Write(name, b); err != nil {
		return false, err
	}
	l.name, l.sum = name, sum
	return true, nil
}
