package httpxfer

import (
	"errors"
	"os"
)

// A source that ignores Range answers 200 with the whole file from byte 0.
// It can still serve a file of any size: fetchSpan reads and discards
// (never writes) the bytes before the offset it asked for, at most
// MaxSkipBytes, and streamOn carries the body on into the chunks after the
// one asked for while they are free. So a sole such source sends the file
// in one stream, and after a cut the next stream skips what the .part has.

// streamOn writes the rest of a 200 body, which continues at off (the
// start of a chunk), into the chunks from there on, each claimed (busy)
// while it is written. It stops at the first chunk that is complete or
// being fetched by another source, and reports whether it read the body
// to its end (the connection can then be kept).
func (j *job) streamOn(c *clientConn, w *os.File, s *srcState, g *stallGuard, off int64) (bool, error) {
	for off < j.size {
		ci := int(off / j.chunkSize)
		j.mu.Lock()
		ch := &j.chunks[ci]
		if ch.busy || ch.tail != nil || ch.have == j.chunkLen(ci) || s.dropped || j.fatal != nil {
			j.mu.Unlock()
			return false, nil
		}
		j.takeLocked(ci, s)
		have := ch.have
		j.mu.Unlock()
		err := j.streamChunk(c, w, s, g, ci, have)
		j.release(ci)
		if errors.Is(err, errSplit) { // the rest of the chunk went to another source
			return false, nil
		}
		if err != nil {
			return false, err
		}
		off += j.chunkLen(ci)
	}
	return true, nil
}

// streamChunk reads chunk ci from the body, dropping the have bytes the
// .part already holds.
func (j *job) streamChunk(c *clientConn, w *os.File, s *srcState, g *stallGuard, ci int, have int64) error {
	if have > 0 {
		if err := c.skipBody(have, g); err != nil {
			return err
		}
	}
	start := int64(ci)*j.chunkSize + have
	_, err := c.copyBody(w, start, j.chunkLen(ci)-have, g, &sink{j: j, w: ci, s: s})
	return err
}
