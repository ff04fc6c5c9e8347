package library

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// excludedSuffixes name download leftovers: a partial file and its resume
// state must never be offered to others. They are httpxfer's names:
// <name>.part and <name>.part.state.
var excludedSuffixes = []string{".part", ".part.state"}

// scanned is what a walk learned about one shareable file.
type scanned struct {
	size    int64
	modTime time.Time
}

// scanResult is one walk over every shared directory.
type scanResult struct {
	files      map[string]scanned
	dataDir    string // resolved; never shared
	skipped    int
	unreadable int
}

// Rescan walks the shared directories and brings the library up to date:
// new files get fresh indexes, removed ones lose theirs, and a file whose
// size or modification time changed is treated as removed and added again
// (a rename is a removal and an addition too). Files without a digest are
// queued for HashPending. A shared directory that cannot be walked is
// reported (ErrRoot) while the others are still applied, so its files leave
// the library. A cancelled walk changes nothing.
func (l *Library) Rescan(ctx context.Context) (Changes, error) {
	l.scanMu.Lock()
	defer l.scanMu.Unlock()

	res, rootErr := l.walk(ctx)
	if err := ctx.Err(); err != nil {
		return Changes{}, fmt.Errorf("rescan: %w", err)
	}

	l.mu.Lock()
	ch, addErr := l.applyLocked(res)
	l.mu.Unlock()

	var saveErr error
	if ch.Any() {
		saveErr = l.save()
		l.notify()
	}
	err := errors.Join(rootErr, addErr, saveErr)
	l.mu.Lock()
	l.scanned, l.lastChanges = true, ch
	l.mu.Unlock()
	return ch, err
}

// walk lists the shareable files of every shared directory.
func (l *Library) walk(ctx context.Context) (scanResult, error) {
	res := scanResult{files: make(map[string]scanned)}
	if l.dataDir != "" {
		// Compare like with like: the roots are walked resolved.
		res.dataDir = l.dataDir
		if d, err := filepath.EvalSymlinks(l.dataDir); err == nil {
			res.dataDir = d
		}
	}
	var errs []error
	for _, dir := range l.dirs {
		root, err := filepath.EvalSymlinks(dir) // the user chose this link
		if err != nil {
			errs = append(errs, fmt.Errorf("%w %s: %w", ErrRoot, dir, err))
			continue
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return l.visit(&res, root, path, d, err)
		})
		if err != nil && ctx.Err() == nil {
			errs = append(errs, fmt.Errorf("%w %s: %w", ErrRoot, dir, err))
		}
	}
	return res, errors.Join(errs...)
}

// visit decides about one walked entry.
func (l *Library) visit(res *scanResult, root, path string, d fs.DirEntry, err error) error {
	if err != nil {
		if path == root {
			return err
		}
		// An unreadable directory (reported a second time after its
		// entry) or an entry that vanished: skip it, keep walking.
		res.unreadable++
		if d != nil && d.IsDir() {
			return fs.SkipDir
		}
		return nil
	}
	name := d.Name()
	if path != root && strings.HasPrefix(name, ".") {
		res.skipped++
		if d.IsDir() {
			return fs.SkipDir
		}
		return nil
	}
	if d.IsDir() {
		if path == res.dataDir {
			res.skipped++
			return fs.SkipDir
		}
		return nil
	}
	if !d.Type().IsRegular() || hasExcludedSuffix(name) {
		res.skipped++ // symlinks, devices, FIFOs, sockets, leftovers
		return nil
	}
	info, err := d.Info()
	if err != nil {
		res.unreadable++
		return nil
	}
	// Permission bits alone do not tell (root reads anything): try it.
	// Opening a regular file does not block, unlike a FIFO.
	f, err := os.Open(path)
	if err != nil {
		res.unreadable++
		return nil
	}
	f.Close()
	if _, dup := res.files[path]; !dup { // nested shared directories
		res.files[path] = scanned{size: info.Size(), modTime: info.ModTime()}
	}
	return nil
}

func hasExcludedSuffix(name string) bool {
	for _, s := range excludedSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// applyLocked reconciles the library with a walk. Caller holds l.mu.
func (l *Library) applyLocked(res scanResult) (Changes, error) {
	var ch Changes
	l.skipped, l.unreadable = res.skipped, res.unreadable
	for path, e := range l.byPath {
		s, ok := res.files[path]
		switch {
		case !ok:
			ch.Removed++
			l.removeLocked(e)
		case s.size != e.Size || !s.modTime.Equal(e.ModTime):
			ch.Changed++
			l.removeLocked(e)
		}
	}
	// Fresh indexes in path order, so that a rescan is reproducible.
	var added []string
	for path := range res.files {
		if _, ok := l.byPath[path]; !ok {
			added = append(added, path)
		}
	}
	slices.Sort(added)
	var err error
	n := 0
	for _, path := range added {
		if l.nextIndex > math.MaxUint32 {
			err = fmt.Errorf("%w: %d files left out", ErrIndexesExhausted, len(added))
			break
		}
		s := res.files[path]
		l.addLocked(&entry{File: File{
			Index:   uint32(l.nextIndex),
			Name:    filepath.Base(path),
			Path:    path,
			Size:    s.size,
			ModTime: s.modTime,
		}})
		l.nextIndex++
		n++
	}
	// A changed file came back as an addition: count it once.
	ch.Added = max(0, n-ch.Changed)
	for _, e := range l.byIndex {
		if !e.Hashed && !l.queued[e.Index] {
			l.queue = append(l.queue, e.Index)
			l.queued[e.Index] = true
		}
	}
	slices.Sort(l.queue)
	if ch.Any() {
		l.version++
	}
	return ch, err
}

// addLocked indexes e. Caller holds l.mu.
func (l *Library) addLocked(e *entry) {
	e.words = Words(e.Name)
	l.byPath[e.Path] = e
	l.byIndex[e.Index] = e
	l.totalBytes += e.Size
	for _, w := range e.words {
		l.postings[w] = insertSorted(l.postings[w], e.Index)
	}
	if e.Hashed {
		l.hashed++
		l.bySHA1[e.SHA1] = insertSorted(l.bySHA1[e.SHA1], e.Index)
	}
}

// removeLocked forgets e; its index is retired for good. Caller holds l.mu.
func (l *Library) removeLocked(e *entry) {
	delete(l.byPath, e.Path)
	delete(l.byIndex, e.Index)
	l.totalBytes -= e.Size
	for _, w := range e.words {
		if p := deleteSorted(l.postings[w], e.Index); len(p) > 0 {
			l.postings[w] = p
		} else {
			delete(l.postings, w)
		}
	}
	if e.Hashed {
		l.hashed--
		if p := deleteSorted(l.bySHA1[e.SHA1], e.Index); len(p) > 0 {
			l.bySHA1[e.SHA1] = p
		} else {
			delete(l.bySHA1, e.SHA1)
		}
	}
	if l.queued[e.Index] {
		delete(l.queued, e.Index)
		l.queue = deleteSorted(l.queue, e.Index)
	}
}

func insertSorted(s []uint32, v uint32) []uint32 {
	i, found := slices.BinarySearch(s, v)
	if found {
		return s
	}
	return slices.Insert(s, i, v)
}

func deleteSorted(s []uint32, v uint32) []uint32 {
	i, found := slices.BinarySearch(s, v)
	if !found {
		return s
	}
	return slices.Delete(s, i, i+1)
}
