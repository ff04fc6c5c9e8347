package router

import "github.com/govent/govent/wire"

// Screen applies, before the payload is decoded, the rules the header alone
// decides: the sender is live, the type is one we route, the TTL rules, the
// duplicate checks of Pings, Queries and Pushes, and the 0.6 draft's flow
// control (a Query from a peer whose send queue is in flow control is
// dropped: its answers could not be sent anyway). It returns NotDropped
// when the descriptor should be decoded and given to Route, which applies
// every rule again with the payload; a drop is counted here, with its
// reason, and not again. Screen claims nothing: a duplicate check here does
// not make the descriptor seen. Replies and the rest are left to Route, so
// that their payloads are checked (a peer that keeps sending unparsable
// ones is cut off) whatever their route.
func (r *Router) Screen(from PeerID, h *wire.Header, senderFlowControl bool) DropReason {
	hash := r.hasher.hash(&h.GUID)
	p := r.peers.Load().get(from)
	var reason DropReason
	switch {
	case p == nil:
		reason = DropUnknownPeer
	case isLinkLevel(h.Type):
		return NotDropped
	case h.Type == wire.TypeQuery && senderFlowControl:
		reason = DropFlowControl
	default:
		// In one function with the rest: a duplicate's drop is a few tens
		// of ns, and a call is a few percent of it.
		tbl := r.requestTable(h.Type)
		if tbl == nil && r.replyTable(h.Type) == nil {
			reason = DropUnknownType
		} else if reason = r.checkTTL(h); reason == NotDropped {
			if tbl == nil || !tbl.seen(&h.GUID, hash, r.tableNow()) {
				return NotDropped
			}
			reason = DropDuplicate
		}
	}
	// countDrop, by hand: the compiler does not inline it, and a call is a
	// few percent of a duplicate's drop.
	if p == nil || !p.drops.add(reason) {
		r.countDropSlow(p, hash, reason)
	}
	return reason
}

// countDrop counts a descriptor dropped for reason: on the peer p that
// sent it, or on a stripe when p is nil (not a live peer). One atomic add:
// a duplicate's drop is a few tens of ns, and each add is several.
func (r *Router) countDrop(p *peer, hash uint64, reason DropReason) {
	if p == nil || !p.drops.add(reason) {
		r.countDropSlow(p, hash, reason)
	}
}

// countDropSlow counts the drop of a descriptor from no live peer (p nil)
// on a stripe, and otherwise moves into the totals the drops of a removed
// peer counted after RemovePeer folded its counters: ones whose sender was
// looked up before the removal.
//
//go:noinline
func (r *Router) countDropSlow(p *peer, hash uint64, reason DropReason) {
	if p == nil {
		r.stats[hash&r.statMask].add(cDropped+int(reason), 1)
		return
	}
	r.peersMu.Lock()
	p.drops.fold(&r.retired)
	r.peersMu.Unlock()
}
