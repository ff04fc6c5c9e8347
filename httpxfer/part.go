package httpxfer

import (
	"errors"
	"fmt"
	"os"

	"github.com/govent/govent/httpxfer/thex"
)

// The .part file: never opened through a symbolic link (someone who can
// write the download directory could otherwise point it, or its state
// file, at any file of ours), and held under an exclusive flock(2) for the
// whole download, so that a second download of the same name, in this
// process or another, is refused instead of writing into it. The lock goes
// with the last descriptor of the file, so a crashed or killed download
// leaves none behind.

// errSymlink is set by openNoFollow.
var errSymlink = errors.New("symbolic link refused")

// ErrLocked is LockFile's answer when another descriptor holds the lock.
var ErrLocked = errors.New("locked")

// openPart opens, creating if needed, and locks the .part at path.
func openPart(path string) (*os.File, error) {
	for range 3 {
		f, err := openNoFollow(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := LockFile(f); err != nil {
			f.Close()
			if errors.Is(err, ErrLocked) {
				return nil, fmt.Errorf("%w: %s is locked by another download", ErrBusy, path)
			}
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		// The download that held the lock before us may have finished
		// and removed the file between our open and our lock: then we
		// hold a lock on a file no one else will open. Open again.
		if fi, err := os.Lstat(path); err == nil && sameFile(f, fi) {
			return f, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("%w: %s keeps being replaced", ErrBusy, path)
}

func sameFile(f *os.File, fi os.FileInfo) bool {
	ffi, err := f.Stat()
	return err == nil && os.SameFile(ffi, fi)
}

// openPartWriter opens another descriptor of the locked .part for one
// worker (each splices at its own offset), checking that the path still
// names it.
func openPartWriter(path string, part *os.File) (*os.File, error) {
	w, err := openNoFollow(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := w.Stat(); err != nil || !sameFile(part, fi) {
		w.Close()
		return nil, fmt.Errorf("%s was replaced during the download", path)
	}
	return w, nil
}

// lockPart opens and locks the .part (creating it empty if needed).
func (j *job) lockPart() error {
	f, err := openPart(j.partPath)
	if err != nil {
		return err
	}
	j.part = f
	return nil
}

// unlockPart closes the .part, which releases the lock. An empty .part
// without a state file holds nothing to resume (the download ended before
// any byte arrived): it is removed first,
// while still locked, so no empty file is left behind.
func (j *job) unlockPart() {
	if j.part == nil {
		return
	}
	if fi, err := j.part.Stat(); err == nil && fi.Size() == 0 {
		if _, err := os.Lstat(j.statePath); errors.Is(err, os.ErrNotExist) {
			if pfi, err := os.Lstat(j.partPath); err == nil && os.SameFile(fi, pfi) {
				_ = os.Remove(j.partPath)
			}
		}
	}
	j.part.Close()
}

// open reads the locked .part's state, resuming from the state file when it
// records progress of this very file (same urn:sha1 and size, in the
// chunk size it was written in), and returns the bytes already there. A
// .part with committed progress of another file is left alone
// (ErrOtherDownload); one without any is emptied.
func (j *job) open() (int64, error) {
	st, err := loadState(j.statePath)
	if errors.Is(err, errSymlink) {
		return 0, err
	}
	if err == nil && st.Version == stateVersion && st.URN == j.urn() && st.Size == j.size &&
		st.ChunkSize > 0 && (j.size+st.ChunkSize-1)/st.ChunkSize <= maxChunks {
		j.chunkSize = st.ChunkSize
		return j.resume(st)
	}
	if err == nil && st.committed() > 0 {
		of := st.URN
		if of == "" {
			of = "a file without urn:sha1"
		}
		return 0, fmt.Errorf("%w: %s holds %d bytes of %s (%d bytes): finish that download, or remove %s and its .state",
			ErrOtherDownload, j.partPath, st.committed(), of, st.Size, j.partPath)
	}
	return 0, j.startOver()
}

// startOver empties the .part. The state goes first, so that a crash in
// between cannot pair old claims with new bytes.
func (j *job) startOver() error {
	j.chunks = make([]chunk, (j.size+j.chunkSize-1)/j.chunkSize)
	j.have = 0
	if err := os.Remove(j.statePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return j.part.Truncate(0)
}

// resume takes the chunks st records, if the .part can back them.
func (j *job) resume(st *stateFile) (int64, error) {
	n := int((j.size + j.chunkSize - 1) / j.chunkSize)
	j.chunks = make([]chunk, n)
	fi, err := j.part.Stat()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, c := range st.Chunks {
		if !j.backed(c, n, fi.Size()) || j.chunks[c.Index].bytes() != 0 {
			// Claims we cannot back are no progress: start over.
			return 0, j.startOver()
		}
		ch := &j.chunks[c.Index]
		*ch = chunk{have: c.Have, by: c.By}
		if c.TailHave > 0 {
			// The tail a faster source was fetching (endgame.go): its
			// bytes were committed as the prefix's were, and the tree or
			// the SHA-1 checks them as the prefix's.
			ch.limit, ch.tail = c.TailAt, &tailSpan{have: c.TailHave, by: c.TailBy}
			j.joinLocked(c.Index)
		}
		total += c.Have + c.TailHave
	}
	proved, err := j.resumeTree(st.Tree, fi.Size())
	if err != nil {
		return 0, err
	}
	total += proved
	j.have = total
	j.resumeQueues(st.Queues)
	return total, nil
}

// resumeTree takes the tree a previous run kept in b, if it hashes up to
// the request's root, and with it the bytes past a chunk's claim that the
// .part (size bytes) holds and the tree proves: whole segments of the
// chunk, from the one its claim ends in, up to the first that does not
// match (a crash loses the bytes written since the last commit from the
// state, not from the disk). It returns how many bytes it added. Bytes it
// cannot prove are fetched again, as before; the split chunks' are left
// as their claims say.
func (j *job) resumeTree(b []byte, size int64) (int64, error) {
	if len(b) == 0 || !j.req.HasTTH {
		return 0, nil
	}
	t, err := thex.DecodeDIME(b, j.size, j.req.TTH)
	if err != nil {
		return 0, nil // not this file's: a source gives it again
	}
	j.setTreeLocked(t)
	j.treeDIME = b
	seg := t.ChunkSize()
	var buf []byte
	var proved int64
	for ci := range j.chunks {
		c := &j.chunks[ci]
		base, l := int64(ci)*j.chunkSize, j.chunkLen(ci)
		for c.tail == nil && c.have < l {
			i := (base + c.have) / seg
			start, end := i*seg, min((i+1)*seg, j.size)
			if start < base || end > base+l || end > size {
				break // not the chunk's alone, or not on disk
			}
			if buf == nil {
				buf = make([]byte, verifyPiece)
			}
			bad, fatal := j.checkSeg(t, int(i), buf)
			if fatal != nil {
				return 0, fatal
			}
			if bad != nil {
				break
			}
			proved += end - base - c.have
			c.have = end - base
			j.segOK[i] = true
		}
	}
	return proved, nil
}

// backed reports whether the .part, of size bytes, can hold what c
// claims for a file of n chunks.
func (j *job) backed(c stateChunk, n int, size int64) bool {
	if c.Index < 0 || c.Index >= n {
		return false
	}
	base, l := int64(c.Index)*j.chunkSize, j.chunkLen(c.Index)
	if c.TailHave == 0 && c.TailAt == 0 {
		return c.Have >= 0 && c.Have <= l && base+c.Have <= size
	}
	return c.Have >= 0 && c.TailAt > 0 && c.Have <= c.TailAt && c.TailHave > 0 &&
		c.TailAt <= l-c.TailHave && base+c.TailAt+c.TailHave <= size
}

// resumeQueues gives the sources the queue places a previous run held:
// their first request presents the ID again. A source learned later (X-Alt,
// AddSources) gets its place when it joins (addSources), and the places
// of sources not known yet stay in the state file. Places that could not
// be ours are ignored.
func (j *job) resumeQueues(qs []stateQueue) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.savedQueues = make(map[string]QueueStatus)
	for _, q := range qs {
		if len(j.savedQueues) >= maxJobSources {
			break
		}
		if validQueueID(q.ID) && q.Position >= 1 && q.Position <= maxQueueNumber && len(q.Source) <= maxSourceKey {
			j.savedQueues[q.Source] = QueueStatus{ID: q.ID, Position: q.Position}
		}
	}
	for _, s := range j.srcs {
		j.resumeQueueLocked(s)
	}
}

// maxSourceKey bounds a source key read from a state file: an address
// or "push:" and a GUID's hex.
const maxSourceKey = 64

// resumeQueueLocked gives s the place a previous run held in its queue,
// if any. It counts as s's last place until s answers, so that a commit
// before then keeps it.
func (j *job) resumeQueueLocked(s *srcState) {
	if q, ok := j.savedQueues[s.key]; ok && s.queue.ID == "" {
		s.queue, s.lastQueue = q, q
	}
}
