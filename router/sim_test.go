package router

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// The simulation runs whole networks of routers in memory: no sockets, no
// goroutines. Descriptors in flight wait in one FIFO queue, which makes a
// run deterministic and delivers a flood in breadth-first order, so every
// node first receives a Query along a shortest path from its origin. That is
// what makes "a Query with TTL t reaches exactly the nodes within t hops"
// hold. With real timing a node may first see a Query via a longer path,
// with less TTL left, drop the later shorter-path copy as a duplicate, and
// so leave some nodes within t hops unreached; that is how Gnutella behaves,
// and why the simulation does not use real timing.

// simNet is a network of routers joined by links.
type simNet struct {
	t     *testing.T
	rng   *rand.Rand
	nodes []*simNode
	queue []simMsg
	head  int
	out   []PeerID
}

// simNode is one servent: its router, its links, and what reached it.
type simNode struct {
	r       *Router
	servent wire.GUID
	peer    map[int]PeerID // neighbour node -> its PeerID in r
	node    map[PeerID]int // PeerID in r -> neighbour node

	responder bool
	holdHits  bool     // keep answers in pending instead of sending them
	pending   []simMsg // answers held back

	handled map[wire.GUID]int                 // Query GUID -> times handled here
	parent  map[wire.GUID]int                 // Query GUID -> neighbour it first came from
	dist    map[wire.GUID]uint8               // Query GUID -> hops it took to get here
	hits    map[wire.GUID]map[wire.GUID]int   // Query GUID -> responder servent -> hits received
	hitHops map[wire.GUID]map[wire.GUID]uint8 // Query GUID -> responder servent -> hops the hit took
	pushes  map[wire.GUID]int                 // Push GUID -> times delivered here
}

// simMsg is a descriptor on its way to node to, from the peer from (a
// PeerID in to's router).
type simMsg struct {
	to      int
	from    PeerID
	h       wire.Header
	payload []byte
}

func newSimNet(t *testing.T, n int, seed uint64) *simNet {
	s := &simNet{t: t, rng: rand.New(rand.NewPCG(seed, 0x60e17))}
	for i := range n {
		var servent wire.GUID
		for j := range servent {
			servent[j] = byte(s.rng.Uint32())
		}
		nd := &simNode{
			servent: servent,
			r: New(Config{ServentGUID: servent, MaxRoutes: 4096, MaxPushRoutes: 4096,
				MaxSeenPushes: 1024, Shards: 1}),
			peer:    map[int]PeerID{},
			node:    map[PeerID]int{},
			handled: map[wire.GUID]int{},
			parent:  map[wire.GUID]int{},
			dist:    map[wire.GUID]uint8{},
			hits:    map[wire.GUID]map[wire.GUID]int{},
			hitHops: map[wire.GUID]map[wire.GUID]uint8{},
			pushes:  map[wire.GUID]int{},
		}
		require.False(t, nd.servent.IsZero(), "node %d", i)
		s.nodes = append(s.nodes, nd)
	}
	return s
}

// link connects u and v, unless they are the same node or already linked.
func (s *simNet) link(u, v int) bool {
	if u == v {
		return false
	}
	if _, ok := s.nodes[u].peer[v]; ok {
		return false
	}
	for _, e := range [2][2]int{{u, v}, {v, u}} {
		a, b := s.nodes[e[0]], e[1]
		id := a.r.AddPeer(Neighbour)
		a.peer[b] = id
		a.node[id] = b
	}
	return true
}

// unlink closes the connection between u and v at both ends.
func (s *simNet) unlink(u, v int) {
	for _, e := range [2][2]int{{u, v}, {v, u}} {
		a, b := s.nodes[e[0]], e[1]
		id := a.peer[b]
		a.r.RemovePeer(id)
		delete(a.peer, b)
		delete(a.node, id)
	}
}

// Graph shapes.

// randomGraph is a random spanning tree plus extra random edges: connected,
// with cycles of every length.
func randomGraph(t *testing.T, n, extra int, seed uint64) *simNet {
	s := newSimNet(t, n, seed)
	for v := 1; v < n; v++ {
		s.link(v, s.rng.IntN(v))
	}
	for added := 0; added < extra; {
		if s.link(s.rng.IntN(n), s.rng.IntN(n)) {
			added++
		}
	}
	return s
}

func ringGraph(t *testing.T, n int, seed uint64) *simNet {
	s := newSimNet(t, n, seed)
	for v := range n {
		s.link(v, (v+1)%n)
	}
	return s
}

