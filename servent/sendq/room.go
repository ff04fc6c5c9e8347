package sendq

import (
	"context"
	"time"
)

// The input budget (see the package doc): a queue over its wait mark whose
// writer is draining it is Congested, and the links that feed it wait in
// line for the room its writer makes, one turn at a time.

// passTurn hands the room a batch of took bytes made, once the queue is
// below its wait mark, to the first link in line: a credit of took bytes,
// or of its share of the room below the mark when more links wait, so that
// the turns handed out before their links have run cannot add up to more
// than the mark's worth and push the queue into flow control. A queue the
// batch emptied makes no more batches, so every link still in line gets
// its turn at once, sharing the room.
func (q *Queue) passTurn(took int) {
	if len(q.line) == 0 || q.overWaitMark() {
		return
	}
	share := max((q.waitMark-q.pending)/len(q.line), 1)
	if q.count == 0 {
		q.wakeAll(share)
		return
	}
	w := q.line[0]
	n := copy(q.line, q.line[1:])
	q.line[n] = nil
	q.line = q.line[:n]
	q.lineA.Store(n > 0)
	w.turn <- min(took, share)
}

// wakeAll gives every link in line its turn with credit bytes.
func (q *Queue) wakeAll(credit int) {
	for i, w := range q.line {
		w.turn <- credit
		q.line[i] = nil
	}
	q.line = q.line[:0]
	q.lineA.Store(false)
}

// stalled: the writer has been writing one batch for DrainWindow, so its
// peer is not reading.
func (q *Queue) stalled() bool {
	return q.taken.Load() != q.written.Load() &&
		q.now().UnixNano()-q.lastTake.Load() >= int64(q.drainWindow)
}

// Congested reports whether the links that feed this queue should wait
// (AwaitRoom) before they bring it more: it holds at least WaitMark bytes
// or links wait in line for room, and its writer is not stalled in a write
// for DrainWindow. It takes no lock.
func (q *Queue) Congested() bool {
	if !q.overWaitA.Load() && !q.lineA.Load() {
		return false
	}
	return !q.stalled()
}

// A Waiter is one link's place in line for room in the queues it feeds,
// owned by the link's reader and passed to AwaitRoom; it is in at most one
// line at a time.
type Waiter struct {
	turn  chan int // the credit of a turn, sent under the queue's lock
	timer *time.Timer
}

// NewWaiter returns a link's Waiter.
func NewWaiter() *Waiter { return &Waiter{turn: make(chan int, 1)} }

// AwaitRoom waits while the queue is Congested for w's turn: the writer
// hands the room it makes to the links in line one at a time, first come
// first. It returns waited false at once when the queue is not congested
// (or closed). Otherwise it returns the turn's credit, the bytes the link
// may bring to its queues before it checks them again; 0 when the writer
// stalled meanwhile (it is checked every DrainWindow: flow control drops
// for a stalled queue instead of it holding up the link; a writer that is
// only slow keeps the link waiting, in its place in line), or when the
// queue closed. It returns ctx.Err() when ctx ends.
func (q *Queue) AwaitRoom(ctx context.Context, w *Waiter) (credit int, waited bool, err error) {
	q.mu.Lock()
	if q.closed || !q.overWaitMark() && len(q.line) == 0 || q.stalled() {
		q.mu.Unlock()
		return 0, false, nil
	}
	q.line = append(q.line, w)
	q.lineA.Store(true)
	q.mu.Unlock()
	if w.timer == nil {
		w.timer = time.NewTimer(q.drainWindow)
	} else {
		w.timer.Reset(q.drainWindow)
	}
wait:
	for {
		select {
		case credit = <-w.turn:
			w.timer.Stop()
			return credit, true, nil
		case <-w.timer.C:
			if !q.stalled() {
				// The writer is draining, only slowly (a busy
				// machine): the link keeps its place in line.
				w.timer.Reset(q.drainWindow)
				continue
			}
		case <-ctx.Done():
			w.timer.Stop()
			err = ctx.Err()
		}
		break wait
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, x := range q.line {
		if x == w {
			n := i + copy(q.line[i:], q.line[i+1:])
			q.line[n] = nil
			q.line = q.line[:n]
			q.lineA.Store(n > 0)
			return 0, true, err
		}
	}
	// Its turn came meanwhile: the credit was sent under the lock.
	return <-w.turn, true, err
}

// DrainWindow is the queue's Config.DrainWindow.
func (q *Queue) DrainWindow() time.Duration { return q.drainWindow }
