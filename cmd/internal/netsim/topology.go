package netsim

import (
	"math/rand/v2"
	"net/netip"
	"slices"
)

// overlay plans the ultrapeer overlay: whom each joining ultrapeer dials
// (servent.Config.Peers). It tracks the edges it planned, not the ones the
// servents made (a full servent refuses some), which is what the
// topologies are defined on. It is used by the simulator's one scheduling
// goroutine at a time.
type overlay struct {
	topo  Topology
	r     *rand.Rand
	verts []*vertex // online, in join order; the bootstrap node first
}

type vertex struct {
	addr  netip.AddrPort
	edges map[*vertex]bool
}

func newOverlay(topo Topology, seed uint64, bootstrap netip.AddrPort) *overlay {
	const streamTopology = 3 // p2pmodel uses 1 and 2 of the seed's streams
	o := &overlay{topo: topo, r: rand.New(rand.NewPCG(seed, streamTopology))}
	o.verts = append(o.verts, &vertex{addr: bootstrap, edges: map[*vertex]bool{}})
	return o
}

// pick chooses whom a joining ultrapeer dials. closeRing says it is the
// last of the initial ultrapeers (ring: it also dials the bootstrap node);
// later says it joins after the warm-up.
func (o *overlay) pick(closeRing, later bool) []*vertex {
	switch o.topo {
	case Ring:
		picks := []*vertex{o.verts[len(o.verts)-1]}
		if (closeRing || later) && len(o.verts) > 1 {
			picks = append(picks, o.verts[0])
		}
		return picks
	case PowerLaw:
		return o.draw(func(u *vertex) float64 { return float64(len(u.edges) + 1) })
	}
	return o.draw(func(*vertex) float64 { return 1 })
}

// add makes an ultrapeer that dialled picks a vertex, once it listens.
func (o *overlay) add(addr netip.AddrPort, picks []*vertex) *vertex {
	v := &vertex{addr: addr, edges: map[*vertex]bool{}}
	for _, u := range picks {
		u.edges[v], v.edges[u] = true, true
	}
	o.verts = append(o.verts, v)
	return v
}

// addrs are the vertices' addresses.
func addrs(vs []*vertex) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.addr.String())
	}
	return out
}

// draw picks Degree distinct online vertices (fewer when there are not
// that many), each with odds in proportion to weight.
func (o *overlay) draw(weight func(*vertex) float64) []*vertex {
	cands := slices.Clone(o.verts)
	var picks []*vertex
	for len(picks) < Degree && len(cands) > 0 {
		total := 0.0
		for _, u := range cands {
			total += weight(u)
		}
		x := o.r.Float64() * total
		i := 0
		for ; i < len(cands)-1; i++ {
			x -= weight(cands[i])
			if x < 0 {
				break
			}
		}
		picks = append(picks, cands[i])
		cands = slices.Delete(cands, i, i+1)
	}
	return picks
}

// leave removes an ultrapeer that went offline, and its edges.
func (o *overlay) leave(v *vertex) {
	for u := range v.edges {
		delete(u.edges, v)
	}
	if i := slices.Index(o.verts, v); i > 0 {
		o.verts = slices.Delete(o.verts, i, i+1)
	}
}

// degrees lists the planned degree of every online vertex, for tests.
func (o *overlay) degrees() []int {
	var d []int
	for _, v := range o.verts {
		d = append(d, len(v.edges))
	}
	return d
}
