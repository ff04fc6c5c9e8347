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

	"github.com/govent/govent/wire"
)

// saveEvery bounds the digests lost to a crash during a long first hashing.
const saveEvery = 64

// hashChunk is how much is read between cancellation checks.
const hashChunk = 256 << 10

// HashFile returns the SHA-1 of the file at path, checking ctx between
// reads so a large file does not delay shutdown.
func HashFile(ctx context.Context, path string) (wire.SHA1, error) {
	var sum wire.SHA1
	f, err := os.Open(path)
	if err != nil {
		return sum, fmt.Errorf("library: hash: %w", err)
	}
	defer f.Close()
	h := sha1.New()
	buf := make([]byte, hashChunk)
	for {
		if err := ctx.Err(); err != nil {
			return sum, fmt.Errorf("library: hash %s: %w", path, err)
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return sum, fmt.Errorf("library: hash: %w", err)
		}
	}
	h.Sum(sum[:0])
	return sum, nil
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
	sum, err := l.hash(ctx, job.path)
	if err == nil {
		err = sameFile(job)
	}
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
		l.log.Warn("library: cannot hash shared file", zap.String("path", job.path), zap.Error(err))
		return false
	}
	e.SHA1, e.Hashed = sum, true
	l.hashed++
	l.bySHA1[sum] = insertSorted(l.bySHA1[sum], e.Index)
	l.version++
	return true
}

// sameFile checks that the file was not modified while it was hashed.
func sameFile(job hashJob) error {
	info, err := os.Stat(job.path)
	if err != nil {
		return fmt.Errorf("library: hash: %w", err)
	}
	if info.Size() != job.size || !info.ModTime().Equal(job.modTime) {
		return fmt.Errorf("%w: %s", errChangedWhileHashing, job.path)
	}
	return nil
}
