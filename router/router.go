package router

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govent/govent/wire"
)

// Defaults for the zero Config.
const (
	DefaultRouteTTL      = 10 * time.Minute
	DefaultMaxRoutes     = 1 << 17
	DefaultMaxPushRoutes = 1 << 16
	DefaultMaxSeenPushes = 1 << 14
	DefaultMaxTTL        = 7
	DefaultHardMaxTTL    = 15
	DefaultShards        = 256
)

// Config tunes a Router. The zero value is ready to use.
type Config struct {
	// RouteTTL is how long after insertion a table entry routes: a reply
	// arriving later is dropped. Default 10 minutes.
	RouteTTL time.Duration
	// MaxRoutes bounds the Ping route table and, separately, the Query route
	// table (each also suppresses duplicates of its type). Kept apart so a
	// Ping flood cannot evict the routes of Queries. Default 131072.
	MaxRoutes int
	// MaxPushRoutes bounds the servent GUID -> peer table. Default 65536.
	MaxPushRoutes int
	// MaxSeenPushes bounds the Push duplicate table. Default 16384.
	MaxSeenPushes int

	// MaxTTL is the soft limit: a Ping or Query whose hops+TTL is above it
	// has its TTL trimmed to MaxTTL-hops, as LimeWire does. We still handle
	// it, we only refuse to carry it further than a well-behaved request
	// would go; dropping it would lose answers for the sender's over-eager
	// setting. Replies and Pushes are not trimmed: they travel one path and
	// cannot amplify. Default 7 (the 0.6 draft's largest new-query TTL).
	MaxTTL uint8
	// HardMaxTTL is the hard limit: any routed descriptor whose hops+TTL is
	// above it is dropped, as gtk-gnutella does above 15. No servent sends
	// that much; it is broken or abusive. Default 15.
	HardMaxTTL uint8

	// ServentGUID is our servent GUID: a Push naming it is delivered locally.
	// Zero means a fresh random GUID (see Router.ServentGUID).
	ServentGUID wire.GUID

	// Role is the node's role to begin with (see SetRole): RoleUltrapeer,
	// the zero value, or RoleLeaf, which forwards nothing and delivers
	// locally only what is for us.
	Role Role
	// PromoteAfter is the uptime AutoRole asks of a leaf before it may
	// become an ultrapeer. Default DefaultPromoteAfter (10 minutes).
	PromoteAfter time.Duration
	// NoQRPFilter sends every Query to every leaf and, on its last hop, to
	// every ultrapeer neighbour, whatever their query route tables say:
	// plain flooding, for measurements. Normally a leaf gets a Query only
	// when its table matches, and nothing before it sent one.
	NoQRPFilter bool
	// NoDynamicQuery floods our leaves' Queries to every neighbour at once,
	// with the TTL they came with, instead of widening them step by step
	// (for measurements).
	NoDynamicQuery bool

	// DynamicQueryResults is how many results a leaf's Query should get
	// before dynamic querying stops widening it; DynamicQueryProbe how many
	// ultrapeers its first, TTL-1 step goes to; MaxDynamicQueries how many
	// may be in progress, beyond which leaves' Queries are flooded. Zero
	// means DefaultDynamicQueryResults, DefaultDynamicQueryProbe and
	// DefaultMaxDynamicQueries.
	DynamicQueryResults, DynamicQueryProbe, MaxDynamicQueries int

	// Now is the clock. Default time.Now.
	Now func() time.Time
	// TableClock, when set, is the clock of the GUID tables: when a route
	// was made and whether it is still fresh, read for every routed
	// descriptor and every duplicate check. Reading it costs an atomic
	// load, where Now may cost more than the rest of a duplicate's drop; a
	// route then lives its RouteTTL give or take the clock's tick. Nil: the
	// tables read Now.
	TableClock *CoarseClock
	// Shards is the number of lock shards per table, rounded down to a power
	// of two (and to no more than the table's capacity). Default 256: with
	// fewer, two cores spin on each other's shard locks (16 shards scaled
	// 1.56-1.63x on 2 cores, 256 shards 1.56-1.74x, median 1.68x).
	Shards int
}

// Router makes routing decisions. It is safe for concurrent use.
type Router struct {
	cfg     Config
	base    time.Time // Now's times count from here (monotonic with time.Now)
	hasher  guidHasher
	servent wire.GUID

	pings      *table // Ping GUID -> peer it came from; also Ping duplicates
	queries    *table // Query GUID -> peer it came from; also Query duplicates
	pushRoutes *table // servent GUID -> peer its QueryHit came from
	seenPushes *table // Push GUID -> peer it came from; duplicates only

	stats    []statStripe
	statMask uint64

	role     atomic.Uint32 // a Role
	switches roleSwitches  // demotions, for AutoRole's hold
	pongs    pongCache
	dq       dqState

	peers   atomic.Pointer[peerSet]
	peersMu sync.Mutex             // serialises AddPeer, RemovePeer and Stats' sum of the peers' drops
	retired [NumDropReasons]uint64 // drops of removed peers, by reason; under peersMu
	gens    []uint32               // generation per slot; slot 0 is Local's
	free    []uint32               // free slots, longest-free first
}

