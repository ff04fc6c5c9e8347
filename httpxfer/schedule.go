package httpxfer

import (
	"context"
	"errors"
	"sync"
	"time"
)

// runRound runs one worker per usable source (except exclude) until every
// chunk is complete or no worker can go on, and hf (if not nil) alongside.
// Sources added while it runs (addSources) get a worker of their own.
func (j *job) runRound(ctx context.Context, exclude string, hf *hashFollower) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	j.mu.Lock()
	j.endRound = cancel
	done := make(chan struct{})
	j.round = &round{ctx: rctx, asking: make(map[*srcState]bool), freed: make(chan struct{}), done: done}
	n := 0
	for _, s := range j.srcs {
		if !s.dropped && s.key != exclude {
			n++
		}
	}
	j.solo.Store(n == 1)
	for _, s := range j.srcs {
		if !s.dropped && s.key != exclude {
			j.startWorkerLocked(s)
		}
	}
	if n == 0 {
		close(done)
		j.round = nil
	}
	j.mu.Unlock()
	// The helpers live until the last worker is done.
	var helpers sync.WaitGroup
	hctx, stopHelpers := context.WithCancel(rctx)
	if hf != nil {
		helpers.Go(func() { j.follow(hctx, hf) })
	}
	for range verifiers() {
		helpers.Go(func() { j.verifier(hctx) })
	}
	helpers.Go(func() { j.committer(hctx) })
	if j.req.Progress != nil {
		helpers.Go(func() { j.reporter(hctx) })
	}
	<-done
	stopHelpers()
	helpers.Wait()
}

// round is the running round's state that new workers join.
type round struct {
	ctx    context.Context
	used   int                // connection slots in use (admit), at most MaxConns
	asking map[*srcState]bool // workers waiting for a slot
	freed  chan struct{}      // closed and replaced when a slot frees (freedLocked)
	live   int                // workers running
	done   chan struct{}      // closed when the last one ends
}

// startWorkerLocked starts a worker for s in the running round.
func (j *job) startWorkerLocked(s *srcState) {
	r := j.round
	r.live++
	// Asking from the start: the first worker to run must not take a
	// slot that a better source started at the same time would get.
	r.asking[s] = true
	go func() {
		j.worker(r.ctx, s, r)
		j.mu.Lock()
		defer j.mu.Unlock()
		if r.asking[s] { // it ended before asking
			delete(r.asking, s)
			r.freedLocked()
		}
		if r.live--; r.live == 0 {
			close(r.done)
			if j.round == r {
				j.round = nil
			}
		}
	}()
}

// worker fetches chunks from one source, one at a time, on a kept-alive
// connection when the source allows. The only worker of a round sends the
// next chunk's request before reading the current body (pipelining), so
// the source never idles for a round trip between chunks. Each worker has
// its own file handle, so splicing at its own offset does not disturb the
// others.
func (j *job) worker(ctx context.Context, s *srcState, r *round) {
	w, err := openPartWriter(j.partPath, j.part)
	if err != nil {
		j.setFatal(err)
		return
	}
	defer w.Close()
	var cc *clientConn
	defer func() { cc.close() }()
	next := -1 // a chunk already requested on cc (pipelined), held busy
	defer func() {
		if next >= 0 {
			j.release(next)
		}
	}()
	for {
		if !j.admit(ctx, r, s) {
			return
		}
		ci := next
		next = -1
		if ci < 0 {
			var wake <-chan struct{}
			ci, wake = j.pick(s)
			if ci < 0 {
				j.leave(r, s, false)
				if wake == nil {
					return
				}
				select {
				case <-wake:
					continue
				case <-ctx.Done():
					return
				}
			}
		}
		next, err = j.fetchChunk(ctx, w, &cc, s, ci)
		j.leave(r, s, true)
		var se *sourceError
		if err != nil && !(errors.As(err, &se) && se.keep) {
			if cc != nil {
				cc.close()
				cc = nil
			}
			if next >= 0 {
				// Back to picking the first idle chunk, as without
				// pipelining.
				j.release(next)
				next = -1
			}
		}
		// With err nil and cc closed (the source ended the connection
		// after the body), a pipelined request is lost; next stays ours
		// and is asked for again on a new connection.
		delay, stop := j.settle(ctx, s, ci, err)
		if delay > 0 {
			j.unask(r, s)
		}
		switch {
		case stop:
			return
		case delay > 0 && se != nil && se.action == actQueued && s.queue.ID != "":
			conn, err := j.waitQueued(ctx, s.queue.ID, delay)
			if err != nil {
				return
			}
			if conn != nil { // the uploader called back: poll on its connection
				cc.close()
				cc = newClientConn(conn)
			}
		case delay > 0:
			j.busy(s, se, delay)
			if j.cfg.Wait(ctx, delay) != nil {
				return
			}
		}
	}
}

