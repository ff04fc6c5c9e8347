package httpxfer

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The uploader's side of PARQ: a GET that finds no free slot is queued
// instead of refused. The queue is first come, first served: a free slot
// goes to the oldest entry that polls for it (and that its address's and
// network's slot limits allow), so a newcomer never overtakes those that
// wait. Each entry keeps its place while its client polls inside the
// window it was given, as gtk-gnutella's src/core/parq.c keeps it:
//
//   - too early: more than QueueEarlyGrace before its Retry-After (gtk-
//     gnutella's PARQ_MIN_POLL, 10 s). The spec says "Sending the request
//     too soon will cause the slot to be freed", but also that a client
//     whose connection broke "can reconnect ... and keep its slot"; as
//     gtk-gnutella's parq_upload_abusing, an early poll is forgiven (the
//     entry keeps its place and gets a new Retry-After) unless it comes
//     within QueueEarlyWindow of an earlier one and QueueMaxEarly such
//     repeats are counted (each poll on time takes one off): then the
//     entry is freed and the request queues again at the end, with the
//     count, so that every early poll in the window loses the new place
//     too (where gtk-gnutella bans the address for a while). A download
//     run again right after a Ctrl-C keeps its place;
//   - too late: not within the lifetime past its Retry-After (gtk-
//     gnutella's MIN_LIFE_TIME + PARQ_RETRY_SAFETY, 100 s), and the entry
//     is gone; the request queues again at the end.
//
// A client that sent X-Queue or X-Queued is told its place in X-Queued and
// finds the entry by its ID; a legacy client (passive queueing) is found
// by its address and the resource it asks for, and is told only
// Retry-After.

// Queue timing, after gtk-gnutella (src/core/parq.c).
const (
	QueueEarlyGrace  = 10 * time.Second  // PARQ_MIN_POLL
	QueueLifetime    = 100 * time.Second // MIN_LIFE_TIME + PARQ_RETRY_SAFETY
	QueueEarlyWindow = 600 * time.Second // parq_upload_ban_window
	QueueMaxEarly    = 10                // parq_ban_bad_maxcountwait
)

// queueEntry is one queued request; all fields under Uploader.mu.
type queueEntry struct {
	id      string
	ip      netip.Addr
	target  string    // the resource, for passive clients
	retryAt time.Time // the Retry-After it was given
	expires time.Time // retryAt + QueueLifetime
	// Early polls (pollEarly): counted while each comes within
	// QueueEarlyWindow of the one before, that is until earlyUntil.
	early      int
	earlyUntil time.Time
}

// pollEarly counts a poll that came too early and reports whether the
// entry loses its place for it, as gtk-gnutella's parq_upload_abusing
// decides.
func (e *queueEntry) pollEarly(now time.Time) bool {
	within := now.Before(e.earlyUntil)
	if within {
		e.early++
	}
	if within && e.early >= QueueMaxEarly {
		return true
	}
	e.earlyUntil = now.Add(QueueEarlyWindow)
	return false
}

// QueueLength returns the number of queued requests.
func (u *Uploader) QueueLength() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.expireLocked(time.Now())
	return len(u.queue)
}

// queueRetry is the Retry-After for a place, as parq_ul_calc_retry
// computes it: the base, plus half of it per entry ahead, at most
// MaxQueuePoll.
func (u *Uploader) queueRetry(pos int) time.Duration {
	d := u.cfg.QueuePoll + time.Duration(pos-1)*(u.cfg.QueuePoll/2)
	return min(d, u.cfg.MaxQueuePoll)
}

// expireLocked drops the entries whose lifetime is over.
func (u *Uploader) expireLocked(now time.Time) {
	u.queue = slices.DeleteFunc(u.queue, func(e *queueEntry) bool { return now.After(e.expires) })
}

