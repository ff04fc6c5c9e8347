package servent

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
)

// Dynamic querying (gtk-gnutella doc/gnutella/dynamic_query): an ultrapeer
// does not flood its leaves' Queries. It sends them to its matching leaves
// at once, probes a few ultrapeer neighbours with TTL 1 (their leaves and,
// through their QRP tables, whether they can answer), counts the results
// that come back for the Query's GUID, and widens one neighbour at a time
// with a higher TTL until the Query has DynamicQueryResults results or no
// neighbour is left.

// maxDynamicQueries bounds the dynamic queries in progress; beyond it a
// leaf's Query is flooded as any other.
const maxDynamicQueries = 1024

// dqState tracks the dynamic queries in progress by GUID.
type dqState struct {
	mu     sync.Mutex
	active map[wire.GUID]*dynQuery
}

// dynQuery is one leaf Query being widened.
type dynQuery struct {
	results atomic.Int64 // results routed back so far
	sent    atomic.Int32 // neighbours the Query was sent to
}

// DynamicQueries is how many dynamic queries are in progress.
func (s *Servent) DynamicQueries() int {
	s.dq.mu.Lock()
	defer s.dq.mu.Unlock()
	return len(s.dq.active)
}

// countHits adds a QueryHit's results to its dynamic query, if any.
func (s *Servent) countHits(guid wire.GUID, n int) {
	s.dq.mu.Lock()
	d := s.dq.active[guid]
	s.dq.mu.Unlock()
	if d != nil {
		d.results.Add(int64(n))
	}
}

// dynamicQuery forwards a leaf's Query: to the matching leaves in targets at
// once, and to the ultrapeer neighbours in targets step by step. It reports
// false when too many dynamic queries run already: the caller floods.
func (s *Servent) dynamicQuery(from *conn, m *wire.Message, h wire.Header, targets []router.PeerID) bool {
	var leaves, ups []router.PeerID
	for _, id := range targets {
		if c := s.connByID(id); c != nil && c.kind == router.Leaf {
			leaves = append(leaves, id)
		} else {
			ups = append(ups, id)
		}
	}
	if len(ups) == 0 {
		s.forward(from, m, h, leaves)
		return true
	}
	d := &dynQuery{}
	s.dq.mu.Lock()
	if s.dq.active == nil {
		s.dq.active = map[wire.GUID]*dynQuery{}
	}
	if len(s.dq.active) >= maxDynamicQueries || s.dq.active[h.GUID] != nil {
		s.dq.mu.Unlock()
		return false
	}
	s.dq.active[h.GUID] = d
	s.dq.mu.Unlock()
	if len(leaves) > 0 {
		s.forward(from, m, h, leaves)
	}
	payload := append([]byte(nil), m.Payload...)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.dq.mu.Lock()
			delete(s.dq.active, h.GUID)
			s.dq.mu.Unlock()
		}()
		s.runDynamicQuery(from, d, h, payload, ups)
	}()
	return true
}

// runDynamicQuery probes, then widens until enough results came back, no
// neighbour is left, the leaf left or the servent stops.
func (s *Servent) runDynamicQuery(from *conn, d *dynQuery, h wire.Header, payload []byte, ups []router.PeerID) {
	maxTTL := h.TTL // what the leaf's Query may still travel from here
	if maxTTL == 0 {
		return
	}
	var buf []byte
	send := func(id router.PeerID, ttl uint8) bool {
		t := s.connByID(id)
		if t == nil {
			return false
		}
		hh := h
		hh.TTL = ttl
		// The last-hop rule: a TTL-1 Query goes only where the
		// neighbour's table matches.
		if ttl == 1 && !s.queryFilter(id, hh, payload) {
			return false
		}
		hh.Length = uint32(len(payload))
		buf = append(hh.Append(buf[:0]), payload...)
		if !t.enqueue(buf, false) {
			s.stats.queueDrops.Add(1)
			return false
		}
		s.stats.forwarded.Add(1)
		d.sent.Add(1)
		return true
	}
	probed := 0
	for len(ups) > 0 && probed < s.cfg.DynamicQueryProbe {
		if send(ups[0], 1) {
			probed++
		}
		ups = ups[1:]
	}
	target := int64(s.cfg.DynamicQueryResults)
	for {
		if !s.dqWait(from) {
			return
		}
		got := d.results.Load()
		if got >= target || len(ups) == 0 {
			return
		}
		// Few results so far: reach further. Close to the target: one
		// more ring of neighbours is enough.
		ttl := uint8(3)
		if got >= target/2 {
			ttl = 2
		}
		send(ups[0], min(ttl, maxTTL))
		ups = ups[1:]
	}
}

// dqWait waits DynamicQueryWait; false when the leaf or the servent went.
func (s *Servent) dqWait(from *conn) bool {
	t := time.NewTimer(s.cfg.DynamicQueryWait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-from.done:
	case <-s.ctx.Done():
	}
	return false
}
