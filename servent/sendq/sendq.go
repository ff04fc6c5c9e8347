// Package sendq owns a connection's outbound message queue: bounded in bytes
// and in messages, priority-aware, with the flow control of the Gnutella 0.6
// draft (section 3.1) and the stuck detection that ends a connection with
// Bye 502.
//
// The servent calls Enqueue for every peer the router sends a descriptor to,
// so Enqueue never blocks: it copies the message and returns nil, or returns
// why the message was dropped. The connection's writer goroutine is the one consumer:
// it calls Wait, then DequeueBatch to coalesce many small messages into one
// write, and flushes its link compressor whenever DequeueBatch reports that
// the queue ran dry.
//
// Policy, in the draft's terms:
//
//   - Flow control starts when the pending bytes pass 50% of MaxBytes and
//     ends when they fall below 25% (hysteresis). In flow control, new Pings
//     and Queries that are not our own are refused; the connection's reader
//     should also drop the Queries it receives (InFlowControl).
//   - When a message does not fit (bytes or message count), queued messages
//     of strictly less important classes are evicted, least important class
//     first and oldest first within a class, but only if that makes enough
//     room; otherwise the new message is dropped and nothing is evicted.
//   - The writer gets control messages first, then Push, QueryHit, Pong,
//     Query, Ping: strict priority across classes, FIFO within a class. The
//     draft asks for priority sending; FIFO inside a class keeps a QRP RESET
//     ahead of its PATCH and replies in the order they were answered.
//   - A Bye is never dropped: enqueuing one discards everything still queued
//     (the draft: the queue must be cleared before Bye), queues the Bye even
//     past MaxBytes and closes the queue to anything after it.
//   - A queue that stays in flow control for StuckAfter without once falling
//     below the low mark is stuck (Stuck): the peer is not taking our traffic
//     and the connection should send Bye 502 and close. The nats-server rule
//     for slow consumers, measured in pending bytes and time.
//
// Beyond the draft, a queue tells the links that feed it when to slow down,
// so that a servent reads only as fast as it can send and TCP pushes back
// on the senders instead of the servent reading and dropping: a queue over
// its wait mark (Config.WaitMark, at most the low mark) whose writer is
// draining it is Congested, and a link waits in AwaitRoom for its turn at
// the room the writer makes. The room goes in
// turns, in the order the links began to wait, each turn a credit of bytes
// the link may bring before it queues up again, so a link that has more to
// send than the others gets no more than they do (waking every waiting
// link at once would let whichever the scheduler runs first take all the
// room). A queue whose writer has stopped (its peer reads nothing) is never
// congested: it is the slow consumer, and flow control drops for it.
package sendq

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govent/govent/wire"
)

// Errors returned by Enqueue, one per drop reason.
var (
	ErrFlowControl = errors.New("sendq: dropped in flow control")
	ErrFull        = errors.New("sendq: queue full")
	ErrClosed      = errors.New("sendq: queue closed")
	ErrTooLarge    = errors.New("sendq: message larger than the queue")
	// ErrMalformed: the message is shorter than a descriptor header. That is
	// the caller's bug, not a drop decision; it is counted in Stats.Malformed.
	ErrMalformed = errors.New("sendq: message shorter than a descriptor header")
)

// Defaults for a zero Config.
const (
	DefaultMaxBytes    = 256 << 10
	DefaultMaxMessages = 4096
	DefaultStuckAfter  = 10 * time.Second
	DefaultDrainWindow = 50 * time.Millisecond
)