// admitGET decides whether a GET of a file body may go on now, taking a
// slot for s when it may. When it may not, it sets rep to the 503: Queued
// with the place, or Queue full.
func (s *session) admitGET(req *request, rep *reply) bool {
	u := s.u
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now()
	if s.hasSlot && !s.slotIdleLocked(now) {
		s.slotAsked += rep.length
		return true
	}
	if s.hasSlot {
		u.releaseSlotLocked(s) // it queues like a newcomer
	}
	u.expireLocked(now)

	parq, legacy := s.queueAware(req)
	at := -1
	if parq {
		if id, ok := req.queuedID(); ok {
			at = slices.IndexFunc(u.queue, func(e *queueEntry) bool { return e.id == id && e.ip == s.ip })
		}
	}
	if at < 0 {
		// By address and resource, as gtk-gnutella's parq_upload_find
		// falls back to: a client that polls without its ID (or with a
		// stale one) keeps its one place instead of taking another.
		at = slices.IndexFunc(u.queue, func(e *queueEntry) bool { return e.ip == s.ip && e.target == req.target })
	}
	var lost *queueEntry // its early polls go with the request
	if at >= 0 {
		e := u.queue[at]
		switch {
		case !now.Before(e.retryAt.Add(-QueueEarlyGrace)):
			e.early = max(e.early-1, 0) // on time
		case e.pollEarly(now):
			u.queue = slices.Delete(u.queue, at, at+1) // the place is lost
			lost, at = e, -1
		}
	}

	// Free slots go to the oldest entries that may take one.
	free := u.cfg.MaxUploads - u.active
	ahead := 0
	for _, e := range u.queue[:max(at, 0)] {
		if u.slotAllowedLocked(e.ip) {
			ahead++
		}
	}
	if at < 0 {
		ahead = 0
		for _, e := range u.queue {
			if u.slotAllowedLocked(e.ip) {
				ahead++
			}
		}
	}
	if ahead < free && u.slotAllowedLocked(s.ip) {
		if at >= 0 {
			u.queue = slices.Delete(u.queue, at, at+1)
		}
		u.takeSlotLocked(s)
		s.slotAsked = rep.length
		return true
	}

	rep.status, rep.rng, rep.length = 503, nil, 0
	if at < 0 {
		if len(u.queue) >= u.cfg.MaxQueue {
			rep.reason, rep.close, rep.retry = "Queue full", true, u.cfg.RetryAfter
			return false
		}
		if u.queuedFromLocked(s.ip) >= u.cfg.MaxQueuePerIP {
			rep.reason, rep.close, rep.retry = "Too many queued from your address", true, u.cfg.RetryAfter
			return false
		}
		e := &queueEntry{id: newQueueID(), ip: s.ip, target: req.target}
		if lost != nil {
			e.early, e.earlyUntil = lost.early, lost.earlyUntil
		}
		u.queue = append(u.queue, e)
		at = len(u.queue) - 1
	}
	e := u.queue[at]
	pos := at + 1
	retry := u.queueRetry(pos)
	e.retryAt, e.expires = now.Add(retry), now.Add(retry+QueueLifetime)
	rep.reason, rep.retry = "Queued", retry
	// A client that polls soon keeps the connection, as in PARQ's
	// synchronous queue; the others come back on a new one.
	rep.close = retry >= u.cfg.IdleTimeout
	if parq || legacy {
		rep.queue = &QueueStatus{
			ID: e.id, Position: pos, Length: len(u.queue),
			PollMin: retry, PollMax: retry + QueueLifetime,
		}
		rep.legacyQueue = legacy
	}
	return false
}

// slotIdleLocked reports whether s, which holds a slot, asked for less
// than MinUploadRate over the SlowUploadTime or more since it was last
// judged, while others queue: a client that keeps its keep-alive
// connection with a byte now and then, and never a body the slow-reader
// check of sendBody could judge, would hold the slot for ever. Each
// judgement starts a new period. u.mu is held.
func (s *session) slotIdleLocked(now time.Time) bool {
	cfg := &s.u.cfg
	span := now.Sub(s.slotFrom)
	if span < cfg.SlowUploadTime {
		return false
	}
	asked := s.slotAsked
	s.slotFrom, s.slotAsked = now, 0
	s.u.expireLocked(now)
	return len(s.u.queue) > 0 && asked < cfg.MinUploadRate*span.Milliseconds()/1000
}

// queuedFromLocked counts the places ip holds; u.mu is held.
func (u *Uploader) queuedFromLocked(ip netip.Addr) int {
	n := 0
	for _, e := range u.queue {
		if e.ip == ip {
			n++
		}
	}
	return n
}

// queueAware tells how the client queues: parq when it sent X-Queue with
// a version of 1 or more, or an X-Queued; legacy for Active Queueing
// (X-Queue: 0.x).
func (s *session) queueAware(req *request) (parq, legacy bool) {
	if _, ok := req.h.Get("X-Queued"); ok {
		return true, false
	}
	v, ok := req.h.Get("X-Queue")
	if !ok {
		return false, false
	}
	major := queueMajor(v)
	return major >= 1, major < 1
}

// queueMajor reads the major version from the front of "1.1".
func queueMajor(v string) int64 {
	major, _, _ := strings.Cut(strings.TrimSpace(v), ".")
	n, _ := parseDigits(major)
	return n
}

// queuedID is the ID of the request's X-Queued header.
func (r *request) queuedID() (string, bool) {
	v, ok := r.h.Get("X-Queued")
	if !ok {
		return "", false
	}
	id := queueFields(v)["id"]
	return id, validQueueID(id)
}

func newQueueID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// appendQueueReply appends the place of a queued reply: X-Features once
// per connection and X-Queued for PARQ clients, X-Queue for Active
// Queueing ones (parq_upload_add_x_queued_header and
// parq_upload_add_old_queue_header in gtk-gnutella).
func (s *session) appendQueueReply(b []byte, rep *reply) []byte {
	q := rep.queue
	if q == nil {
		return b
	}
	if !s.featuresSent {
		s.featuresSent = true
		b = append(b, "\r\nX-Features: queue/1.1"...)
	}
	secs := func(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }
	if rep.legacyQueue {
		b = append(b, "\r\nX-Queue: position="...)
		b = strconv.AppendInt(b, int64(q.Position), 10)
		b = append(b, ", length="...)
		b = strconv.AppendInt(b, int64(q.Length), 10)
		b = append(b, ", limit="...)
		b = strconv.AppendInt(b, int64(s.u.cfg.MaxUploads), 10)
		b = append(b, ", pollMin="...)
		b = strconv.AppendInt(b, secs(q.PollMin), 10)
		b = append(b, ", pollMax="...)
		return strconv.AppendInt(b, secs(q.PollMax), 10)
	}
	b = append(b, "\r\nX-Queued: ID="...)
	b = append(b, q.ID...)
	b = append(b, "; position="...)
	b = strconv.AppendInt(b, int64(q.Position), 10)
	b = append(b, "; lifetime="...)
	b = strconv.AppendInt(b, secs(q.PollMax), 10)
	b = append(b, "; length="...)
	return strconv.AppendInt(b, int64(q.Length), 10)
}
