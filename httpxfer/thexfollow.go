package httpxfer

import (
	"errors"
	"os"

	"github.com/govent/govent/httpxfer/thex"
)

// THEX on arrival. Once the download has its tree, a body is read into
// memory instead of spliced into the .part, written from there, and
// hashed while it is hot: the sink runs a thex.Checker over the bytes it
// writes from the first segment boundary on, and notes what each segment
// it saw whole came to (segStream). The verifier still decides, when it
// always did (the segment's chunks complete), and blames as it always
// did; it only reads back from the .part the segments no body saw whole:
// the one a body began in the middle of (a resumed chunk, a chunk taken
// over after a cut), and those that straddle two chunks.

// What a body's Checker found of a segment.
const (
	streamNone uint8 = iota // not seen whole: read it back
	streamOK
	streamBad
)

// arrivalPiece is how much of a body is read at once to be hashed.
const arrivalPiece = 64 << 10

// checking reports whether the bytes of k's body are to be hashed as
// they arrive: whether the download has its tree.
func (k *sink) checking() bool {
	j := k.j
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.tree != nil
}

// hash runs the bytes p, just written at off for k's work, through k's
// Checker. A Checker starts at the first segment boundary at or after the
// first bytes it is given (the bytes before go unchecked here) and lasts
// while the bytes it is given follow each other; it records each segment
// it completes, under the epoch of the chunk its work is in, so that a
// chunk thrown away meanwhile gets no result of bytes that are gone.
func (k *sink) hash(p []byte, off int64) {
	if k.chk == nil || off != k.next {
		if !k.startCheck(off) {
			return
		}
	}
	k.next = off + int64(len(p))
	if skip := k.from - off; skip > 0 {
		if skip >= int64(len(p)) {
			return
		}
		p = p[skip:]
	}
	_, err := k.chk.Write(p)
	done := k.chk.Verified()
	if done == k.rec && err == nil {
		return
	}
	j := k.j
	j.mu.Lock()
	defer j.mu.Unlock()
	ci, _ := j.workLocked(k.w)
	ok := j.chunks[ci].epoch == k.epoch
	seg := j.tree.ChunkSize()
	for ; k.rec < done; k.rec += seg {
		if ok {
			j.segStream[k.rec/seg] = streamOK
		}
	}
	var bad *thex.MismatchError
	if errors.As(err, &bad) && ok {
		j.segStream[bad.Offset/seg] = streamBad
	}
	if err != nil {
		k.chk = nil // bytes past the one that failed are left to the verifier
	}
}

// startCheck starts k's Checker for bytes from off on, at the first
// segment boundary from there; false when there is no tree or no
// boundary left.
func (k *sink) startCheck(off int64) bool {
	j := k.j
	j.mu.Lock()
	defer j.mu.Unlock()
	k.chk = nil
	t := j.tree
	if t == nil {
		return false
	}
	seg := t.ChunkSize()
	from := (off + seg - 1) / seg * seg
	if from >= j.size {
		return false
	}
	chk, err := t.NewChecker(from)
	if err != nil {
		return false
	}
	ci, _ := j.workLocked(k.w)
	k.chk, k.next, k.from, k.rec, k.epoch = chk, off, from, from, j.chunks[ci].epoch
	return true
}

// copyHashed moves the next n body bytes from the socket to w at its
// position through memory, each piece hashed by k once written.
func (c *clientConn) copyHashed(w *os.File, off, n int64, k *sink) (int64, error) {
	if c.arrival == nil {
		c.arrival = make([]byte, arrivalPiece)
	}
	var done int64
	for done < n {
		p := c.arrival[:min(n-done, int64(len(c.arrival)))]
		r, err := c.conn.Read(p)
		if r > 0 {
			if _, werr := w.Write(p[:r]); werr != nil {
				return done, werr
			}
			k.hash(p[:r], off+done)
			done += int64(r)
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// streamResultLocked returns what a body found of segment i, as checkSeg
// would have: ok, or the *thex.MismatchError of the segment; known says
// whether a body saw it whole.
func (j *job) streamResultLocked(i int) (bad error, known bool) {
	switch j.segStream[i] {
	case streamOK:
		return nil, true
	case streamBad:
		seg := j.tree.ChunkSize()
		off := int64(i) * seg
		return &thex.MismatchError{Offset: off, Length: min(seg, j.size-off)}, true
	}
	return nil, false
}