// Config sizes a queue. Zero (or negative) fields take the defaults.
type Config struct {
	// MaxBytes bounds the queued message bytes (headers included). The
	// draft asks for at least 150% of the largest admissible message.
	MaxBytes int
	// MaxMessages bounds the number of queued messages.
	MaxMessages int
	// StuckAfter is how long the queue may stay in flow control before it
	// reports Stuck.
	StuckAfter time.Duration
	// DrainWindow is how long the writer may spend writing one batch (from
	// DequeueBatch to Written) before the queue counts as stalled, not
	// draining, and so never as Congested: its peer reads nothing. Default
	// 50 ms: a write on a healthy link takes microseconds. A writer that is
	// only waiting for a CPU between batches is not stalled: on a busy
	// machine that can take longer than any write.
	DrainWindow time.Duration
	// WaitMark is the pending bytes at which the queue is Congested and
	// the links that feed it wait for room: at most the low mark (a
	// quarter of MaxBytes), as they must wait before flow control starts
	// dropping. Default two Batches, or MaxBytes/8 without a Batch. A
	// lower mark keeps less queued under a flood, so the writer's batches
	// come from memory still in the cache.
	WaitMark int
	// Batch is the most one DequeueBatch takes (beside cap(dst)). It is
	// at most half the wait mark, lowered to that for a small queue: a
	// batch that leaves messages queued hands its room to the first link
	// in line, one turn at a time and in order, while a batch that
	// empties the queue gives every link in line its turn at once, and
	// the one the scheduler runs first takes the room. Zero: cap(dst)
	// alone bounds a batch.
	Batch int
	// Now is the clock; tests inject a fake one. Default time.Now.
	Now func() time.Time
}

// ClassStats counts one class's traffic through the queue.
type ClassStats struct {
	Enqueued      uint64
	EnqueuedBytes uint64
	Sent          uint64
	SentBytes     uint64
	Dropped       [NumDropReasons]uint64
}

// TotalDropped sums the drops over every reason.
func (s *ClassStats) TotalDropped() uint64 {
	var n uint64
	for _, d := range s.Dropped {
		n += d
	}
	return n
}

// Stats is a snapshot of a queue's counters and state.
type Stats struct {
	Class              [NumClasses]ClassStats
	Malformed          uint64 // messages refused with ErrMalformed
	PendingBytes       int
	PendingMessages    int
	FlowControl        bool   // in flow control now
	FlowControlEntries uint64 // times flow control was entered
}

// Queue is one connection's send queue. Its methods are safe for concurrent
// use: any number of producers, one consumer (the writer goroutine).
type Queue struct {
	maxBytes    int
	maxMsgs     int
	waitMark    int
	batch       int // 0: no bound but cap(dst)
	stuckAfter  time.Duration
	drainWindow time.Duration
	now         func() time.Time

	// Mirrors of overWaitMark, flow and whether links wait in line, and
	// when the writer last took a batch (UnixNano), for the lock-free
	// checks the links that feed the queue make for every descriptor. The
	// mirrors are stored only when they change: a store on every Enqueue
	// would bounce their cache line between the producers' cores.
	overWait  bool // overWaitMark as overWaitA last stored it
	overWaitA atomic.Bool
	flowA     atomic.Bool
	lineA     atomic.Bool
	lastTake  atomic.Int64
	// Batches DequeueBatch handed out and batches the writer reported
	// Written: they differ while a write is in progress.
	taken, written atomic.Uint64

	// ready holds a token when a message arrived in an empty queue or the
	// queue closed, so Wait never polls.
	ready chan struct{}

	mu        sync.Mutex
	classes   [NumClasses]ring
	pending   int // queued bytes
	count     int // queued messages
	flow      bool
	flowSince time.Time
	closed    bool
	line      []*Waiter // links waiting for room, first come first
	held      int       // bytes of the classes' ring buffers
	holdLimit int       // above it, rings that empty give their buffers back
	stats     Stats
}

