package router

import (
	"strconv"
	"sync/atomic"
)

// PeerID names a connection for the router. The low 32 bits are a slot
// number, the high 32 bits the slot's generation, bumped each time the slot
// is handed out again. Routes store the whole PeerID, so a route through a
// removed peer (or through an earlier peer in the same slot) fails the
// liveness check in O(1) without any table being scanned. With 32-bit
// generations a slot would have to be reused four billion times within one
// route lifetime before an old route could come back to life.
type PeerID uint64

// Local stands for this servent: the origin of our own requests, and the
// destination of replies to them.
const Local PeerID = 0

func (id PeerID) slot() uint32 { return uint32(id) }

func (id PeerID) String() string {
	if id == Local {
		return "local"
	}
	return strconv.FormatUint(uint64(id.slot()), 10) + "." + strconv.FormatUint(uint64(id>>32), 10)
}

// PeerKind says what a connection is to us, which decides what it is sent.
type PeerKind uint8

const (
	// Neighbour is a normal 0.4/0.6 connection, an ultrapeer-to-ultrapeer
	// connection, or a leaf's ultrapeer: it gets every Query flood, subject
	// on the last hop to its query route table (if it sent one).
	Neighbour PeerKind = iota
	// Leaf is a leaf we shield as its ultrapeer: it gets no Pings, and a
	// Query only when its query route table matches.
	Leaf
)

func (k PeerKind) String() string {
	switch k {
	case Neighbour:
		return "neighbour"
	case Leaf:
		return "leaf"
	}
	return "kind " + strconv.Itoa(int(k))
}

// peer is the router's state for one connection. It outlives the peerSet
// snapshots that point to it: its fields change in place, atomically.
type peer struct {
	id   PeerID
	kind PeerKind
	// qrt is the peer's last complete query route table; nil: none.
	qrt atomic.Pointer[QueryRouteTable]
	// lastPing is when we last answered one of its Pings beyond the alive
	// ping (router time, ns; the Ping throttle).
	lastPing atomic.Int64
	// drops counts what it sent that the router dropped, by reason.
	drops dropCounts
}

// peerSet is an immutable snapshot of the live peers. AddPeer and RemovePeer
// build a new one and publish it atomically, so Route reads peers without a
// lock; connections come and go far less often than descriptors arrive.
type peerSet struct {
	slots []*peer // slot -> live peer in it, or nil when free
	list  []*peer // live peers in the order they were added: flood targets
}

// get returns the live peer id names, or nil.
func (ps *peerSet) get(id PeerID) *peer {
	s := id.slot()
	if id == Local || int(s) >= len(ps.slots) {
		return nil
	}
	if p := ps.slots[s]; p != nil && p.id == id {
		return p
	}
	return nil
}

func (ps *peerSet) live(id PeerID) bool { return ps.get(id) != nil }

// AddPeer registers a connection and returns its PeerID.
func (r *Router) AddPeer(kind PeerKind) PeerID {
	r.peersMu.Lock()
	defer r.peersMu.Unlock()
	old := r.peers.Load()
	var slot uint32
	if n := len(r.free); n > 0 {
		// Reuse the longest-free slot first, so a flapping connection does
		// not keep bumping one slot's generation.
		slot = r.free[0]
		r.free = r.free[1:]
	} else {
		slot = uint32(len(r.gens))
		r.gens = append(r.gens, 0)
	}
	r.gens[slot]++
	p := &peer{id: PeerID(r.gens[slot])<<32 | PeerID(slot), kind: kind}
	// Its first Ping is answered in full whenever it comes.
	p.lastPing.Store(r.now() - int64(PingInterval))

	ps := &peerSet{
		slots: make([]*peer, max(len(old.slots), int(slot)+1)),
		list:  make([]*peer, len(old.list), len(old.list)+1),
	}
	copy(ps.slots, old.slots)
	copy(ps.list, old.list)
	ps.slots[slot] = p
	ps.list = append(ps.list, p)
	r.peers.Store(ps)
	return p.id
}

// RemovePeer forgets a connection. Every route through it is dead from now
// on: no reply or Push is ever routed to it again, and its query route table
// is gone. Removing an unknown or already removed PeerID does nothing.
func (r *Router) RemovePeer(id PeerID) {
	r.peersMu.Lock()
	defer r.peersMu.Unlock()
	old := r.peers.Load()
	if !old.live(id) {
		return
	}
	ps := &peerSet{
		slots: make([]*peer, len(old.slots)),
		list:  make([]*peer, 0, len(old.list)-1),
	}
	copy(ps.slots, old.slots)
	ps.slots[id.slot()] = nil
	for _, p := range old.list {
		if p.id != id {
			ps.list = append(ps.list, p)
		}
	}
	r.peers.Store(ps)
	r.free = append(r.free, id.slot())
	// Its drops stay in the totals. Stats holds peersMu too, so it sees
	// them on the peer or in retired, never in both or neither.
	old.get(id).drops.fold(&r.retired)
}

// Kind returns what a live peer is to us; false when id is not live.
func (r *Router) Kind(id PeerID) (PeerKind, bool) {
	if p := r.peers.Load().get(id); p != nil {
		return p.kind, true
	}
	return Neighbour, false
}

// PeerStats are the router's counters for one peer.
type PeerStats struct {
	// Dropped counts the descriptors it sent that the router dropped, for
	// any reason (Stats.Dropped has the reasons).
	Dropped uint64
}

// PeerStats returns a live peer's counters (zero when id is not live).
func (r *Router) PeerStats(id PeerID) PeerStats {
	if p := r.peers.Load().get(id); p != nil {
		return PeerStats{Dropped: p.drops.total()}
	}
	return PeerStats{}
}
