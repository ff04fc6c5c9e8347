package httpxfer

import "github.com/govent/govent/httpxfer/thex"

// Checking segments as they arrive. A worker that writes a whole segment
// of the tree in one run hashes it on its way to the .part (copyBody
// shows each read to its sink before writing it), while the bytes are in
// cache, and a segment that matches is marked verified as its last byte is
// credited: the verifiers never read it back. This costs no hand-off and
// holds the source back while the worker hashes. Whatever is not checked
// this way (a segment begun by an earlier body or run, written before the
// tree arrived, or straddling two chunks) is checked by a verifier from
// the .part, and so is a segment that did not match: the verifier meets
// the mismatch again and throws the segment away as usual.

// inline is a sink's check of the bytes it writes.
type inline struct {
	// Set by each claim: the tree (nil until fetched), the span's end and
	// the chunk's gen.
	tree *thex.Tree
	end  int64
	gen  uint32

	chk    *thex.Checker // nil when not checking
	chkGen uint32        // the chunk's gen when chk began
	at     int64         // where chk's next byte lies in the file
	marked int64         // chk's segments up to here are marked verified
}

// hash shows p, about to be written at off, to the running check, or
// starts one at the first segment boundary in p whose segment lies in the
// span claimed.
func (k *inline) hash(p []byte, off int64) {
	if k.chk != nil && off != k.at {
		k.chk = nil
	}
	if k.chk == nil {
		t := k.tree
		if t == nil {
			return
		}
		seg := t.ChunkSize()
		from := (off + seg - 1) / seg * seg
		if from >= off+int64(len(p)) || min(from+seg, t.Size) > k.end {
			return
		}
		chk, err := t.NewChecker(from)
		if err != nil {
			return
		}
		k.chk, k.chkGen, k.at, k.marked = chk, k.gen, from, from
		p = p[from-off:]
	}
	k.at += int64(len(p))
	// A mismatch stops the check (Write keeps failing): the segment is
	// left to a verifier, which blames its writer.
	_, _ = k.chk.Write(p)
}

// checking reports whether the download has a tree to check against.
func (k *sink) checking() bool {
	k.j.mu.Lock()
	defer k.j.mu.Unlock()
	k.tree = k.j.tree
	return k.tree != nil
}

// unhash ends the check: the bytes last shown to it were not written.
func (k *inline) unhash() { k.chk = nil }

// markLocked marks verified the segments the check matched, now that the
// bytes up to end (the end of what the sink credited to chunk c) are in,
// unless c was thrown away since the check began.
func (k *sink) markLocked(c *chunk, end int64) {
	j := k.j
	if k.chk == nil || j.tree == nil {
		return
	}
	if c.gen != k.chkGen {
		k.chk = nil
		return
	}
	v := min(k.chk.Verified(), end)
	seg := j.tree.ChunkSize()
	for k.marked < v {
		i := k.marked / seg
		segEnd := min((i+1)*seg, j.size)
		if segEnd > v {
			break
		}
		if !j.segBusy[i] {
			j.segOK[i] = true
		}
		k.marked = segEnd
	}
}
