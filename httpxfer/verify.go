package httpxfer

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

// Per-chunk verification with THEX. When the download knows the file's
// Tiger tree root (Request.TTH, from a bitprint in a hit or a magnet) and a
// source announces its tree in X-Thex-URI, the tree is fetched once, on a
// connection of its own, and refused unless it hashes up to that root.
// From then on each segment of the tree's deepest level is checked: by
// the worker that writes it whole, as its bytes pass (verify_inline.go),
// else by a verifier, which reads it back from the .part on its own
// goroutine as soon as the chunks that hold it are complete. A
// segment that does not match is thrown away and fetched again from
// another source; its writer is blamed at once (ErrHashMismatch), so no
// whole-file blame rounds are needed. A tree whose root only the source
// vouches for is not used: a liar could otherwise get honest sources
// blamed.

// maxMixedFails: a segment written by several sources (a chunk resumed
// by another, or segments longer than chunks) does not tell which one
// lied. It is fetched again, most likely by one source alone; when it has
// failed that often, every writer of it is blamed.
const maxMixedFails = 3

// offerTree notes the X-Thex-URI of a reply from s and starts fetching
// the tree from s if the download needs one and none is on its way.
func (j *job) offerTree(s *srcState, h *wire.Handshake) {
	if !j.req.HasTTH || j.size == 0 {
		return
	}
	v, ok := h.Get("X-Thex-URI")
	if !ok {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.tree != nil || j.treeBusy || j.treeTried[s.key] || j.runCtx == nil {
		return
	}
	j.treeTried[s.key] = true // one try per source
	path, root, hasRoot, err := thex.ParseThexURI(v)
	if err != nil || hasRoot && root != j.req.TTH {
		return
	}
	j.treeBusy = true
	ctx := j.runCtx
	j.bg.Go(func() {
		t, err := j.getTree(ctx, s.src, path)
		j.mu.Lock()
		defer j.mu.Unlock()
		j.treeBusy = false
		if err == nil {
			j.setTreeLocked(t)
		} else {
			j.treeErr = fmt.Errorf("tree from %s: %w", s.key, err)
		}
		j.notifyLocked()
	})
}

// setTreeLocked makes t, checked against the request's root, the
// download's tree; no segment has matched it yet.
func (j *job) setTreeLocked(t *thex.Tree) {
	j.tree = t
	n := len(t.Levels[t.Depth()])
	j.segOK, j.segBusy, j.segStale = make([]bool, n), make([]bool, n), make([]bool, n)
}

// getTree fetches and decodes the tree at path from src.
func (j *job) getTree(ctx context.Context, src Source, path string) (*thex.Tree, error) {
	conn, err := j.cfg.Dialer.DialSource(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	cc := newClientConn(conn)
	defer cc.close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	resp, err := cc.roundTrip("GET", path, hostOf(src), j.cfg.UserAgent, nil, j.cfg.ResponseTimeout)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.status != 200:
		return nil, fmt.Errorf("%s", resp.statusText())
	case resp.length < 0 || resp.length > thex.MaxDIMESize:
		return nil, fmt.Errorf("%w: THEX reply with Content-Length %d", ErrMalformed, resp.length)
	}
	body := make([]byte, resp.length)
	if _, err := io.ReadFull(cc.br, body); err != nil {
		return nil, fmt.Errorf("reading the tree: %w", err)
	}
	return thex.DecodeDIME(body, j.size, j.req.TTH)
}

// segSpanLocked returns the chunks that hold tree segment i.
func (j *job) segSpanLocked(i int) (first, last int) {
	seg := j.tree.ChunkSize()
	off := int64(i) * seg
	end := min(off+seg, j.size)
	return int(off / j.chunkSize), int((end - 1) / j.chunkSize)
}

// chunkVerifiedLocked reports whether every segment chunk ci holds has
// matched the tree (true without a tree).
func (j *job) chunkVerifiedLocked(ci int) bool {
	if j.tree == nil {
		return true
	}
	seg := j.tree.ChunkSize()
	off := int64(ci) * j.chunkSize
	for i := off / seg; i*seg < off+j.chunkLen(ci); i++ {
		if !j.segOK[i] {
			return false
		}
	}
	return true
}

// allVerifiedLocked reports whether every segment matched the tree.
func (j *job) allVerifiedLocked() bool {
	return j.tree == nil || !slices.Contains(j.segOK, false)
}

// nextSegLocked returns a segment not verified yet, nor being checked,
// whose chunks are all complete, or -1.
func (j *job) nextSegLocked() int {
	for i, ok := range j.segOK {
		if ok || j.segBusy[i] {
			continue
		}
		first, last := j.segSpanLocked(i)
		done := true
		for c := first; c <= last && done; c++ {
			done = j.chunks[c].have == j.chunkLen(c)
		}
		if done {
			return i
		}
	}
	return -1
}

// verifiers is how many segments are read back and checked at once (most
// are checked as they arrive, without them): hashing is most of what
// verification costs, and on its own goroutine each check uses a
// processor the network leaves idle, so that checks keep up with the bytes
// arriving instead of piling up until the last one is in.
func verifiers() int { return min(runtime.GOMAXPROCS(0), 4) }

// verifier checks complete segments against the tree until ctx ends;
// several run at once, each on a segment of its own.
func (j *job) verifier(ctx context.Context) {
	buf := make([]byte, verifyPiece)
	for {
		j.mu.Lock()
		i, t, wake := -1, j.tree, j.wake
		if t != nil {
			if i = j.nextSegLocked(); i >= 0 {
				j.segBusy[i] = true
			}
		}
		j.mu.Unlock()
		if i < 0 {
			select {
			case <-wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		err, fatal := j.checkSeg(t, i, buf)
		if fatal != nil {
			j.setFatal(fatal)
			return
		}
		j.mu.Lock()
		j.segBusy[i] = false
		switch {
		case j.segStale[i]:
			j.segStale[i] = false // its chunks were thrown away meanwhile
		case err == nil:
			j.segOK[i] = true
		default:
			j.badSegLocked(i, err)
		}
		j.notifyLocked()
		j.mu.Unlock()
	}
}

// verifyPiece is how much of a segment a verifier reads back at once: a
// segment is a 2048th of the file, so its size has no bound of its own.
const verifyPiece = 64 << 10

// checkSeg reads segment i back from the .part, piece by piece into buf,
// and checks it against t. bad is the *thex.MismatchError of bytes that
// do not match; fatal says the .part could not be read.
func (j *job) checkSeg(t *thex.Tree, i int, buf []byte) (bad, fatal error) {
	seg := t.ChunkSize()
	off := int64(i) * seg
	end := min(off+seg, j.size)
	c, err := t.NewChecker(off)
	if err != nil {
		return nil, fatalErr(fmt.Errorf("checking segment %d: %w", i, err))
	}
	for pos := off; pos < end; {
		p := buf[:min(int64(len(buf)), end-pos)]
		if _, err := j.part.ReadAt(p, pos); err != nil {
			return nil, fatalErr(fmt.Errorf("reading back %s for THEX: %w", j.partPath, err))
		}
		if _, err := c.Write(p); err != nil {
			return err, nil
		}
		pos += int64(len(p))
	}
	return nil, nil
}

// badSegLocked throws away the chunks that hold segment i and blames
// their writer.
func (j *job) badSegLocked(i int, cause error) {
	first, last := j.segSpanLocked(i)
	seg := j.tree.ChunkSize()
	var writers []string
	for c := first; c <= last; c++ {
		base := int64(c) * j.chunkSize
		for _, k := range j.chunks[c].writersIn(int64(i)*seg-base, int64(i+1)*seg-base) {
			if !slices.Contains(writers, k) {
				writers = append(writers, k)
			}
		}
		j.resetChunkLocked(c)
		if int64(c)*j.chunkSize < j.hashTarget {
			j.rehash = true // the SHA-1 follower read those bytes
		}
	}
	j.badSegs++
	if len(writers) > 1 {
		for _, k := range writers {
			j.suspicion[k]++
		}
		for c := first; c <= last; c++ {
			j.chunks[c].pin, j.chunks[c].suspects = true, writers
		}
		if j.mixedFails[i]++; j.mixedFails[i] < maxMixedFails {
			return
		}
	}
	for _, k := range writers {
		for _, s := range j.srcs {
			if s.key == k {
				// Blamed (ErrHashMismatch) for what the tree caught: the
				// reason says the tree, not "SHA-1 mismatch".
				j.blameLocked(s, &causedError{text: cause.Error(), errs: []error{ErrHashMismatch, cause}})
			}
		}
	}
}

// resetChunkLocked throws away the bytes of chunk ci. Every segment it
// holds is unverified again, a match found before included: that was of
// bytes now gone, and the next writer may lie where the last one did not.
// A check of such a segment under way is of gone bytes too: its result is
// ignored (segStale). A chunk still held, whose writer has put its last
// byte in but not settled it yet, stays held: its writer gives it back,
// and no other source may take it meanwhile.
func (j *job) resetChunkLocked(ci int) {
	c := &j.chunks[ci]
	j.have -= c.bytes() // a tail too (endgame.go)
	*c = chunk{busy: c.busy, holder: c.holder, gen: c.gen + 1}
	if j.tree == nil {
		return
	}
	seg := j.tree.ChunkSize()
	off := int64(ci) * j.chunkSize
	for i := off / seg; i*seg < off+j.chunkLen(ci); i++ {
		j.segOK[i] = false
		j.segStale[i] = j.segBusy[i]
	}
}

// mayTakeLocked reports whether s may fetch chunk ci. Any source may,
// unless the chunk is pinned: then its owner, or with no owner in use the
// most suspected of its suspects still in use (any source when none is),
// which becomes the owner of every pinned chunk of the segment.
func (j *job) mayTakeLocked(ci int, s *srcState) bool {
	c := &j.chunks[ci]
	if !c.pin || c.owner == s.key {
		return true
	}
	if c.owner != "" && j.inUseLocked(c.owner) {
		return false
	}
	most := -1
	for _, k := range c.suspects {
		if j.inUseLocked(k) {
			most = max(most, j.suspicion[k])
		}
	}
	if most >= 0 && (!slices.Contains(c.suspects, s.key) || j.suspicion[s.key] < most) {
		return false
	}
	if j.tree == nil {
		return true
	}
	seg := j.tree.ChunkSize()
	i := int(int64(ci) * j.chunkSize / seg)
	first, last := j.segSpanLocked(i)
	for k := first; k <= last; k++ {
		if j.chunks[k].pin {
			j.chunks[k].owner = s.key
		}
	}
	return true
}

func (j *job) inUseLocked(key string) bool {
	for _, o := range j.srcs {
		if o.key == key {
			return !o.dropped
		}
	}
	return false
}

// treeMismatch is the error of a file whose every segment matched a tree
// of the root the request gave, but whose SHA-1 is not the one asked for:
// the hit or magnet paired digests of two files.
func treeMismatch() error {
	return fmt.Errorf("%w: the file matches its tiger tree root but not its SHA-1", ErrHashMismatch)
}