// torusGraph is a w x h grid wrapped at the edges: every node sits on many
// 4-cycles, so a flood reaches most nodes over several equal-length paths.
func torusGraph(t *testing.T, w, h int, seed uint64) *simNet {
	s := newSimNet(t, w*h, seed)
	for y := range h {
		for x := range w {
			s.link(y*w+x, y*w+(x+1)%w)
			s.link(y*w+x, ((y+1)%h)*w+x)
		}
	}
	return s
}

// bfs returns every node's hop distance from origin, -1 when unreachable.
func (s *simNet) bfs(origin int) []int {
	dist := make([]int, len(s.nodes))
	for i := range dist {
		dist[i] = -1
	}
	dist[origin] = 0
	frontier := []int{origin}
	for len(frontier) > 0 {
		var next []int
		for _, u := range frontier {
			for _, v := range s.neighbours(u) {
				if dist[v] < 0 {
					dist[v] = dist[u] + 1
					next = append(next, v)
				}
			}
		}
		frontier = next
	}
	return dist
}

// neighbours lists u's neighbours in a fixed order.
func (s *simNet) neighbours(u int) []int {
	var ns []int
	for v := range s.nodes[u].peer {
		ns = append(ns, v)
	}
	slices.Sort(ns)
	return ns
}

func (s *simNet) newGUID() wire.GUID {
	var g wire.GUID
	for i := range g {
		g[i] = byte(s.rng.Uint32())
	}
	return g
}

// send puts a descriptor from node u on the link to node v.
func (s *simNet) send(u, v int, h wire.Header, payload []byte) {
	id, ok := s.nodes[v].peer[u]
	require.True(s.t, ok, "send %d -> %d: not linked", u, v)
	s.queue = append(s.queue, simMsg{to: v, from: id, h: h, payload: payload})
}

// originate sends a new request of ours from origin to every neighbour.
func (s *simNet) originate(origin int, h wire.Header, payload []byte) {
	s.nodes[origin].r.RegisterOwn(&h)
	for _, v := range s.neighbours(origin) {
		s.send(origin, v, h, payload)
	}
}

// run delivers descriptors until none are in flight. A flood crosses each
// link at most twice and each hit or push at most 8 links, so far more
// deliveries than that means the routing is broken: fail rather than loop.
func (s *simNet) run() {
	links := 0
	for _, nd := range s.nodes {
		links += len(nd.peer)
	}
	limit := 4*links + 16*len(s.nodes) + len(s.queue)
	for s.head < len(s.queue) {
		require.Less(s.t, s.head, limit, "descriptors keep multiplying")
		m := s.queue[s.head]
		s.queue[s.head] = simMsg{}
		s.head++
		s.deliver(m)
	}
	s.queue, s.head = s.queue[:0], 0
}

func (s *simNet) deliver(m simMsg) {
	nd := s.nodes[m.to]
	var d Decision
	d, s.out = nd.r.Route(m.from, &m.h, m.payload, nil, s.out)
	if d.Dropped() {
		return
	}
	g := m.h.GUID
	if d.Local {
		switch m.h.Type {
		case wire.TypeQuery:
			nd.handled[g]++
			nd.parent[g] = nd.node[m.from]
			nd.dist[g] = d.Header.Hops
			if nd.responder {
				s.answer(m.to, g, d.Header.Hops)
			}
		case wire.TypeQueryHit:
			servent := wire.GUID(m.payload[len(m.payload)-wire.GUIDLen:])
			if nd.hits[g] == nil {
				nd.hits[g] = map[wire.GUID]int{}
				nd.hitHops[g] = map[wire.GUID]uint8{}
			}
			nd.hits[g][servent]++
			nd.hitHops[g][servent] = d.Header.Hops
		case wire.TypePush:
			nd.pushes[g]++
		}
	}
	for _, p := range s.out {
		to, ok := nd.node[p]
		require.True(s.t, ok, "node %d forwards to unknown peer %v", m.to, p)
		if m.h.Type == wire.TypeQueryHit {
			// The reverse path: exactly where the query came from.
			require.Equal(s.t, nd.parent[g], to, "node %d forwards a queryhit off the reverse path", m.to)
		}
		s.queue = append(s.queue, simMsg{to: to, from: s.nodes[to].peer[m.to], h: d.Header, payload: m.payload})
	}
}

// answer makes node u answer Query g, which travelled hops hops to reach it:
// the hit needs that TTL to get back.
func (s *simNet) answer(u int, g wire.GUID, hops uint8) {
	nd := s.nodes[u]
	h := wire.Header{GUID: g, Type: wire.TypeQueryHit, TTL: hops}
	to, ok := nd.r.ReplyTo(&h)
	require.True(s.t, ok, "node %d has nowhere to send its hit", u)
	v := nd.node[to]
	payload := hitPayload(nd.servent)
	h.Length = uint32(len(payload))
	msg := simMsg{to: v, from: s.nodes[v].peer[u], h: h, payload: payload}
	if nd.holdHits {
		nd.pending = append(nd.pending, msg)
		return
	}
	s.queue = append(s.queue, msg)
}