// pick marks the first incomplete, idle work (a chunk, or the tail of a
// split one) busy for s; with none, it tries the endgame (splitLocked).
// With nothing to take, it returns a channel to wait on when other
// workers may still release some, and nil when the round is over for s.
func (j *job) pick(s *srcState) (int, <-chan struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if s.dropped || j.fatal != nil {
		return -1, nil
	}
	inFlight, complete := false, true
	for i := range j.chunks {
		c := &j.chunks[i]
		if c.have == j.chunkLen(i) {
			continue
		}
		complete = false
		w := -1
		switch {
		case c.have < j.prefixEndLocked(i) && !c.busy:
			w = i
		case c.tail != nil && c.limit+c.tail.have < j.chunkLen(i) && !c.tail.busy:
			w = len(j.chunks) + i
		}
		if w < 0 || !j.mayTakeLocked(i, s) {
			inFlight = true
			continue
		}
		j.takeLocked(w, s)
		return w, nil
	}
	if inFlight {
		if w := j.splitLocked(s); w >= 0 {
			return w, nil
		}
	}
	if complete && (j.treeBusy || !j.allVerifiedLocked()) {
		// The verifier may yet throw chunks away; a tree on its way
		// may yet be used.
		return -1, j.wake
	}
	if complete {
		j.endRound() // wakes workers waiting out a Retry-After
	}
	if inFlight {
		return -1, j.wake
	}
	return -1, nil
}

// release makes chunk ci idle again without a fetch having happened.
func (j *job) release(ci int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.putLocked(ci)
	j.notifyLocked()
}

// notifyLocked wakes everyone waiting on j.wake.
func (j *job) notifyLocked() {
	close(j.wake)
	j.wake = make(chan struct{})
}

// settle releases chunk ci after a fetch and applies err to the source. It
// tells the worker how long to wait before its next try, or to stop.
func (j *job) settle(ctx context.Context, s *srcState, ci int, err error) (time.Duration, bool) {
	j.mu.Lock()
	j.putLocked(ci)
	j.notifyLocked()
	var delay time.Duration
	stop := false
	progressed := s.got > s.settled
	s.settled = s.got
	var se *sourceError
	switch {
	case err == nil:
		s.failures = 0
	case ctx.Err() != nil:
		stop = true // cancelled: not the source's fault
	case errors.As(err, &se) && se.action == actFatal:
		j.fatal = err
		j.endRound()
		stop = true
	case errors.As(err, &se) && se.action == actDrop:
		j.dropLocked(s, err)
		stop = true
	case se != nil && se.action == actQueued:
		s.failures = 0 // a place in a queue is progress of a kind
		delay = se.delay
	default:
		if se != nil {
			delay = se.delay
		}
		stop = j.countFailureLocked(s, err, progressed)
		delay = max(delay, j.backoffLocked(s, se))
	}
	if j.uncommitted >= j.cfg.CommitBytes || (err != nil && j.uncommitted > 0) {
		j.askCommit()
	}
	j.mu.Unlock()
	return delay, stop
}
