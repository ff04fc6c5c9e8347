package sendq

import "math/bits"

// ring is one class's FIFO of queued message copies. It grows by doubling
// and never shrinks, so once a connection has seen its busiest moment,
// pushing and popping allocate nothing.
type ring struct {
	msgs  [][]byte
	head  int
	n     int
	bytes int // sum of len over the queued messages
}

func (r *ring) push(b []byte) {
	if r.n == len(r.msgs) {
		grown := make([][]byte, max(16, 2*len(r.msgs)))
		for i := range r.n {
			grown[i] = r.msgs[(r.head+i)%len(r.msgs)]
		}
		r.msgs, r.head = grown, 0
	}
	r.msgs[(r.head+r.n)%len(r.msgs)] = b
	r.n++
	r.bytes += len(b)
}

func (r *ring) front() []byte { return r.msgs[r.head] }

func (r *ring) pop() []byte {
	b := r.msgs[r.head]
	r.msgs[r.head] = nil
	r.head = (r.head + 1) % len(r.msgs)
	r.n--
	r.bytes -= len(b)
	return b
}

// Buffer size classes are powers of two from 64 B (a header and a short
// payload) to 64 KiB (the largest payload deployed servents accept).
const (
	minBufShift   = 6
	maxBufShift   = 16
	numBufClasses = maxBufShift - minBufShift + 1
)

// bufClass returns the index of the smallest size class holding n bytes, or
// -1 when n is larger than the largest class.
func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift > maxBufShift {
		return -1
	}
	return shift - minBufShift
}

// bufPool is a queue's own free list of message buffers. It is per queue,
// not a sync.Pool, so that reuse is deterministic (no loss at GC, no random
// drops under -race) and the memory a connection keeps is bounded: held, the
// capacity of every pooled-size buffer in the queue or on the free list, is
// kept at or under limit by letting the garbage collector take the excess.
type bufPool struct {
	free  [numBufClasses][][]byte
	held  int
	limit int
}

// get returns a buffer of length n, reused when one of its class is free.
func (p *bufPool) get(n int) []byte {
	c := bufClass(n)
	if c < 0 {
		return make([]byte, n)
	}
	if l := len(p.free[c]); l > 0 {
		b := p.free[c][l-1]
		p.free[c][l-1] = nil
		p.free[c] = p.free[c][:l-1]
		return b[:n]
	}
	p.held += 1 << (minBufShift + c)
	return make([]byte, n, 1<<(minBufShift+c))
}

// put returns a buffer that left the queue. It is kept for reuse unless
// that would hold more than limit.
func (p *bufPool) put(b []byte) {
	c := bufClass(cap(b))
	if c < 0 || cap(b) != 1<<(minBufShift+c) {
		return // oversized: never counted in held
	}
	if p.held > p.limit {
		p.held -= cap(b)
		return
	}
	p.free[c] = append(p.free[c], b[:0])
}
