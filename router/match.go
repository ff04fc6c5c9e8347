package router

import (
	"github.com/govent/govent/wire"
)

// Query routing tables per peer (gtk-gnutella doc/gnutella/ultrapeer_qrp):
// a Query goes to a leaf only when the leaf's table matches, and on its
// last hop to an ultrapeer neighbour only when that neighbour's table (if it
// sent one) matches. The router keeps each peer's table as a flat bitmap of
// its present slots, built once per table, so that matching a Query's
// hashes against thirty leaves costs a few loads each.

// qrtMatch is one peer's table as Queries are matched against it.
type qrtMatch struct {
	table   *QueryRouteTable
	bits    uint8
	present []uint64 // bit slot%64 of word slot/64: the slot is present
}

// newQRTMatch builds t's bitmap. Pages t shares with prev's table (a
// receiver's next table shares every page a patch left alone) are copied
// from prev's bitmap instead of being scanned again.
func newQRTMatch(t *QueryRouteTable, prev *qrtMatch) *qrtMatch {
	m := &qrtMatch{table: t, bits: t.bits, present: make([]uint64, max(1, t.Slots()/64))}
	if prev != nil && (prev.bits != t.bits || prev.table.infinity != t.infinity) {
		prev = nil
	}
	n := pageSlots(t.bits)
	for p, page := range t.pages {
		if prev != nil && prev.table.pages[p] == page && n == qrtPageSlots {
			w := p * qrtPageSlots / 64
			copy(m.present[w:w+qrtPageSlots/64], prev.present[w:])
			continue
		}
		for i, v := range page[:n] {
			if v < t.infinity {
				slot := p<<qrtPageBits | i
				m.present[slot>>6] |= 1 << (slot & 63)
			}
		}
	}
	return m
}

// has reports whether the slot of a hash code is present.
func (m *qrtMatch) has(code uint32) bool {
	s := wire.QRPSlot(code, m.bits)
	return m.present[s>>6]&(1<<(s&63)) != 0
}

// match is QueryRouteTable.Match on the bitmap.
func (m *qrtMatch) match(q *QueryHashes) bool {
	if q.nurns > 0 {
		for _, c := range q.urns[:q.nurns] {
			if m.has(c) {
				return true
			}
		}
		return false
	}
	if q.nwords == 0 {
		return false
	}
	for _, c := range q.words[:q.nwords] {
		if !m.has(c) {
			return false
		}
	}
	return true
}

// SetQRT makes t the table Queries to peer are matched against: the last
// complete table the peer sent (nil: it has none, or one being replaced).
// t must not change afterwards; tables from a QRTReceiver never do.
func (r *Router) SetQRT(id PeerID, t *QueryRouteTable) {
	p := r.peers.Load().get(id)
	if p == nil {
		return
	}
	if t == nil {
		p.qrt.Store(nil)
		return
	}
	prev := p.qrt.Load()
	if prev != nil && prev.table == t {
		return // a patch that changed nothing
	}
	p.qrt.Store(newQRTMatch(t, prev))
}

// QRT returns the table SetQRT last gave a live peer, nil if none.
func (r *Router) QRT(id PeerID) *QueryRouteTable {
	if p := r.peers.Load().get(id); p != nil {
		if m := p.qrt.Load(); m != nil {
			return m.table
		}
	}
	return nil
}

// LeafUnion returns the table an ultrapeer sends its ultrapeer neighbours:
// 2^bits slots holding the union of own (our files; nil for none) and every
// leaf's table (ultrapeer_qrp 2.2).
func (r *Router) LeafUnion(bits uint8, own *QueryRouteTable) (*QueryRouteTable, error) {
	tables := []*QueryRouteTable{own}
	for _, p := range r.peers.Load().list {
		if m := p.qrt.Load(); m != nil && p.kind == Leaf {
			tables = append(tables, m.table)
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