// New returns an empty queue.
func New(cfg Config) *Queue {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxMessages <= 0 {
		cfg.MaxMessages = DefaultMaxMessages
	}
	if cfg.StuckAfter <= 0 {
		cfg.StuckAfter = DefaultStuckAfter
	}
	if cfg.DrainWindow <= 0 {
		cfg.DrainWindow = DefaultDrainWindow
	}
	switch {
	case cfg.WaitMark > 0:
	case cfg.Batch > 0:
		cfg.WaitMark = 2 * cfg.Batch
	default:
		cfg.WaitMark = cfg.MaxBytes / 8
	}
	cfg.WaitMark = max(min(cfg.WaitMark, cfg.MaxBytes/4), 1)
	if cfg.Batch > 0 {
		cfg.Batch = max(min(cfg.Batch, cfg.WaitMark/2), 1)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	q := &Queue{
		maxBytes:    cfg.MaxBytes,
		maxMsgs:     cfg.MaxMessages,
		waitMark:    cfg.WaitMark,
		batch:       cfg.Batch,
		stuckAfter:  cfg.StuckAfter,
		drainWindow: cfg.DrainWindow,
		now:         cfg.Now,
		ready:       make(chan struct{}, 1),
		// Ring buffers are rounded up to a power of two, so a full queue
		// holds up to twice MaxBytes, beside every class's smallest ring;
		// keeping that much lets a queue that was full once reuse its
		// rings, and bounds what it keeps.
		holdLimit: 2*cfg.MaxBytes + NumClasses*minRingBytes,
	}
	// A new queue's writer is there to drain it.
	q.lastTake.Store(cfg.Now().UnixNano())
	return q
}

// Enqueue copies desc, one encoded descriptor (header included), into the
// queue; the caller may reuse desc as soon as Enqueue returns, so the router
// can encode once and enqueue to every target. own marks messages this
// servent originated (our Pings and Queries): flow control does not refuse
// them. Enqueue never blocks. It returns nil when the message was queued, or
// one of ErrFlowControl, ErrFull, ErrClosed, ErrTooLarge, ErrMalformed; every
// refusal and eviction is counted.
func (q *Queue) Enqueue(desc []byte, own bool) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(desc) < wire.HeaderLen {
		q.stats.Malformed++
		return ErrMalformed
	}
	t := wire.PayloadType(desc[16])
	c := ClassOf(t)
	st := &q.stats.Class[c]
	switch {
	case q.closed:
		st.Dropped[DropClosed]++
		return ErrClosed
	case t == wire.TypeBye:
		q.discardAll()
		q.closed = true
		q.push(c, desc)
		return nil
	case len(desc) > q.maxBytes:
		st.Dropped[DropTooLarge]++
		return ErrTooLarge
	case q.flow && !own && (c == ClassPing || c == ClassQuery):
		st.Dropped[DropFlowControl]++
		return ErrFlowControl
	case !q.makeRoom(c, len(desc)):
		st.Dropped[DropFull]++
		return ErrFull
	}
	q.push(c, desc)
	return nil
}

func (q *Queue) fits(n int) bool {
	return q.pending+n <= q.maxBytes && q.count < q.maxMsgs
}

// makeRoom evicts queued messages less important than class c until n more
// bytes and one more message fit. It evicts nothing unless evicting every
// less important message would be enough: destroying queued traffic for a
// message that is dropped anyway helps no one.
func (q *Queue) makeRoom(c Class, n int) bool {
	if q.fits(n) {
		return true
	}
	lowerBytes, lowerMsgs := 0, 0
	for k := range c {
		lowerBytes += q.classes[k].bytes
		lowerMsgs += q.classes[k].n
	}
	if q.pending-lowerBytes+n > q.maxBytes || q.count-lowerMsgs >= q.maxMsgs {
		return false
	}
	for k := Class(0); k < c && !q.fits(n); k++ {
		r := &q.classes[k]
		for r.n > 0 && !q.fits(n) {
			q.setPending(q.pending - r.pop())
			q.count--
			q.stats.Class[k].Dropped[DropEvicted]++
		}
		q.trim(r)
	}
	return true
}

func (q *Queue) push(c Class, desc []byte) {
	if grew := q.classes[c].push(desc); grew > 0 {
		q.held += grew
		for k := range q.classes {
			if q.classes[k].n == 0 {
				q.trim(&q.classes[k])
			}
		}
	}
	q.setPending(q.pending + len(desc))
	q.count++
	st := &q.stats.Class[c]
	st.Enqueued++
	st.EnqueuedBytes += uint64(len(desc))
	if !q.flow && 2*q.pending > q.maxBytes {
		q.setFlow(true)
		q.flowSince = q.now()
		q.stats.FlowControlEntries++
	}
	if q.count == 1 {
		q.signal()
	}
}

// trim gives back r's buffer, or the part of it r no longer needs, while
// the queue holds more than its limit: a queue whose classes each filled
// it once would otherwise keep a full-size ring for every class.
func (q *Queue) trim(r *ring) {
	switch {
	case q.held <= q.holdLimit:
	case r.bytes == 0:
		q.held -= r.release()
	case 4*r.bytes <= len(r.buf) && len(r.buf) > minRingBytes:
		q.held += r.resize(2 * r.bytes)
	}
}

