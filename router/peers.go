package router

import "strconv"

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
	// Neighbour is a normal 0.4/0.6 connection or an ultrapeer-to-ultrapeer
	// connection: it gets every flood, subject on the last hop to
	// Config.QueryFilter.
	Neighbour PeerKind = iota
	// Leaf is a leaf we shield as its ultrapeer: it gets no Pings, and a
	// Query only when Config.QueryFilter passes it.
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

type peer struct {
	id   PeerID
	kind PeerKind
}

// peerSet is an immutable snapshot of the live peers. AddPeer and RemovePeer
// build a new one and publish it atomically, so Route reads peers without a
// lock; connections come and go far less often than descriptors arrive.
type peerSet struct {
	slots []PeerID // slot -> live PeerID in it, or Local when free
	list  []peer   // live peers in the order they were added: flood targets
}

func (ps *peerSet) live(id PeerID) bool {
	s := id.slot()
	return id != Local && int(s) < len(ps.slots) && ps.slots[s] == id
}

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
	id := PeerID(r.gens[slot])<<32 | PeerID(slot)

	ps := &peerSet{
		slots: make([]PeerID, max(len(old.slots), int(slot)+1)),
		list:  make([]peer, len(old.list), len(old.list)+1),
	}
	copy(ps.slots, old.slots)
	copy(ps.list, old.list)
	ps.slots[slot] = id
	ps.list = append(ps.list, peer{id: id, kind: kind})
	r.peers.Store(ps)
	return id
}

// RemovePeer forgets a connection. Every route through it is dead from now
// on: no reply or Push is ever routed to it again. Removing an unknown or
// already removed PeerID does nothing.
func (r *Router) RemovePeer(id PeerID) {
	r.peersMu.Lock()
	defer r.peersMu.Unlock()
	old := r.peers.Load()
	if !old.live(id) {
		return
	}
	ps := &peerSet{
		slots: make([]PeerID, len(old.slots)),
		list:  make([]peer, 0, len(old.list)-1),
	}
	copy(ps.slots, old.slots)
	ps.slots[id.slot()] = Local
	for _, p := range old.list {
		if p.id != id {
			ps.list = append(ps.list, p)
		}
	}
	r.peers.Store(ps)
	r.free = append(r.free, id.slot())
}
