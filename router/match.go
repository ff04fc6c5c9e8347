package router

import (
	"github.com/govent/govent/wire"
)

// Query routing tables per peer (gtk-gnutella doc/gnutella/ultrapeer_qrp):
// a Query goes to a leaf only when the leaf's table matches, and on its
// last hop to an ultrapeer neighbour only when that neighbour's table (if it
// sent one) matches, by QueryRouteTable.Match on the table's bitmap.

// SetQRT makes t the table Queries to peer are matched against: the last
// complete table the peer sent (nil: it has none, or one being replaced).
// t must not change afterwards; tables from a QRTReceiver never do.
func (r *Router) SetQRT(id PeerID, t *QueryRouteTable) {
	p := r.peers.Load().get(id)
	if p == nil {
		return
	}
	p.qrt.Store(t)
}

// QRT returns the table SetQRT last gave a live peer, nil if none.
func (r *Router) QRT(id PeerID) *QueryRouteTable {
	if p := r.peers.Load().get(id); p != nil {
		return p.qrt.Load()
	}
	return nil
}

// LeafUnion returns the table an ultrapeer sends its ultrapeer neighbours:
// 2^bits slots holding the union of own (our files; nil for none) and every
// leaf's table (ultrapeer_qrp 2.2).
func (r *Router) LeafUnion(bits uint8, own *QueryRouteTable) (*QueryRouteTable, error) {
	tables := []*QueryRouteTable{own}
	for _, p := range r.peers.Load().list {
		if t := p.qrt.Load(); t != nil && p.kind == Leaf {
			tables = append(tables, t)
		}
	}
	return UnionQRT(bits, tables...)
}

// SetQuery empties q and fills it with a decoded Query's hashes: its
// keywords, and the urn:sha1s of its extension area.
func (q *QueryHashes) SetQuery(query *wire.Query) {
	q.Reset()
	for i := range query.Ext.Blocks {
		if query.Ext.Blocks[i].Kind == wire.ExtSHA1 {
			q.AddURN(query.Ext.Blocks[i].SHA1)
		}
	}
	q.AddText(query.Criteria)
}
