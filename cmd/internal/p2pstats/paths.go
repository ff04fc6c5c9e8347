package p2pstats

import "net/netip"

// MaxPathNodes bounds the nodes whose arrival of one query is remembered
// for the reverse-path check; past it arrivals go unrecorded and the hits
// they would have checked count as Unchecked.
const MaxPathNodes = 1 << 16

// pathState is what the servents did with one query's descriptors: where
// each node took its Query from, and where the QueryHits went.
type pathState struct {
	from      map[int]netip.AddrPort // node -> the neighbour its first copy came from
	full      bool                   // arrivals were left out (MaxPathNodes)
	forwards  int64
	offPath   int64 // forwards to a neighbour the Query had not come from
	unchecked int64
	deliver   map[int]int64 // node -> QueryHits it took as its own
}

func (p *pathState) arrived(node int, from netip.AddrPort) {
	if p.from == nil {
		p.from = map[int]netip.AddrPort{}
	}
	if _, ok := p.from[node]; ok {
		return // only the first copy sets the route
	}
	if len(p.from) >= MaxPathNodes {
		p.full = true
		return
	}
	p.from[node] = from
}

func (p *pathState) forwarded(node int, to netip.AddrPort) {
	p.forwards++
	from, ok := p.from[node]
	switch {
	case !ok && p.full:
		p.unchecked++
	case !ok || from != to:
		p.offPath++
	}
}

func (p *pathState) delivered(node int) {
	if p.deliver == nil {
		p.deliver = map[int]int64{}
	}
	p.deliver[node]++
}

// addTo adds this query's figures; searcher is the node that issued it
// (-1: not said, and every delivery counts as the searcher's).
func (p *pathState) addTo(f *ReversePathFigures, searcher int) {
	f.Forwarded += p.forwards
	f.OffPath += p.offPath
	f.Unchecked += p.unchecked
	off := p.offPath
	for node, n := range p.deliver {
		if searcher < 0 || node == searcher {
			f.Delivered += n
		} else {
			f.DeliveredElsewhere += n
			off += n
		}
	}
	if off > 0 {
		f.QueriesOffPath++
	}
}