// subtree lists the nodes whose first copy of Query g came through child
// (child included), following parent links.
func (s *simNet) subtree(g wire.GUID, origin, child int) map[int]bool {
	in := map[int]bool{}
	for v := range s.nodes {
		for u, steps := v, 0; u != origin; u, steps = s.nodes[u].parent[g], steps+1 {
			if _, ok := s.nodes[u].parent[g]; !ok {
				break
			}
			require.Less(s.t, steps, len(s.nodes), "parent links of node %d loop", v)
			if u == child {
				in[v] = true
				break
			}
		}
	}
	return in
}

func (s *simNet) totalDrops(reason DropReason) uint64 {
	var n uint64
	for _, nd := range s.nodes {
		n += nd.r.Stats().Dropped[reason]
	}
	return n
}

type simGraph struct {
	name string
	make func(t *testing.T) *simNet
	ttls []uint8
}

var simGraphs = []simGraph{
	{"random-200", func(t *testing.T) *simNet { return randomGraph(t, 200, 200, 1) }, []uint8{1, 2, 4, 7}},
	{"random-1000", func(t *testing.T) *simNet { return randomGraph(t, 1000, 1000, 2) }, []uint8{3, 5, 7}},
	{"dense-1000", func(t *testing.T) *simNet { return randomGraph(t, 1000, 4000, 3) }, []uint8{2, 4}},
	{"ring-200", func(t *testing.T) *simNet { return ringGraph(t, 200, 4) }, []uint8{1, 7}},
	{"torus-25x40", func(t *testing.T) *simNet { return torusGraph(t, 25, 40, 5) }, []uint8{3, 7}},
}

// TestSimQueryFloodAndReplies floods a Query from one node and checks that it
// reaches exactly the nodes within TTL hops, each once and along a shortest
// path, that every responder's QueryHit reaches the origin exactly once
// along the reverse path, and that a Push for each responder reaches it.
func TestSimQueryFloodAndReplies(t *testing.T) {
	for _, sg := range simGraphs {
		for _, ttl := range sg.ttls {
			t.Run(fmt.Sprintf("%s/ttl-%d", sg.name, ttl), func(t *testing.T) {
				s := sg.make(t)
				origin := s.rng.IntN(len(s.nodes))
				for i, nd := range s.nodes {
					nd.responder = i != origin && s.rng.IntN(4) == 0
				}
				dist := s.bfs(origin)

				q := s.newGUID()
				s.originate(origin, wire.Header{GUID: q, Type: wire.TypeQuery, TTL: ttl}, []byte("\x80\x00beatles\x00"))
				s.run()

				reached, responders := 0, 0
				hits := s.nodes[origin].hits[q]
				for v, nd := range s.nodes {
					within := v != origin && dist[v] <= int(ttl)
					if !within {
						require.Zero(t, nd.handled[q], "node %d at distance %d handled a TTL %d query", v, dist[v], ttl)
						require.Zero(t, hits[nd.servent], "node %d out of reach answered", v)
						continue
					}
					reached++
					require.Equal(t, 1, nd.handled[q], "node %d at distance %d", v, dist[v])
					require.Equal(t, uint8(dist[v]), nd.dist[q], "node %d first reached along a shortest path", v)
					if nd.responder {
						responders++
						require.Equal(t, 1, hits[nd.servent], "hits from node %d", v)
						require.Equal(t, uint8(dist[v]), s.nodes[origin].hitHops[q][nd.servent],
							"hit from node %d took the reverse path", v)
					}
				}
				assert.Len(t, hits, responders, "no hit from anywhere else")
				assert.Zero(t, s.nodes[origin].handled[q], "the origin does not handle its own query")
				assert.Zero(t, s.totalDrops(DropNoRoute)+s.totalDrops(DropRouteLost)+s.totalDrops(DropTTLExpired),
					"no hit lost")
				t.Logf("%d nodes reached, %d hits, %d duplicates dropped", reached, responders, s.totalDrops(DropDuplicate))

				// A Push for every responder, with just enough TTL.
				pushes := map[wire.GUID]int{}
				for v, nd := range s.nodes {
					if !nd.responder || hits[nd.servent] == 0 {
						continue
					}
					p := s.newGUID()
					pushes[p] = v
					s.push(origin, p, nd.servent, uint8(dist[v]))
				}
				s.run()
				for v, nd := range s.nodes {
					for p, target := range pushes {
						want := 0
						if v == target {
							want = 1
						}
						require.Equal(t, want, nd.pushes[p], "push for node %d delivered at node %d", target, v)
					}
				}
				assert.Zero(t, s.totalDrops(DropNoPushRoute)+s.totalDrops(DropTTLExpired), "no push lost")
			})
		}
	}
}

