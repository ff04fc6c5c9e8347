package httpxfer

import (
	"errors"
	"time"
)

// The downloader's side of PARQ: every request says "X-Queue: 1.1", and
// once a source has queued us, "X-Queued: position=<n>; ID=<id>" with the
// place it gave. A "503 Queued" is not a failure: the worker waits the
// reply's Retry-After (PollMin, at most MaxQueueWait) and polls again,
// inside the window the source set, on the same connection when the
// source keeps it open (as gtk-gnutella does for the head of its queue),
// else on a new one. Request.Queued hears of each place.

// maxQueuedBody bounds the body of a 503 that we read past to keep the
// connection for the next poll.
const maxQueuedBody = 64 << 10

// busy tells Request.Busy that the worker of s waits out a plain 503.
func (j *job) busy(s *srcState, se *sourceError, wait time.Duration) {
	if j.req.Busy == nil || se == nil || (se.action != actBusy && !se.noAnswer) {
		return
	}
	status := se.status
	if se.noAnswer {
		status = se.Error()
	}
	j.queueMu.Lock()
	defer j.queueMu.Unlock()
	j.req.Busy(s.src, status, wait)
}

// queued applies a failed reply to s when it is a queue place: it records
// the place, reads past the reply's body to keep c for the next poll when
// the source keeps the connection, and tells Request.Queued.
func (j *job) queued(s *srcState, c *clientConn, resp *response, g *stallGuard, err error) {
	var se *sourceError
	if !errors.As(err, &se) || se.action != actQueued {
		return
	}
	changed := se.queue.ID != s.queue.ID
	s.queue = se.queue
	j.setQueued(s, se.queue)
	if changed {
		j.askCommit() // keep the new place across a restart
	}
	if resp.keep && resp.length >= 0 && resp.length <= maxQueuedBody && c.skipBody(resp.length, g) == nil {
		se.keep = true
	}
	if j.req.Queued != nil {
		j.queueMu.Lock()
		defer j.queueMu.Unlock()
		j.req.Queued(s.src, se.queue)
	}
}