// New returns a Router for cfg, filling in defaults for zero fields.
func New(cfg Config) *Router {
	if cfg.RouteTTL <= 0 {
		cfg.RouteTTL = DefaultRouteTTL
	}
	if cfg.MaxRoutes <= 0 {
		cfg.MaxRoutes = DefaultMaxRoutes
	}
	if cfg.MaxPushRoutes <= 0 {
		cfg.MaxPushRoutes = DefaultMaxPushRoutes
	}
	if cfg.MaxSeenPushes <= 0 {
		cfg.MaxSeenPushes = DefaultMaxSeenPushes
	}
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.HardMaxTTL == 0 {
		cfg.HardMaxTTL = DefaultHardMaxTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Shards <= 0 {
		cfg.Shards = DefaultShards
	}
	if cfg.PromoteAfter <= 0 {
		cfg.PromoteAfter = DefaultPromoteAfter
	}
	if cfg.ServentGUID.IsZero() {
		cfg.ServentGUID = wire.NewGUID()
	}
	if cfg.DynamicQueryResults <= 0 {
		cfg.DynamicQueryResults = DefaultDynamicQueryResults
	}
	if cfg.DynamicQueryProbe <= 0 {
		cfg.DynamicQueryProbe = DefaultDynamicQueryProbe
	}
	if cfg.MaxDynamicQueries <= 0 {
		cfg.MaxDynamicQueries = DefaultMaxDynamicQueries
	}
	ttl := int64(cfg.RouteTTL)
	r := &Router{
		cfg:        cfg,
		base:       cfg.Now(),
		hasher:     guidHasher{k0: rand.Uint64(), k1: rand.Uint64()},
		servent:    cfg.ServentGUID,
		pings:      newTable(cfg.MaxRoutes, cfg.Shards, ttl),
		queries:    newTable(cfg.MaxRoutes, cfg.Shards, ttl),
		pushRoutes: newTable(cfg.MaxPushRoutes, cfg.Shards, ttl),
		seenPushes: newTable(cfg.MaxSeenPushes, cfg.Shards, ttl),
		gens:       make([]uint32, 1),
	}
	n := 1
	for n*2 <= cfg.Shards {
		n *= 2
	}
	r.stats = make([]statStripe, n)
	r.statMask = uint64(n - 1)
	r.peers.Store(&peerSet{slots: make([]*peer, 1)})
	r.role.Store(uint32(cfg.Role))
	return r
}

// ServentGUID returns our servent GUID: Pushes naming it are for us.
func (r *Router) ServentGUID() wire.GUID { return r.servent }

// Stats returns a snapshot of the counters.
func (r *Router) Stats() Stats {
	s := sumStats(r.stats)
	r.peersMu.Lock()
	defer r.peersMu.Unlock()
	for i, n := range r.retired {
		s.Dropped[i] += n
	}
	for _, p := range r.peers.Load().list {
		p.drops.addTo(&s.Dropped)
	}
	return s
}

// now is the time on Now, in ns since base: the Ping throttle's clock. It
// is kept out of line so that tableNow, on every descriptor's path, is
// inlined.
//
//go:noinline
func (r *Router) now() int64 { return int64(r.cfg.Now().Sub(r.base)) }

// tableNow is the GUID tables' clock: TableClock's time (in ns since the
// clock's base), or else Now's (in ns since base). Table times are only
// ever compared with each other, so each clock may count from its own
// base.
func (r *Router) tableNow() int64 {
	if c := r.cfg.TableClock; c != nil {
		return c.ns.Load()
	}
	return r.now()
}

// Decision is what Route decided. The targets to forward to come back
// separately, as a slice.
type Decision struct {
	// Local means this servent handles the descriptor: it answers a Ping
	// (see AnswerPing) or Query, consumes a reply to its own request or a
	// Push for itself, or reads a link-level message (Bye, QRP, vendor,
	// HSEP). A Query can be both handled locally and forwarded.
	Local bool
	// Reason is why the descriptor is dropped, or NotDropped.
	Reason DropReason
	// Header is the header as it leaves this node: TTL trimmed if need be,
	// then decremented, and hops incremented. Send it with the targets. For a
	// request handled locally, Header.Hops is our distance from its origin:
	// a reply needs at least that TTL to get back. For link-level messages
	// it is the header as received.
	Header wire.Header
	// Dynamic, for a Query from our leaf, is the rest of its journey: the
	// targets Route returned are the matching leaves, and the ultrapeer
	// neighbours get it step by step (see DynamicQuery). Nil otherwise.
	Dynamic *DynamicQuery
}

// Dropped reports whether the descriptor was refused.
func (d Decision) Dropped() bool { return d.Reason != NotDropped }

// Route decides where a descriptor that arrived from peer from goes. It
// appends the peers to forward it to onto out[:0] and returns that slice;
// with enough capacity in out, a decision allocates nothing beyond new table
// entries. Route reads h, payload and q and keeps none of them. The payload
// is only looked at for servent GUIDs (the last 16 bytes of a QueryHit, the
// first 16 of a Push) and a QueryHit's result count; a Query is matched
// against the peers' tables by its hashes q, taken once from the decoded
// Query (nil matches no table).
func (r *Router) Route(from PeerID, h *wire.Header, payload []byte, q *QueryHashes, out []PeerID) (Decision, []PeerID) {
	out = out[:0]
	hash := r.hasher.hash(&h.GUID)
	st := &r.stats[hash&r.statMask]
	ps := r.peers.Load()
	d := Decision{Header: *h}
	src := ps.get(from)
	switch {
	case src == nil:
		d.Reason = DropUnknownPeer
	case h.Type == wire.TypePing || h.Type == wire.TypeQuery:
		out = r.routeFlood(&d, src, h, q, hash, st, ps, out)
	case h.Type == wire.TypePong || h.Type == wire.TypeQueryHit:
		out = r.routeReply(&d, from, h, payload, hash, ps, out)
	case h.Type == wire.TypePush:
		out = r.routePush(&d, from, h, payload, hash, ps, out)
	case isLinkLevel(h.Type):
		d.Local = true
	default:
		d.Reason = DropUnknownType
	}
	switch {
	case d.Reason != NotDropped:
		r.countDrop(src, hash, d.Reason)
	case len(out) > 0:
		st.add(cForwarded, 1)
		st.add(cSent, uint64(len(out)))
	}
	if d.Local {
		st.add(cLocal, 1)
	}
	return d, out
}

// isLinkLevel reports the types that speak to the connection they arrive
// on, never to the network: they are handled here and never forwarded.
func isLinkLevel(t wire.PayloadType) bool {
	switch t {
	case wire.TypeBye, wire.TypeQRP, wire.TypeVendor, wire.TypeStdVendor, wire.TypeHSEP:
		return true
	}
	return false
}

// checkTTL applies the rules every routed descriptor must pass.
func (r *Router) checkTTL(h *wire.Header) DropReason {
	if h.TTL == 0 && h.Hops == 0 {
		return DropInvalidTTL
	}
	if int(h.TTL)+int(h.Hops) > int(r.cfg.HardMaxTTL) {
		return DropHardTTL
	}
	return NotDropped
}

// hop sets d.Header to h after one more hop: TTL ttl-1 (not below 0), hops+1.
// A descriptor that arrives with TTL 0 but hops > 0 is still handled here
// (an ultrapeer hands its leaves last-hop Queries with TTL 0); it is never
// forwarded.
func hop(d *Decision, h *wire.Header, ttl uint8) {
	if ttl > 0 {
		ttl--
	}
	d.Header.TTL = ttl
	if h.Hops < 255 {
		d.Header.Hops = h.Hops + 1
	}
}

// routeFlood handles Ping and Query: duplicate check and local delivery;
// a Query then floods to every other peer that should get it. Pings are
// never forwarded: this servent answers them from its pong cache.
func (r *Router) routeFlood(d *Decision, src *peer, h *wire.Header, q *QueryHashes,
	hash uint64, st *statStripe, ps *peerSet, out []PeerID) []PeerID {
	if d.Reason = r.checkTTL(h); d.Reason != NotDropped {
		return out
	}
	if r.requestTable(h.Type).claim(&h.GUID, hash, src.id, r.tableNow()) {
		d.Reason = DropDuplicate
		return out
	}
	ttl := h.TTL
	if int(h.Hops)+int(ttl) > int(r.cfg.MaxTTL) {
		ttl = 0
		if h.Hops < r.cfg.MaxTTL {
			ttl = r.cfg.MaxTTL - h.Hops
		}
		st.add(cTrimmed, 1)
	}
	d.Local = true
	hop(d, h, ttl)
	if r.Role() == RoleLeaf {
		return out
	}
	if d.Header.TTL == 0 {
		st.add(cExhausted, 1)
		if ttl == 0 {
			return out
		}
	}
	if h.Type == wire.TypePing {
		return out
	}
	// The Query goes to every leaf whose table matches (ultrapeer and
	// leaves are one unit, ultrapeer_qrp 2.4), whatever the TTL left, and
	// to every ultrapeer while TTL is left; on the last hop an ultrapeer's
	// table, if it sent one, says whether the Query can find anything
	// there (ultrapeer_qrp 2.3). A leaf's own Query reaches the ultrapeers
	// by dynamic querying instead, when it can.
	dynamic := src.kind == Leaf && !r.cfg.NoDynamicQuery
	var ups []PeerID
	for _, p := range ps.list {
		if p == src {
			continue
		}
		if p.kind == Leaf {
			if !r.cfg.NoQRPFilter {
				if m := p.qrt.Load(); m == nil || q == nil || !m.Match(q) {
					continue
				}
			}
			out = append(out, p.id)
			continue
		}
		if d.Header.TTL == 0 {
			continue
		}
		if d.Header.TTL == 1 && !r.cfg.NoQRPFilter {
			if m := p.qrt.Load(); m != nil && (q == nil || !m.Match(q)) {
				continue
			}
		}
		if dynamic {
			ups = append(ups, p.id)
			continue
		}
		out = append(out, p.id)
	}
	if len(ups) > 0 {
		if d.Dynamic = r.startDynamic(d, q, ups, len(out) > 0); d.Dynamic == nil {
			// Too many in progress: flood it as any other.
			out = append(out, ups...)
		}
	}
	return out
}

// replyRoute finds where a Pong or QueryHit goes: back the way its
// request came.
func (r *Router) replyRoute(from PeerID, h *wire.Header, hash uint64, ps *peerSet, now int64) (PeerID, DropReason) {
	rt, ok := r.replyTable(h.Type).lookup(&h.GUID, hash, now)
	if !ok {
		return Local, DropNoRoute
	}
	return rt.peer, r.forwardRule(rt.peer, from, h, ps)
}

// routeReply handles Pong and QueryHit: they go back the way their request
// came, and a QueryHit teaches us the way to its servent for Pushes. Replies
// are not checked for duplicates: every answer to a request shares the
// request's GUID.
func (r *Router) routeReply(d *Decision, from PeerID, h *wire.Header, payload []byte,
	hash uint64, ps *peerSet, out []PeerID) []PeerID {
	if d.Reason = r.checkTTL(h); d.Reason != NotDropped {
		return out
	}
	isHit := h.Type == wire.TypeQueryHit
	var servent wire.GUID
	if isHit {
		var ok bool
		if servent, ok = wire.QueryHitServent(payload); !ok {
			d.Reason = DropMalformed
			return out
		}
	}
	now := r.tableNow()
	to, reason := r.replyRoute(from, h, hash, ps, now)
	if d.Reason = reason; reason != NotDropped {
		return out
	}
	out = r.forwardTo(d, to, h, out)
	if isHit {
		r.pushRoutes.put(&servent, r.hasher.hash(&servent), from, now)
		r.countHits(h.GUID, payload)
	}
	return out
}

// routePush handles Push: it travels towards the servent it names, along
// the path that servent's QueryHit came by.
func (r *Router) routePush(d *Decision, from PeerID, h *wire.Header, payload []byte,
	hash uint64, ps *peerSet, out []PeerID) []PeerID {
	if d.Reason = r.checkTTL(h); d.Reason != NotDropped {
		return out
	}
	servent, ok := wire.PushServent(payload)
	if !ok {
		d.Reason = DropMalformed
		return out
	}
	now := r.tableNow()
	if r.seenPushes.claim(&h.GUID, hash, from, now) {
		d.Reason = DropDuplicate
		return out
	}
	if servent == r.servent {
		hop(d, h, h.TTL)
		d.Local = true
		return out
	}
	rt, ok := r.pushRoutes.lookup(&servent, r.hasher.hash(&servent), now)
	if !ok {
		d.Reason = DropNoPushRoute
		return out
	}
	if d.Reason = r.forwardRule(rt.peer, from, h, ps); d.Reason != NotDropped {
		return out
	}
	return r.forwardTo(d, rt.peer, h, out)
}

// forwardRule says whether a routed (not flooded) descriptor that arrived
// with h from peer from may travel on to the peer its route names.
func (r *Router) forwardRule(to, from PeerID, h *wire.Header, ps *peerSet) DropReason {
	switch {
	case to == Local:
		return NotDropped
	case to == from:
		// A route back to the sender would bounce the descriptor: the
		// sender's own tables sent it to us, so no path exists.
		return DropNoRoute
	case !ps.live(to):
		return DropRouteLost
	case r.Role() == RoleLeaf:
		return DropLeafMode
	case h.TTL <= 1:
		// It would leave with TTL 0.
		return DropTTLExpired
	}
	return NotDropped
}

// forwardTo sends a routed descriptor that passed forwardRule on to the
// peer its route names, or delivers it here when the route is ours.
func (r *Router) forwardTo(d *Decision, to PeerID, h *wire.Header, out []PeerID) []PeerID {
	hop(d, h, h.TTL)
	if to == Local {
		d.Local = true
		return out
	}
	return append(out, to)
}