// push sends a Push of ours for servent, routed by the push route our
// router learnt from its QueryHit.
func (s *simNet) push(origin int, g, servent wire.GUID, ttl uint8) {
	nd := s.nodes[origin]
	to, ok := nd.r.PushRoute(servent)
	require.True(s.t, ok, "no push route to %v", servent)
	h := wire.Header{GUID: g, Type: wire.TypePush, TTL: ttl}
	nd.r.RegisterOwn(&h)
	s.send(origin, nd.node[to], h, pushPayload(servent))
}

// TestSimRemovePeerMidFlight cuts one link of the origin while QueryHits are
// on their way back: the hits whose reverse path uses the link are dropped,
// every other hit still arrives exactly once; then Pushes routed over the
// cut link have no route, and every other Push arrives.
func TestSimRemovePeerMidFlight(t *testing.T) {
	for _, sg := range []simGraph{simGraphs[0], simGraphs[2], simGraphs[4]} {
		t.Run(sg.name, func(t *testing.T) {
			const ttl = 4
			s := sg.make(t)
			origin := 0
			for i, nd := range s.nodes {
				nd.responder = i != origin && s.rng.IntN(3) == 0
			}

			// A first query, answered in full: push routes to every responder.
			q1 := s.newGUID()
			s.originate(origin, wire.Header{GUID: q1, Type: wire.TypeQuery, TTL: ttl}, nil)
			s.run()

			// A second query, whose hits are all in flight when the link goes.
			q2 := s.newGUID()
			for _, nd := range s.nodes {
				nd.holdHits = true
			}
			s.originate(origin, wire.Header{GUID: q2, Type: wire.TypeQuery, TTL: ttl}, nil)
			s.run()
			inFlight := 0
			for _, nd := range s.nodes {
				s.queue = append(s.queue, nd.pending...)
				inFlight += len(nd.pending)
				nd.pending = nil
			}
			require.NotZero(t, inFlight)

			// Cut the origin's link to the child with the most responders below it.
			child, lost := -1, map[int]bool{}
			for _, c := range s.neighbours(origin) {
				sub := s.subtree(q2, origin, c)
				n := 0
				for v := range sub {
					if s.nodes[v].responder {
						n++
					}
				}
				if n > countResponders(s, lost) {
					child, lost = c, sub
				}
			}
			require.NotEqual(t, -1, child)
			s.unlink(origin, child)
			s.run()

			hits := s.nodes[origin].hits[q2]
			wantLost := 0
			for v, nd := range s.nodes {
				if !nd.responder || nd.handled[q2] == 0 {
					continue
				}
				if lost[v] {
					wantLost++
					assert.Zero(t, hits[nd.servent], "hit from node %d crossed the cut link", v)
				} else {
					assert.Equal(t, 1, hits[nd.servent], "hit from node %d, not behind the cut", v)
				}
			}
			require.NotZero(t, wantLost)
			assert.Equal(t, uint64(wantLost), s.totalDrops(DropRouteLost)+s.totalDrops(DropUnknownPeer),
				"each hit behind the cut dropped once: on the closed link, or where its route died")
			assert.Zero(t, s.totalDrops(DropNoRoute), "no other route affected")

			// Pushes from the origin, by the routes the first query taught.
			for v, nd := range s.nodes {
				if !nd.responder || s.nodes[origin].hits[q1][nd.servent] == 0 {
					continue
				}
				to, ok := s.nodes[origin].r.PushRoute(nd.servent)
				if lost[v] {
					assert.False(t, ok, "push route to node %d through the removed peer", v)
					continue
				}
				require.True(t, ok, "push route to node %d", v)
				p := s.newGUID()
				h := wire.Header{GUID: p, Type: wire.TypePush, TTL: ttl}
				s.send(origin, s.nodes[origin].node[to], h, pushPayload(nd.servent))
				s.run()
				assert.Equal(t, 1, nd.pushes[p], "push to node %d", v)
			}
		})
	}
}

func countResponders(s *simNet, set map[int]bool) int {
	n := 0
	for v := range set {
		if s.nodes[v].responder {
			n++
		}
	}
	return n
}
