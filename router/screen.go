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
	hash := r.hasher.hash(h.GUID)
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
	r.countDrop(p, hash, reason)
	return reason
}

// countDrop counts a descriptor dropped for reason, overall and for the
// peer p that sent it (nil: not a live peer).
func (r *Router) countDrop(p *peer, hash uint64, reason DropReason) {
	r.stats[hash&r.statMask].add(cDropped+int(reason), 1)
	if p != nil {
		p.dropped.Add(1)
	}
}
