package httpxfer

import (
	"context"
	"crypto/sha1"
	"hash"
	"io"
	"os"
	"sync/atomic"

	"github.com/govent/govent/wire"
)

// hashFollower hashes the .part while it is written, following the run of
// complete chunks from the start, so that the SHA-1 is mostly done when the
// last byte arrives. Complete chunks are never rewritten within a round.
// It stops once the download has a tree named with its SHA-1
// (Request.RootNamed): the tree proves the file, and finish is then
// needed only if it does not prove every byte.
type hashFollower struct {
	h    hash.Hash
	buf  []byte
	off  int64 // bytes hashed
	end  int64 // end of the complete prefix seen so far
	next int   // first chunk not known complete
}

func newHashFollower() *hashFollower {
	return &hashFollower{h: sha1.New(), buf: make([]byte, followPiece)}
}

// followPiece is how much the follower reads back at once: a few system
// calls per chunk, and few enough bytes to still be in cache when hashed.
const followPiece = 256 << 10

func (j *job) follow(ctx context.Context, hf *hashFollower) {
	for {
		j.mu.Lock()
		for hf.next < len(j.chunks) && j.chunks[hf.next].have == j.chunkLen(hf.next) {
			hf.end += j.chunkLen(hf.next)
			hf.next++
		}
		end, wake := hf.end, j.wake
		withTree := j.tree != nil
		named := j.req.RootNamed && withTree
		if !named {
			j.hashTarget = max(j.hashTarget, end)
		}
		j.mu.Unlock()
		if named {
			return
		}
		if hf.off < end {
			n, err := io.CopyBuffer(hf.h, io.NewSectionReader(j.part, hf.off, end-hf.off), hf.buf)
			hf.off += n
			if withTree {
				j.sha1Read.Add(n)
			}
			if err != nil {
				return // finish hashes the rest and reports the error
			}
			continue
		}
		if hf.next == len(j.chunks) {
			return
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		}
	}
}

// finish hashes what the follower has not and returns the SHA-1; read
// counts the bytes it hashed.
func (hf *hashFollower) finish(f *os.File, size int64, read *atomic.Int64) (wire.SHA1, error) {
	var d wire.SHA1
	n, err := io.CopyBuffer(hf.h, io.NewSectionReader(f, hf.off, size-hf.off), hf.buf)
	read.Add(n)
	if err != nil {
		return d, err
	}
	hf.h.Sum(d[:0])
	return d, nil
}