// discardAll empties the queue, counting every message as DropClosed.
func (q *Queue) discardAll() {
	for k := range q.classes {
		r := &q.classes[k]
		q.stats.Class[k].Dropped[DropClosed] += uint64(r.n)
		r.reset()
		q.trim(r)
	}
	q.count = 0
	q.setPending(0)
	q.setFlow(false)
	q.wakeAll(0)
}

func (q *Queue) setPending(n int) {
	q.pending = n
	over := q.overWaitMark()
	if over != q.overWait {
		q.overWait = over
		q.overWaitA.Store(over)
	}
}

func (q *Queue) setFlow(on bool) {
	q.flow = on
	q.flowA.Store(on)
}

// overLowMark: the pending bytes are at least a quarter of MaxBytes, the
// mark below which flow control ends.
func (q *Queue) overLowMark() bool { return 4*q.pending >= q.maxBytes }

// overWaitMark: the pending bytes are at least WaitMark, the mark over
// which the links that feed the queue wait for room.
func (q *Queue) overWaitMark() bool { return q.pending >= q.waitMark }

func (q *Queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Wait blocks until a message is queued, the queue is closed and empty
// (ErrClosed: after a Bye was dequeued, the writer's work is done), or ctx
// ends (ctx.Err()).
func (q *Queue) Wait(ctx context.Context) error {
	for {
		q.mu.Lock()
		count, closed := q.count, q.closed
		q.mu.Unlock()
		if count > 0 {
			return nil
		}
		if closed {
			return ErrClosed
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// DequeueBatch appends queued messages to dst, most important class first
// and FIFO within a class, while they fit in cap(dst) and in Config.Batch
// bytes. The first message is appended even when it does not fit (dst
// grows), so a batch is never empty while anything is queued; a writer
// that keeps its buffer and passes buf[:0] again stops allocating once the
// buffer has grown. It returns the extended dst and the number of messages
// still queued: zero means the queue ran dry and the writer should flush
// its compressor.
func (q *Queue) DequeueBatch(dst []byte) ([]byte, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	start, end := len(dst), cap(dst)
	if q.batch > 0 {
		end = min(end, start+q.batch)
	}
	for c := NumClasses - 1; c >= 0; c-- {
		r := &q.classes[c]
		// The run of this class's oldest messages that fits, copied out
		// at once.
		if k, n := r.runThatFits(end-len(dst), len(dst) == start); k > 0 {
			dst = r.copyOut(dst, n)
			r.popRun(k, n)
			q.trim(r)
			q.setPending(q.pending - n)
			q.count -= k
			st := &q.stats.Class[c]
			st.Sent += uint64(k)
			st.SentBytes += uint64(n)
		}
		if r.n > 0 {
			break // its next message does not fit
		}
	}
	q.leaveFlowControl()
	q.passTurn(len(dst) - start)
	return dst, q.count
}

func (q *Queue) leaveFlowControl() {
	q.taken.Add(1)
	if took := q.now().UnixNano(); took != q.lastTake.Load() {
		q.lastTake.Store(took)
	}
	if q.flow && !q.overLowMark() {
		q.setFlow(false)
	}
}

// Written tells the queue that the writer has written the last batch
// DequeueBatch gave it: it is not stuck in a write (see stalled).
func (q *Queue) Written() { q.written.Store(q.taken.Load()) }

// Close discards everything queued (counted as DropClosed) and refuses any
// later message; a Wait in progress returns ErrClosed. It is for a connection
// that ends without a Bye; one that says Bye just enqueues it.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.discardAll()
	q.closed = true
	q.signal()
}

// InFlowControl reports whether the queue is in flow control. The draft asks
// the connection's reader to drop the Queries it receives meanwhile: their
// hits would only pile up in this queue.
func (q *Queue) InFlowControl() bool { return q.flowA.Load() }

// Stuck reports whether the queue has been in flow control, without once
// falling below the low mark, for at least StuckAfter. The connection polls
// it (on its keepalive tick, or after a refused Enqueue) and answers true
// with Bye 502 and a close.
func (q *Queue) Stuck() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.flow && q.now().Sub(q.flowSince) >= q.stuckAfter
}

// Stats returns a snapshot of the counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.stats
	s.PendingBytes = q.pending
	s.PendingMessages = q.count
	s.FlowControl = q.flow
	return s
}
