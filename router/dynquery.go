package router

import (
	"sync"
	"sync/atomic"

	"github.com/govent/govent/wire"
)

// Dynamic querying (gtk-gnutella doc/gnutella/dynamic_query): an ultrapeer
// does not flood its leaves' Queries. Route sends them to the matching
// leaves at once and hands back a DynamicQuery for the ultrapeer
// neighbours: a TTL-1 probe of a few of them (their leaves and, through
// their QRP tables, whether they can answer), then one neighbour at a time
// with a higher TTL until the Query has Config.DynamicQueryResults results
// or no neighbour is left. The router decides each step's targets and TTL
// and counts the results routed back; the caller delivers each step and
// waits between them.

// Defaults for dynamic querying.
const (
	DefaultDynamicQueryResults = 150
	DefaultDynamicQueryProbe   = 3
	// DefaultMaxDynamicQueries bounds the dynamic queries in progress;
	// beyond it a leaf's Query is flooded as any other.
	DefaultMaxDynamicQueries = 1024
)

// dqState tracks the dynamic queries in progress by GUID.
type dqState struct {
	n      atomic.Int32 // len(active), read without the lock on every QueryHit
	mu     sync.Mutex
	active map[wire.GUID]*DynamicQuery
}

// DynamicQuery is one leaf Query being widened. One goroutine drives it:
// Probe, then Next after each wait until it reports false, then Finish.
type DynamicQuery struct {
	r       *Router
	header  wire.Header // as it leaves here; its TTL is the most a step may use
	q       QueryHashes
	ups     []PeerID // ultrapeer neighbours not tried yet, in order
	results atomic.Int64
	sent    bool // a copy went out already: the Forwarded counter has it
}

// DynamicQueries is how many dynamic queries are in progress.
func (r *Router) DynamicQueries() int { return int(r.dq.n.Load()) }

// startDynamic begins a dynamic query for the leaf Query d.Header, to the
// ultrapeers ups, unless too many are in progress or one runs for its GUID
// already (nil: the caller floods).
func (r *Router) startDynamic(d *Decision, q *QueryHashes, ups []PeerID, sent bool) *DynamicQuery {
	dq := &DynamicQuery{r: r, header: d.Header, ups: append([]PeerID(nil), ups...), sent: sent}
	if q != nil {
		dq.q = *q
	}
	s := &r.dq
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil {
		s.active = map[wire.GUID]*DynamicQuery{}
	}
	if len(s.active) >= r.cfg.MaxDynamicQueries || s.active[d.Header.GUID] != nil {
		return nil
	}
	s.active[d.Header.GUID] = dq
	s.n.Store(int32(len(s.active)))
	return dq
}

// countHits adds a routed QueryHit's results to its dynamic query, if any.
func (r *Router) countHits(guid wire.GUID, payload []byte) {
	if r.dq.n.Load() == 0 || len(payload) == 0 {
		return
	}
	r.dq.mu.Lock()
	dq := r.dq.active[guid]
	r.dq.mu.Unlock()
	if dq != nil {
		dq.results.Add(int64(wire.QueryHitCount(payload)))
	}
}

// Results is how many results have been routed back so far.
func (dq *DynamicQuery) Results() int64 { return dq.results.Load() }

// Probe returns the first step: the header to send (TTL 1) and up to
// Config.DynamicQueryProbe ultrapeers, each one whose table, if it sent
// one, matches (the last-hop rule); the others are left for Next. Nothing
// when the Query may travel no further.
func (dq *DynamicQuery) Probe(out []PeerID) (wire.Header, []PeerID) {
	out = out[:0]
	h := dq.header
	h.TTL = 1
	if dq.header.TTL == 0 {
		dq.ups = nil
		return h, out
	}
	// An ultrapeer whose table does not match is skipped by the probe
	// only: its table covers its own leaves, not what lies behind it, so
	// it stays for the wider steps (as gtk-gnutella's dq_send_next picks
	// any neighbour not queried yet).
	ps := dq.r.peers.Load()
	rest := dq.ups[:0]
	for _, id := range dq.ups {
		switch {
		case len(out) < dq.r.cfg.DynamicQueryProbe && dq.r.stepTarget(ps, id, 1, &dq.q):
			out = append(out, id)
		case ps.get(id) != nil:
			rest = append(rest, id)
		}
	}
	dq.ups = rest
	dq.count(len(out))
	return h, out
}

// Next returns the step after a wait: one more ultrapeer, reached with TTL
// 3 while results are few and 2 once they pass half the target (never more
// than the Query may travel), or false when the Query has enough results
// or no ultrapeer is left. A step may have no target (the one it picked is
// gone, or does not match on the last hop); the caller waits and asks again.
func (dq *DynamicQuery) Next(out []PeerID) (wire.Header, []PeerID, bool) {
	out = out[:0]
	h := dq.header
	got, target := dq.results.Load(), int64(dq.r.cfg.DynamicQueryResults)
	if got >= target || len(dq.ups) == 0 {
		return h, out, false
	}
	ttl := uint8(3)
	if got >= target/2 {
		ttl = 2
	}
	h.TTL = min(ttl, dq.header.TTL)
	if dq.r.stepTarget(dq.r.peers.Load(), dq.ups[0], h.TTL, &dq.q) {
		out = append(out, dq.ups[0])
	}
	dq.ups = dq.ups[1:]
	dq.count(len(out))
	return h, out, true
}

// Finish ends the dynamic query: its GUID's hits are no longer counted.
func (dq *DynamicQuery) Finish() {
	s := &dq.r.dq
	s.mu.Lock()
	if s.active[dq.header.GUID] == dq {
		delete(s.active, dq.header.GUID)
		s.n.Store(int32(len(s.active)))
	}
	s.mu.Unlock()
}

// count takes a step's copies into the counters.
func (dq *DynamicQuery) count(n int) {
	if n == 0 {
		return
	}
	st := &dq.r.stats[dq.r.hasher.hash(&dq.header.GUID)&dq.r.statMask]
	if !dq.sent {
		dq.sent = true
		st.add(cForwarded, 1)
	}
	st.add(cSent, uint64(n))
}

// stepTarget reports whether a Query that arrives at peer id with ttl may
// go there: the peer is live and, on the last hop, its table (if it sent
// one) matches.
func (r *Router) stepTarget(ps *peerSet, id PeerID, ttl uint8, q *QueryHashes) bool {
	p := ps.get(id)
	if p == nil {
		return false
	}
	if ttl == 1 {
		if m := p.qrt.Load(); m != nil && !m.Match(q) {
			return false
		}
	}
	return true
}
