package httpxfer

import (
	"errors"
	"slices"
	"time"
)

// The endgame. When every chunk left is being fetched, a worker whose
// source is idle and much faster than the source of a chunk in flight
// splits that chunk: the slow source keeps [have, split) and stops there
// (its body is cut and its connection closed), the fast one fetches the
// tail [split, end). The split point shares what is left in proportion to
// the two measured rates, so that both end about together; with a Tiger
// tree it moves up to the next segment boundary. Nothing
// written is lost: the slow source's bytes stay, and a chunk whose prefix
// and tail are both in counts as complete (and goes to THEX and the SHA-1)
// with both sources as its writers. A tail that fails goes back to the
// pool like any chunk; a chunk is split once.
//
// A worker's unit of work is named by an int: the prefix of chunk w, or
// for w >= len(chunks) the tail of chunk w-len(chunks).

const (
	// minTail is the least a split hands over: below it, the cost of a
	// new request outweighs what it saves.
	minTail = 32 << 10
	// endgameSpeedup: the idle source must be measured this many times
	// faster than the slow one.
	endgameSpeedup = 2
)

// errSplit ends a body whose span was cut short by a split: what is left
// of it belongs to another source.
var errSplit = errors.New("span split for a faster source")

// tailSpan is the tail of a split chunk.
type tailSpan struct {
	have   int64 // its leading bytes present
	busy   bool
	holder *srcState
	by     []string
}

// bytes is what the chunk holds, its tail included.
func (c *chunk) bytes() int64 {
	if c.tail != nil {
		return c.have + c.tail.have
	}
	return c.have
}

