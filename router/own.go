package router

import "github.com/govent/govent/wire"

// What this servent sends itself: its requests, and its replies.

// RegisterOwn records a Ping, Query or Push that this servent is about to
// send, so that replies to it are delivered locally and copies of it coming
// back through a cycle are dropped as duplicates. Other types are ignored.
func (r *Router) RegisterOwn(h *wire.Header) {
	if tbl := r.requestTable(h.Type); tbl != nil {
		tbl.put(&h.GUID, r.hasher.hash(&h.GUID), Local, r.tableNow())
	}
}

// requestTable is the table that suppresses duplicates of a request type
// (and routes its replies): nil for other types.
func (r *Router) requestTable(t wire.PayloadType) *table {
	switch t {
	case wire.TypePing:
		return r.pings
	case wire.TypeQuery:
		return r.queries
	case wire.TypePush:
		return r.seenPushes
	}
	return nil
}

// replyTable is the table a reply type is routed by: nil for other types.
func (r *Router) replyTable(t wire.PayloadType) *table {
	switch t {
	case wire.TypePong:
		return r.pings
	case wire.TypeQueryHit:
		return r.queries
	}
	return nil
}

// Originate registers a Query of our own (RegisterOwn) and appends the peers
// to send it to onto out[:0]: every neighbour (as a leaf, our ultrapeers),
// the leaves whose tables match its hashes q, and the leaves that have sent
// no table yet. A leaf sends its table as its link comes up, and a Query
// sent before it is in would miss the leaf: a one-command search through
// a servent that is a leaf (its only peer, which takes it as its
// ultrapeer) queries at once. It costs a new leaf one Query of ours; the
// Queries we route for others wait for its table.
func (r *Router) Originate(h *wire.Header, q *QueryHashes, out []PeerID) []PeerID {
	out = out[:0]
	r.RegisterOwn(h)
	for _, p := range r.peers.Load().list {
		if p.kind == Leaf && !r.cfg.NoQRPFilter {
			if m := p.qrt.Load(); m != nil && !m.Match(q) {
				continue
			}
		}
		out = append(out, p.id)
	}
	r.stats[r.hasher.hash(&h.GUID)&r.statMask].add(cOriginated, 1)
	return out
}

// ReplyTo returns the live peer a reply of ours (a Pong or QueryHit we
// built, with its request's GUID) must be sent to: the peer the request came
// from. It reports false when there is no such peer: the request is ours,
// unknown, expired, or its sender is gone.
func (r *Router) ReplyTo(reply *wire.Header) (PeerID, bool) {
	tbl := r.replyTable(reply.Type)
	if tbl == nil {
		return Local, false
	}
	rt, ok := tbl.lookup(&reply.GUID, r.hasher.hash(&reply.GUID), r.tableNow())
	if !ok || !r.peers.Load().live(rt.peer) {
		return Local, false
	}
	return rt.peer, true
}

// PushRoute returns the live peer a Push of ours for servent must be sent
// to: the peer the servent's latest QueryHit came from.
func (r *Router) PushRoute(servent wire.GUID) (PeerID, bool) {
	rt, ok := r.pushRoutes.lookup(&servent, r.hasher.hash(&servent), r.tableNow())
	if !ok || !r.peers.Load().live(rt.peer) {
		return Local, false
	}
	return rt.peer, true
}
