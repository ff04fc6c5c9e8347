package httpxfer

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// ErrTooManySessions is returned by ServeConn for a connection refused
// with 503 because the uploader serves MaxSessions connections already (none
// of them idle), or MaxSessionsPerIP from the client's address.
var ErrTooManySessions = errors.New("upload: too many HTTP sessions")

// ConnOptions tune one ServeConnWith call.
type ConnOptions struct {
	// FirstHeadBy, when set, is when the first request head must have
	// arrived, instead of HeaderTimeout from now: the servent bounds its
	// whole first phase (sniffing the protocol, then this head) by one
	// deadline.
	FirstHeadBy time.Time
	// FirstHeadRead, when set, is called once the first request head has
	// been read, or failed to be: the servent's first phase is over and the
	// session now counts against the uploader's limits only.
	FirstHeadRead func()
}

// SessionStats count the HTTP connections the uploader serves.
type SessionStats struct {
	Open    int    // connections being served now
	Idle    int    // of Open, waiting for a next request without an upload slot: evictable
	Refused uint64 // answered 503 for being over MaxSessions or MaxSessionsPerIP
	Evicted uint64 // idle keep-alive connections closed to serve a new one
}

// sessionTable bounds the connections an Uploader serves, all told and per
// client address. A keep-alive connection waiting for its next request
// without an upload slot costs us a socket and nothing else, so when the
// table is full the one idle longest is closed to make room (as nginx
// reuses idle keep-alive connections); connections holding an upload slot
// are left to the upload limits.
type sessionTable struct {
	mu      sync.Mutex
	open    int
	perIP   map[netip.Addr]int
	idle    map[*session]time.Time // evictable sessions, since when
	refused uint64
	evicted uint64
}

// admit takes a place for s, evicting the idlest evictable session when
// the table is full. It reports false when s must be refused.
func (t *sessionTable) admit(s *session, max, maxPerIP int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.perIP == nil {
		t.perIP, t.idle = map[netip.Addr]int{}, map[*session]time.Time{}
	}
	if t.perIP[s.ip] >= maxPerIP || t.open >= max && !t.evictLocked() {
		t.refused++
		return false
	}
	t.open++
	t.perIP[s.ip]++
	s.counted = true
	return true
}

// evictLocked closes the session idle longest, if any: it stops counting
// at once, and wakes from its wait for a request to close.
func (t *sessionTable) evictLocked() bool {
	var victim *session
	var since time.Time
	for s, at := range t.idle {
		if victim == nil || at.Before(since) {
			victim, since = s, at
		}
	}
	if victim == nil {
		return false
	}
	delete(t.idle, victim)
	victim.evicted = true
	t.forgetLocked(victim)
	t.evicted++
	_ = victim.conn.SetReadDeadline(time.Now())
	return true
}

func (t *sessionTable) forgetLocked(s *session) {
	if !s.counted {
		return
	}
	s.counted = false
	t.open--
	if t.perIP[s.ip]--; t.perIP[s.ip] <= 0 {
		delete(t.perIP, s.ip)
	}
}

// close gives back s's place.
func (t *sessionTable) close(s *session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.idle, s)
	t.forgetLocked(s)
}

// waiting marks s as waiting for its next request: evictable unless it
// holds an upload slot.
func (t *sessionTable) waiting(s *session) {
	if s.hasSlot {
		return
	}
	t.mu.Lock()
	t.idle[s] = time.Now()
	t.mu.Unlock()
}

// working marks s as busy with a request again. It reports false when s
// was evicted while it waited: it must close.
func (t *sessionTable) working(s *session) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.idle, s)
	return !s.evicted
}

func (t *sessionTable) stats() SessionStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return SessionStats{Open: t.open, Idle: len(t.idle), Refused: t.refused, Evicted: t.evicted}
}

// SessionStats returns the counts of the connections served.
func (u *Uploader) SessionStats() SessionStats { return u.sessions.stats() }

// headDeadline is when a request head must have arrived.
func (s *session) headDeadline(first bool) time.Time {
	d := time.Now().Add(s.u.cfg.HeaderTimeout)
	if by := s.opts.FirstHeadBy; first && !by.IsZero() && by.Before(d) {
		return by
	}
	return d
}

// firstHeadRead tells the caller, once, that the first head is in.
func (s *session) firstHeadRead() {
	if f := s.opts.FirstHeadRead; f != nil {
		s.opts.FirstHeadRead = nil
		f()
	}
}

// refuseBusy answers the first request of a connection over the session
// limits with 503 and Retry-After, and ends it.
func (s *session) refuseBusy() error {
	_ = s.conn.SetReadDeadline(s.headDeadline(true))
	h, err := readHead(s.br)
	s.firstHeadRead()
	if err != nil {
		return fmt.Errorf("%w from %s (request unread: %w)", ErrTooManySessions, s.ip, err)
	}
	req, _, err := parseRequest(h)
	if err != nil {
		req = &request{method: "GET"}
	}
	rep := &reply{status: 503, reason: "Busy", length: 0, close: true, retry: s.u.cfg.RetryAfter}
	if err := s.send(req, rep); err != nil {
		return errors.Join(fmt.Errorf("%w from %s", ErrTooManySessions, s.ip), err)
	}
	return fmt.Errorf("%w from %s", ErrTooManySessions, s.ip)
}