// writersIn returns the sources that wrote bytes [lo, hi) of the chunk
// (relative to its start): after a split, those of the side(s) the range
// touches; else every writer of the chunk.
func (c *chunk) writersIn(lo, hi int64) []string {
	if c.split == 0 {
		return c.by
	}
	var out []string
	if lo < c.split {
		out = append(out, c.prefixBy...)
	}
	if hi > c.split {
		for _, k := range c.tailBy {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// prefixEndLocked is where chunk ci's prefix ends, relative to the chunk.
func (j *job) prefixEndLocked(ci int) int64 {
	if c := &j.chunks[ci]; c.tail != nil {
		return c.limit
	}
	return j.chunkLen(ci)
}

// workLocked splits a work name into its chunk and whether it is a tail.
func (j *job) workLocked(w int) (int, bool) {
	if w >= len(j.chunks) {
		return w - len(j.chunks), true
	}
	return w, false
}

// rangeLocked returns the file span [start, end) that work w still needs.
func (j *job) rangeLocked(w int) (int64, int64) {
	ci, tail := j.workLocked(w)
	c := &j.chunks[ci]
	base := int64(ci) * j.chunkSize
	if tail {
		if c.tail == nil { // joined to its prefix: complete
			return base, base
		}
		return base + c.limit + c.tail.have, base + j.chunkLen(ci)
	}
	return base + c.have, base + j.prefixEndLocked(ci)
}

// takeLocked marks work w busy for s; putLocked makes it idle again.
func (j *job) takeLocked(w int, s *srcState) {
	ci, tail := j.workLocked(w)
	c := &j.chunks[ci]
	if tail {
		c.tail.busy, c.tail.holder = true, s
		return
	}
	c.busy, c.holder, c.claimed = true, s, 0
}

func (j *job) putLocked(w int) {
	ci, tail := j.workLocked(w)
	c := &j.chunks[ci]
	if tail {
		if c.tail != nil { // a chunk thrown away has none
			c.tail.busy, c.tail.holder = false, nil
		}
		return
	}
	c.busy, c.holder, c.claimed = false, nil, 0
}

// sink is where the body of work w from s goes: claim reserves the next
// bytes to write, credit records those written.
type sink struct {
	j      *job
	w      int
	s      *srcState
	inline // THEX checks of the bytes as they pass (verify_inline.go)
}

// claim returns how many of the next n bytes may be written: fewer when a
// split moved the end of the span, 0 when the span is done.
func (k *sink) claim(n int64) int64 {
	j := k.j
	j.mu.Lock()
	defer j.mu.Unlock()
	start, end := j.rangeLocked(k.w)
	n = max(0, min(n, end-start))
	ci, tail := j.workLocked(k.w)
	c := &j.chunks[ci]
	if !tail {
		c.claimed = max(c.claimed, c.have+n)
	}
	k.tree, k.end, k.gen = j.tree, end, c.gen
	return n
}

// credit records n bytes that k.s wrote at the end of the work's leading
// bytes, and joins a split chunk whose two parts are in.
func (k *sink) credit(n int64) {
	j := k.j
	j.mu.Lock()
	pos, _ := j.rangeLocked(k.w) // where the n bytes went
	ci, tail := j.workLocked(k.w)
	c := &j.chunks[ci]
	by := &c.by
	if tail {
		c.tail.have += n
		by = &c.tail.by
	} else {
		c.have += n
	}
	if !slices.Contains(*by, k.s.key) {
		*by = append(*by, k.s.key)
	}
	j.joinLocked(ci)
	j.have += n
	j.uncommitted += n
	k.s.got += n
	k.markLocked(c, pos+n)
	j.mu.Unlock()
	select {
	case j.moved <- struct{}{}:
	default: // the reporter has a wake-up pending
	}
}

// joinLocked joins split chunk ci whose two parts are in.
func (j *job) joinLocked(ci int) {
	c := &j.chunks[ci]
	if t := c.tail; t != nil && c.have == c.limit && c.limit+t.have == j.chunkLen(ci) {
		c.split, c.prefixBy, c.tailBy = c.limit, slices.Clone(c.by), t.by
		c.have, c.limit, c.tail = j.chunkLen(ci), 0, nil
		for _, key := range t.by {
			if !slices.Contains(c.by, key) {
				c.by = append(c.by, key)
			}
		}
	}
}

// splitLocked is the endgame for s, which found no idle work: it splits
// the chunk in flight that its source would take longest to finish, if s
// is measured endgameSpeedup times faster, and returns the tail, busy for
// s; else -1.
func (j *job) splitLocked(s *srcState) int {
	now := time.Now()
	fast := s.rateLocked(now)
	if s.got == 0 || !s.measuredLocked() || fast <= 0 {
		return -1
	}
	if j.treeBusy {
		return -1 // a tree is on its way: split on its segments then
	}
	best, bestLeft := -1, 0.0
	var bestSplit int64
	for i := range j.chunks {
		c := &j.chunks[i]
		v := c.holder
		if !c.busy || c.tail != nil || c.pin || v == nil || v == s || v.bodyStart.IsZero() || c.claimed == 0 {
			continue // not being received
		}
		slow := v.rateLocked(now)
		left := j.chunkLen(i) - c.have
		if slow*endgameSpeedup > fast {
			continue
		}
		// The slow source keeps its share of what is left, and at least
		// what it may be writing now.
		keep := int64(float64(left) * slow / (slow + fast))
		split := max(c.have+keep, c.claimed)
		if j.tree != nil {
			// On a segment boundary: each segment then has the writers
			// of one side, and a bad one names its liar at once. (A
			// segment with two writers would only be pinned, and a
			// source that lies in its prefixes could go unblamed.) So
			// with segments as long as chunks there is no endgame.
			seg, base := j.tree.ChunkSize(), int64(i)*j.chunkSize
			split = (base+split+seg-1)/seg*seg - base
		}
		if j.chunkLen(i)-split < minTail {
			continue
		}
		if t := float64(left) / max(slow, 1); t > bestLeft {
			best, bestLeft, bestSplit = i, t, split
		}
	}
	if best < 0 {
		return -1
	}
	c := &j.chunks[best]
	c.limit = bestSplit
	c.tail = &tailSpan{}
	w := len(j.chunks) + best
	j.takeLocked(w, s)
	j.splits++
	return w
}
