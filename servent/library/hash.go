package library

import (
	"context"
	"crypto/sha1"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

// saveEvery bounds the digests lost to a crash during a long first hashing.
const saveEvery = 64

// hashChunk is how much is read between cancellation checks.
const hashChunk = 256 << 10

// Digest is what hashing a file yields: its SHA-1 (urn:sha1) and its Tiger
// tree (THEX) down to the depth gtk-gnutella serves, computed in the same
// pass as gtk-gnutella's huge and tth modules do.
type Digest struct {
	SHA1 wire.SHA1
	Tree *thex.Tree
}

// HashFile returns the SHA-1 and the Tiger tree of the file at path,
// checking ctx between reads so a large file does not delay shutdown.
func HashFile(ctx context.Context, path string) (Digest, error) {
	var d Digest
	f, err := os.Open(path)
	if err != nil {
		return d, fmt.Errorf("hash: %w", err)
	}
	defer f.Close()
	h := sha1.New()
	tb := thex.NewBuilder()
	buf := make([]byte, hashChunk)
	for {
		if err := ctx.Err(); err != nil {
			return d, fmt.Errorf("hash %s: %w", path, err)
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		tb.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return d, fmt.Errorf("hash: %w", err)
		}
	}
	h.Sum(d.SHA1[:0])
	d.Tree = tb.Tree()
	return d, nil
}

// hashJob is a file taken off the queue, as it was when indexed.
type hashJob struct {
	index   uint32
	path    string
	size    int64
	modTime time.Time
}

// HashPending computes the digests of the queued files with HashWorkers
// goroutines and returns when the queue is empty or ctx is done (returning
// ctx.Err()). A file that cannot be hashed stays without a digest until a
// later rescan queues it again. Run calls it after each rescan.
func (l *Library) HashPending(ctx context.Context) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range l.workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				job, ok := l.nextJob()
				if !ok {
					return
				}
				if !l.hashOne(ctx, job) {
					continue
				}
				mu.Lock()
				done++
				checkpoint := done%saveEvery == 0
				mu.Unlock()
				if checkpoint {
					l.saveLogged()
				}
			}
		})
	}
	wg.Wait()
	if done > 0 {
		l.saveLogged()
		l.notify()
	}
	return ctx.Err()
}

// nextJob takes the lowest queued index that is still shared and unhashed.
func (l *Library) nextJob() (hashJob, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.queue) > 0 {
		idx := l.queue[0]
		l.queue = l.queue[1:]
		delete(l.queued, idx)
		if e, ok := l.byIndex[idx]; ok && !e.Hashed {
			return hashJob{index: idx, path: e.Path, size: e.Size, modTime: e.ModTime}, true
		}
	}
	return hashJob{}, false
}

// hashOne hashes one file and records the digest if the file is still the
// one that was queued. It reports whether a digest was recorded.
func (l *Library) hashOne(ctx context.Context, job hashJob) bool {
	dg, err := l.hash(ctx, job.path)
	if err == nil {
		err = sameFile(job)
	}
	if err == nil && dg.Tree != nil && dg.Tree.Size != job.size {
		err = fmt.Errorf("tree of %d bytes for a file of %d", dg.Tree.Size, job.size)
	}
	if err == nil && dg.Tree != nil {
		err = l.storeTree(dg.Tree)
	}
	sum := dg.SHA1
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.byIndex[job.index]
	switch {
	case !ok || e.Hashed:
		return false // removed or changed meanwhile
	case err != nil && ctx.Err() != nil:
		l.queue = insertSorted(l.queue, job.index) // for the next HashPending
		l.queued[job.index] = true
		return false
	case err != nil:
		l.hashErrors++
		l.log.Warn("shared file not hashed", zap.String("path", job.path), zap.Error(err))
		return false
	}
	e.SHA1, e.Hashed = sum, true
	if dg.Tree != nil {
		e.TTH, e.HasTTH = dg.Tree.Root(), true
	}
	l.hashed++
	l.bySHA1[sum] = insertSorted(l.bySHA1[sum], e.Index)
	l.version++
	return true
}

// sameFile checks that the file was not modified while it was hashed.
func sameFile(job hashJob) error {
	info, err := os.Stat(job.path)
	if err != nil {
		return fmt.Errorf("hash: %w", err)
	}
	if info.Size() != job.size || !info.ModTime().Equal(job.modTime) {
		return fmt.Errorf("%w: %s", errChangedWhileHashing, job.path)
	}
	return nil
}
