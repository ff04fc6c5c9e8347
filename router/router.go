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

	// LeafMode makes the router a leaf: it forwards nothing, and delivers
	// locally only what is for us.
	LeafMode bool
	// QueryFilter, if set, is asked before a Query is forwarded to a Leaf
	// peer, and to a Neighbour when the Query would arrive with TTL 1 (its
	// last hop, where ultrapeer QRP applies). h is the header as forwarded.
	// It returns false to withhold the Query: the servent answers from the
	// peer's query route table, and returns true for an ultrapeer that sent
	// none. A nil QueryFilter passes everything. It is called on the routing
	// hot path, possibly from several goroutines: keep it fast and safe.
	QueryFilter func(peer PeerID, h wire.Header, payload []byte) bool

	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Shards is the number of lock shards per table, rounded down to a power
	// of two (and to no more than the table's capacity). Default 256: with
	// fewer, two cores spin on each other's shard locks (16 shards scaled
	// 1.56-1.63x on 2 cores, 256 shards 1.56-1.74x, median 1.68x).
	Shards int
}

// Router makes routing decisions. It is safe for concurrent use.
type Router struct {
	cfg     Config
	base    time.Time // table times count from here (monotonic with time.Now)
	hasher  guidHasher
	servent wire.GUID

	pings      *table // Ping GUID -> peer it came from; also Ping duplicates
	queries    *table // Query GUID -> peer it came from; also Query duplicates
	pushRoutes *table // servent GUID -> peer its QueryHit came from
	seenPushes *table // Push GUID -> peer it came from; duplicates only

	stats    []statStripe
	statMask uint64

	peers   atomic.Pointer[peerSet]
	peersMu sync.Mutex // serialises AddPeer and RemovePeer
	gens    []uint32   // generation per slot; slot 0 is Local's
	free    []uint32   // free slots, longest-free first
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
	if cfg.ServentGUID.IsZero() {
		cfg.ServentGUID = wire.NewGUID()
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
	r.peers.Store(&peerSet{slots: make([]PeerID, 1)})
	return r
}

// ServentGUID returns our servent GUID: Pushes naming it are for us.
func (r *Router) ServentGUID() wire.GUID { return r.servent }

// Stats returns a snapshot of the counters.
func (r *Router) Stats() Stats { return sumStats(r.stats) }

func (r *Router) now() int64 { return int64(r.cfg.Now().Sub(r.base)) }

// Decision is what Route decided. The targets to forward to come back
// separately, as a slice.
type Decision struct {
	// Local means this servent handles the descriptor: it answers a Ping or
	// Query, consumes a reply to its own request or a Push for itself, or
	// reads a link-level message (Bye, QRP, vendor, HSEP). A Query can be
	// both handled locally and forwarded.
	Local bool
	// Reason is why the descriptor is dropped, or NotDropped.
	Reason DropReason
	// Header is the header as it leaves this node: TTL trimmed if need be,
	// then decremented, and hops incremented. Send it with the targets. For a
	// request handled locally, Header.Hops is our distance from its origin:
	// a reply needs at least that TTL to get back. For link-level messages
	// it is the header as received.
	Header wire.Header
}

// Dropped reports whether the descriptor was refused.
func (d Decision) Dropped() bool { return d.Reason != NotDropped }

// Route decides where a descriptor that arrived from peer from goes. It
// appends the peers to forward it to onto out[:0] and returns that slice;
// with enough capacity in out, a decision allocates nothing beyond new table
// entries. Route reads h and payload and keeps neither. The payload is only
// looked at for servent GUIDs (the last 16 bytes of a QueryHit, the first 16
// of a Push), and handed to Config.QueryFilter for Queries.
func (r *Router) Route(from PeerID, h *wire.Header, payload []byte, out []PeerID) (Decision, []PeerID) {
	out = out[:0]
	hash := r.hasher.hash(h.GUID)
	st := &r.stats[hash&r.statMask]
	ps := r.peers.Load()
	d := Decision{Header: *h}
	switch {
	case !ps.live(from):
		d.Reason = DropUnknownPeer
	case h.Type == wire.TypePing || h.Type == wire.TypeQuery:
		out = r.routeFlood(&d, from, h, payload, hash, st, ps, out)
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
		st.add(cDropped+int(d.Reason), 1)
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

// routeFlood handles Ping and Query: duplicate check, local delivery, and
// a flood to every other peer that should get it.
func (r *Router) routeFlood(d *Decision, from PeerID, h *wire.Header, payload []byte,
	hash uint64, st *statStripe, ps *peerSet, out []PeerID) []PeerID {
	if d.Reason = r.checkTTL(h); d.Reason != NotDropped {
		return out
	}
	tbl := r.pings
	if h.Type == wire.TypeQuery {
		tbl = r.queries
	}
	if tbl.claim(h.GUID, hash, from, r.now()) {
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
	if r.cfg.LeafMode {
		return out
	}
	if d.Header.TTL == 0 {
		st.add(cExhausted, 1)
		if ttl == 0 {
			return out
		}
	}
	isQuery := h.Type == wire.TypeQuery
	filter := r.cfg.QueryFilter
	for _, p := range ps.list {
		if p.id == from {
			continue
		}
		switch p.kind {
		case Leaf:
			// Pings never go to leaves: their ultrapeer answers for them
			// from its pong cache. Queries go to leaves whatever the TTL
			// left (ultrapeer and leaves are one unit, ultrapeer_qrp 2.4),
			// but only when their table matches.
			if !isQuery || (filter != nil && !filter(p.id, d.Header, payload)) {
				continue
			}
		default:
			if d.Header.TTL == 0 {
				continue
			}
			// On the last hop an ultrapeer's table says whether the Query
			// can find anything there (ultrapeer_qrp 2.3).
			if isQuery && d.Header.TTL == 1 && filter != nil && !filter(p.id, d.Header, payload) {
				continue
			}
		}
		out = append(out, p.id)
	}
	return out
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
	tbl := r.pings
	isHit := h.Type == wire.TypeQueryHit
	if isHit {
		tbl = r.queries
		if len(payload) < wire.GUIDLen {
			d.Reason = DropMalformed
			return out
		}
	}
	now := r.now()
	rt, ok := tbl.lookup(h.GUID, hash, now)
	if !ok {
		d.Reason = DropNoRoute
		return out
	}
	out, d.Reason = r.forwardTo(d, rt.peer, from, h, ps, out)
	if d.Reason == NotDropped && isHit {
		servent := wire.GUID(payload[len(payload)-wire.GUIDLen:])
		r.pushRoutes.put(servent, r.hasher.hash(servent), from, now)
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
	if len(payload) < wire.GUIDLen {
		d.Reason = DropMalformed
		return out
	}
	now := r.now()
	if r.seenPushes.claim(h.GUID, hash, from, now) {
		d.Reason = DropDuplicate
		return out
	}
	servent := wire.GUID(payload[:wire.GUIDLen])
	if servent == r.servent {
		hop(d, h, h.TTL)
		d.Local = true
		return out
	}
	rt, ok := r.pushRoutes.lookup(servent, r.hasher.hash(servent), now)
	if !ok {
		d.Reason = DropNoPushRoute
		return out
	}
	out, d.Reason = r.forwardTo(d, rt.peer, from, h, ps, out)
	return out
}

// forwardTo sends a routed (not flooded) descriptor on to the peer its
// route names, or delivers it here when the route is ours.
func (r *Router) forwardTo(d *Decision, to, from PeerID, h *wire.Header, ps *peerSet, out []PeerID) ([]PeerID, DropReason) {
	hop(d, h, h.TTL)
	switch {
	case to == Local:
		d.Local = true
	case to == from:
		// A route back to the sender would bounce the descriptor: the
		// sender's own tables sent it to us, so no path exists.
		return out, DropNoRoute
	case !ps.live(to):
		return out, DropRouteLost
	case r.cfg.LeafMode:
		return out, DropLeafMode
	case d.Header.TTL == 0:
		return out, DropTTLExpired
	default:
		out = append(out, to)
	}
	return out, NotDropped
}

// RegisterOwn records a Ping, Query or Push that this servent is about to
// send, so that replies to it are delivered locally and copies of it coming
// back through a cycle are dropped as duplicates. Other types are ignored.
func (r *Router) RegisterOwn(h *wire.Header) {
	var tbl *table
	switch h.Type {
	case wire.TypePing:
		tbl = r.pings
	case wire.TypeQuery:
		tbl = r.queries
	case wire.TypePush:
		tbl = r.seenPushes
	default:
		return
	}
	tbl.put(h.GUID, r.hasher.hash(h.GUID), Local, r.now())
}

// ReplyTo returns the live peer a reply of ours (a Pong or QueryHit we
// built, with its request's GUID) must be sent to: the peer the request came
// from. It reports false when there is no such peer: the request is ours,
// unknown, expired, or its sender is gone.
func (r *Router) ReplyTo(reply *wire.Header) (PeerID, bool) {
	var tbl *table
	switch reply.Type {
	case wire.TypePong:
		tbl = r.pings
	case wire.TypeQueryHit:
		tbl = r.queries
	default:
		return Local, false
	}
	rt, ok := tbl.lookup(reply.GUID, r.hasher.hash(reply.GUID), r.now())
	if !ok || !r.peers.Load().live(rt.peer) {
		return Local, false
	}
	return rt.peer, true
}

// PushRoute returns the live peer a Push of ours for servent must be sent
// to: the peer the servent's latest QueryHit came from.
func (r *Router) PushRoute(servent wire.GUID) (PeerID, bool) {
	rt, ok := r.pushRoutes.lookup(servent, r.hasher.hash(servent), r.now())
	if !ok || !r.peers.Load().live(rt.peer) {
		return Local, false
	}
	return rt.peer, true
}
