package sendq

// ring is one class's FIFO of queued messages: their bytes back to back in
// one circular buffer, their lengths in a second, small one. Enqueue copies
// a message in after the last, the writer copies a run of them out in one
// or two spans, and the buffer is reused in place: once a connection has
// seen its busiest moment, pushing and popping allocate nothing.
//
// One buffer per class rather than one per message keeps what a queue
// touches contiguous and in order. With a buffer per message, a flooded
// queue's thousands of small buffers were each written once and read once
// a queue's length later, scattered over memory: in a profile of a
// flooded servent the queues took 40% of its CPU, most of it waiting on
// memory; with the rings, 20%.
type ring struct {
	buf   []byte // len(buf) is a power of two, or 0 before the first push
	head  int    // offset in buf of the oldest message's first byte
	bytes int    // queued bytes

	lens  []int32 // the queued messages' lengths, oldest at lhead
	lhead int
	n     int // queued messages
}

// minRingBytes is the smallest buffer a ring allocates: a few Queries'
// worth, so that a quiet connection keeps little.
const minRingBytes = 1 << 10

// push copies b in after the last message, growing the buffers when it
// does not fit: by doubling, to the power of two that holds everything. It
// returns by how many bytes the byte buffer grew.
func (r *ring) push(b []byte) (grew int) {
	if r.bytes+len(b) > len(r.buf) {
		grew = r.resize(r.bytes + len(b))
	}
	tail := (r.head + r.bytes) & (len(r.buf) - 1)
	if k := copy(r.buf[tail:], b); k < len(b) {
		copy(r.buf, b[k:])
	}
	r.bytes += len(b)
	if r.n == len(r.lens) {
		lens := make([]int32, max(64, 2*len(r.lens)))
		for i := range r.n {
			lens[i] = r.lens[(r.lhead+i)&(len(r.lens)-1)]
		}
		r.lens, r.lhead = lens, 0
	}
	r.lens[(r.lhead+r.n)&(len(r.lens)-1)] = int32(len(b))
	r.n++
	return grew
}

// resize moves the queued bytes, in order, to the start of a new buffer of
// the smallest power of two (at least minRingBytes) that holds need bytes,
// and returns how much larger it is than the old one (negative: smaller).
func (r *ring) resize(need int) int {
	size := minRingBytes
	for size < need {
		size *= 2
	}
	buf := make([]byte, size)
	r.copyOut(buf[:0], r.bytes)
	grew := size - len(r.buf)
	r.buf, r.head = buf, 0
	return grew
}

// release drops the byte buffer of an empty ring and returns its size.
func (r *ring) release() int {
	n := len(r.buf)
	r.buf, r.head = nil, 0
	return n
}

// frontLen is the length of the oldest message.
func (r *ring) frontLen() int { return int(r.lens[r.lhead]) }

// copyOut appends the first n queued bytes to dst, in order: one span, or
// two where they wrap around the end of the buffer.
func (r *ring) copyOut(dst []byte, n int) []byte {
	if n == 0 {
		return dst
	}
	end := r.head + n
	if end <= len(r.buf) {
		return append(dst, r.buf[r.head:end]...)
	}
	dst = append(dst, r.buf[r.head:]...)
	return append(dst, r.buf[:end-len(r.buf)]...)
}

// runThatFits returns how many of the oldest messages fit in room bytes,
// and their bytes: at least one, whatever its size, when first is set.
func (r *ring) runThatFits(room int, first bool) (k, n int) {
	for k < r.n {
		l := int(r.lens[(r.lhead+k)&(len(r.lens)-1)])
		if n+l > room && !(first && k == 0) {
			break
		}
		k++
		n += l
	}
	return k, n
}

// pop removes the oldest message and returns its length.
func (r *ring) pop() int {
	l := r.frontLen()
	r.popRun(1, l)
	return l
}

// popRun removes the k oldest messages, n bytes in all.
func (r *ring) popRun(k, n int) {
	r.lhead = (r.lhead + k) & (len(r.lens) - 1)
	r.n -= k
	r.bytes -= n
	if r.bytes == 0 {
		// Empty: the next message starts at the front again, so a queue
		// that keeps draining reuses the same few cache lines.
		r.head = 0
	} else {
		r.head = (r.head + n) & (len(r.buf) - 1)
	}
}

// reset empties the ring, keeping its buffers.
func (r *ring) reset() {
	r.head, r.bytes, r.lhead, r.n = 0, 0, 0, 0
}
