package router

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// fakeClock is the injected clock: tests move time by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// guidN returns a distinct, recognisable GUID for n.
func guidN(n uint64) wire.GUID {
	var g wire.GUID
	binary.LittleEndian.PutUint64(g[0:8], n)
	binary.LittleEndian.PutUint64(g[8:16], ^n)
	return g
}

var (
	ourServent   = guidN(0x5e)
	otherServent = guidN(0x0e)
)

// hitPayload is a QueryHit payload as far as the router cares: anything,
// then the responder's servent GUID in the last 16 bytes.
func hitPayload(servent wire.GUID) []byte {
	p := []byte{0, 0x36, 0x19, 127, 0, 0, 1, 0, 0, 0, 0, 'L', 'I', 'M', 'E', 2, 0, 0}
	return append(p, servent[:]...)
}

// pushPayload is a Push payload: the target servent GUID first, then file
// index, IPv4 and port.
func pushPayload(servent wire.GUID) []byte {
	p := append([]byte(nil), servent[:]...)
	return append(p, 1, 0, 0, 0, 127, 0, 0, 1, 0x36, 0x19)
}

// env is a router with three neighbours (a, b, c) and two leaves (l1, l2).
type env struct {
	t     *testing.T
	r     *Router
	clock *fakeClock
	peers map[string]PeerID
	names map[PeerID]string
	// screen sends each descriptor through Screen before Route, as a
	// servent does, with the sender's flow control as flowControl says.
	screen, flowControl bool
}

func newEnv(t *testing.T, cfg Config) *env {
	e := &env{t: t, clock: newFakeClock(), peers: map[string]PeerID{}, names: map[PeerID]string{}}
	cfg.Now = e.clock.Now
	cfg.ServentGUID = ourServent
	e.r = New(cfg)
	for _, n := range []string{"a", "b", "c"} {
		e.add(n, Neighbour)
	}
	// The leaves share "penny lane", which test Queries ask for unless
	// they say otherwise.
	for _, n := range []string{"l1", "l2"} {
		e.setQRT(e.add(n, Leaf), "Penny Lane.mp3")
	}
	return e
}

// setQRT gives peer id a query route table of the keywords of names.
func (e *env) setQRT(id PeerID, names ...string) {
	tbl, err := BuildQRT(names, nil, 14)
	require.NoError(e.t, err)
	e.r.SetQRT(id, tbl)
}

func (e *env) add(name string, kind PeerKind) PeerID {
	id := e.r.AddPeer(kind)
	e.peers[name] = id
	e.names[id] = name
	return id
}

// msg is one descriptor arriving at the router.
type msg struct {
	from    string
	typ     wire.PayloadType
	guid    uint64
	ttl     uint8
	hops    uint8
	payload []byte
	text    string // a Query's search text; "" means "penny lane"
}

func (e *env) route(m msg) (Decision, []string) {
	from, ok := e.peers[m.from]
	if !ok {
		from = PeerID(0xdead_0000_0007) // never handed out
	}
	if m.from == "local" {
		from = Local
	}
	h := &wire.Header{GUID: guidN(m.guid), Type: m.typ, TTL: m.ttl, Hops: m.hops, Length: uint32(len(m.payload))}
	var q *QueryHashes
	if m.typ == wire.TypeQuery {
		q = queryHashes(m.text)
	}
	if e.screen {
		if reason := e.r.Screen(from, h, e.flowControl); reason != NotDropped {
			return Decision{Reason: reason, Header: *h}, nil
		}
	}
	d, out := e.r.Route(from, h, m.payload, q, nil)
	names := make([]string, 0, len(out))
	for _, id := range out {
		names = append(names, e.names[id])
	}
	return d, names
}

// queryHashes are the hashes of a Query for text ("" means "penny lane").
func queryHashes(text string) *QueryHashes {
	if text == "" {
		text = "penny lane"
	}
	q := new(QueryHashes)
	q.AddText([]byte(text))
	return q
}

// mustRoute routes a descriptor a test case depends on and insists it was
// not dropped.
func (e *env) mustRoute(m msg) {
	e.t.Helper()
	d, _ := e.route(m)
	require.Equal(e.t, NotDropped, d.Reason, "setup descriptor %+v", m)
}

func TestRouteRules(t *testing.T) {
	type want struct {
		local  bool
		reason DropReason
		to     []string
		ttl    uint8 // outgoing header, checked when not dropped
		hops   uint8
		// dynamic: the ultrapeers a leaf's Query reaches step by step.
		dynamic []string
	}
	cases := []struct {
		name         string
		cfg          Config
		prep         func(e *env)
		m            msg
		want         want
		screenedOnly bool
	}{
		// Floods.
		{name: "ping is answered here from the pong cache and never forwarded",
			m:    msg{from: "a", typ: wire.TypePing, guid: 1, ttl: 3},
			want: want{local: true, ttl: 2, hops: 1}},
		{name: "query floods to every neighbour and leaf but the sender",
			m:    msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3, hops: 2},
			want: want{local: true, to: []string{"b", "c", "l1", "l2"}, ttl: 2, hops: 3}},
		{name: "query from a leaf goes to the other leaf, and to neighbours by dynamic querying",
			m:    msg{from: "l1", typ: wire.TypeQuery, guid: 1, ttl: 2},
			want: want{local: true, to: []string{"l2"}, ttl: 1, hops: 1, dynamic: []string{"a", "b", "c"}}},
		{name: "query goes to no leaf whose table does not match",
			m:    msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3, text: "penny beatles"},
			want: want{local: true, to: []string{"b", "c"}, ttl: 2, hops: 1}},
		{name: "query goes to no leaf that sent no table",
			prep: func(e *env) { e.r.SetQRT(e.peers["l2"], nil) },
			m:    msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3},
			want: want{local: true, to: []string{"b", "c", "l1"}, ttl: 2, hops: 1}},
		{name: "query from a peer in flow control is dropped on its header",
			m:    msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3},
			prep: func(e *env) { e.flowControl = true },
			// Route alone does not know of flow control.
			screenedOnly: true,
			want:         want{reason: DropFlowControl}},
		{name: "ping from a peer in flow control is still handled",
			m:    msg{from: "a", typ: wire.TypePing, guid: 1, ttl: 3},
			prep: func(e *env) { e.flowControl = true },
			want: want{local: true, ttl: 2, hops: 1}},
		{name: "query with TTL 1 is handled here and reaches only leaves",
			m:    msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 1, hops: 4},
			want: want{local: true, to: []string{"l1", "l2"}, ttl: 0, hops: 5}},
		{name: "ping with TTL 1 is handled here and not forwarded",
			m:    msg{from: "a", typ: wire.TypePing, guid: 1, ttl: 1, hops: 1},
			want: want{local: true, ttl: 0, hops: 2}},
		{name: "query relayed with TTL 0 is handled here and not forwarded at all",
			m:    msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 0, hops: 3},
			want: want{local: true, ttl: 0, hops: 4}},

		// TTL and hops limits.
		{name: "ping with TTL 0 and hops 0 is invalid",
			m:    msg{from: "a", typ: wire.TypePing, guid: 1},
			want: want{reason: DropInvalidTTL}},
		{name: "query with TTL 0 and hops 0 is invalid",
			m:    msg{from: "a", typ: wire.TypeQuery, guid: 1},
			want: want{reason: DropInvalidTTL}},
		{name: "queryhit with TTL 0 and hops 0 is invalid",
			prep: func(e *env) { e.r.RegisterOwn(&wire.Header{GUID: guidN(1), Type: wire.TypeQuery}) },
			m:    msg{from: "a", typ: wire.TypeQueryHit, guid: 1, payload: hitPayload(otherServent)},
			want: want{reason: DropInvalidTTL}},
		{name: "push with TTL 0 and hops 0 is invalid",
			m:    msg{from: "a", typ: wire.TypePush, guid: 1, payload: pushPayload(ourServent)},
			want: want{reason: DropInvalidTTL}},
		{name: "hops+TTL above the hard limit is dropped",
			m:    msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 10, hops: 6},
			want: want{reason: DropHardTTL}},
		{name: "hard limit is configurable",
			cfg:  Config{HardMaxTTL: 9},
			m:    msg{from: "a", typ: wire.TypePing, guid: 1, ttl: 5, hops: 5},
			want: want{reason: DropHardTTL}},
		{name: "reply with hops+TTL above the hard limit is dropped",
			prep: func(e *env) { e.mustRoute(msg{from: "a", typ: wire.TypePing, guid: 1, ttl: 3}) },
			m:    msg{from: "b", typ: wire.TypePong, guid: 1, ttl: 14, hops: 2},
			want: want{reason: DropHardTTL}},
		{name: "hops+TTL at the hard limit is trimmed to the soft limit",
			m:    msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 13, hops: 2},
			want: want{local: true, to: []string{"b", "c", "l1", "l2"}, ttl: 4, hops: 3}},
		{name: "soft limit is configurable",
			cfg:  Config{MaxTTL: 4},
			m:    msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 7},
			want: want{local: true, to: []string{"b", "c", "l1", "l2"}, ttl: 3, hops: 1}},
		{name: "query that has already gone MaxTTL hops is trimmed to nothing",
			m:    msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 2, hops: 8},
			want: want{local: true, ttl: 0, hops: 9}},
		{name: "replies are not trimmed",
			prep: func(e *env) { e.mustRoute(msg{from: "a", typ: wire.TypePing, guid: 1, ttl: 3}) },
			m:    msg{from: "b", typ: wire.TypePong, guid: 1, ttl: 9, hops: 3},
			want: want{to: []string{"a"}, ttl: 8, hops: 4}},

		// Duplicates.
		{name: "second copy of a query is a duplicate",
			prep: func(e *env) { e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3}) },
			m:    msg{from: "b", typ: wire.TypeQuery, guid: 1, ttl: 4},
			want: want{reason: DropDuplicate}},
		{name: "second copy of a ping is a duplicate",
			prep: func(e *env) { e.mustRoute(msg{from: "a", typ: wire.TypePing, guid: 1, ttl: 3}) },
			m:    msg{from: "a", typ: wire.TypePing, guid: 1, ttl: 3},
			want: want{reason: DropDuplicate}},
		{name: "a ping and a query may share a GUID",
			prep: func(e *env) { e.mustRoute(msg{from: "a", typ: wire.TypePing, guid: 1, ttl: 3}) },
			m:    msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 2},
			want: want{local: true, to: []string{"b", "c", "l1", "l2"}, ttl: 1, hops: 1}},
		{name: "our own query coming back through a cycle is a duplicate",
			prep: func(e *env) { e.r.RegisterOwn(&wire.Header{GUID: guidN(1), Type: wire.TypeQuery, TTL: 4}) },
			m:    msg{from: "c", typ: wire.TypeQuery, guid: 1, ttl: 2, hops: 2},
			want: want{reason: DropDuplicate}},
		{name: "second copy of a push is a duplicate",
			prep: func(e *env) {
				e.mustRoute(msg{from: "a", typ: wire.TypePush, guid: 1, ttl: 3, payload: pushPayload(ourServent)})
			},
			m:    msg{from: "b", typ: wire.TypePush, guid: 1, ttl: 3, payload: pushPayload(ourServent)},
			want: want{reason: DropDuplicate}},
		{name: "several queryhits for one query all travel",
			prep: func(e *env) {
				e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3})
				e.mustRoute(msg{from: "b", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(otherServent)})
			},
			m:    msg{from: "b", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(guidN(77))},
			want: want{to: []string{"a"}, ttl: 2, hops: 1}},

		// Reverse path.
		{name: "pong goes back to the peer the ping came from",
			prep: func(e *env) { e.mustRoute(msg{from: "a", typ: wire.TypePing, guid: 1, ttl: 3}) },
			m:    msg{from: "b", typ: wire.TypePong, guid: 1, ttl: 2, hops: 1},
			want: want{to: []string{"a"}, ttl: 1, hops: 2}},
		{name: "queryhit goes back to the peer the query came from",
			prep: func(e *env) { e.mustRoute(msg{from: "l1", typ: wire.TypeQuery, guid: 1, ttl: 3}) },
			m:    msg{from: "c", typ: wire.TypeQueryHit, guid: 1, ttl: 2, payload: hitPayload(otherServent)},
			want: want{to: []string{"l1"}, ttl: 1, hops: 1}},
		{name: "pong without a ping route is dropped",
			m:    msg{from: "b", typ: wire.TypePong, guid: 1, ttl: 2},
			want: want{reason: DropNoRoute}},
		{name: "queryhit without a query route is dropped",
			m:    msg{from: "b", typ: wire.TypeQueryHit, guid: 1, ttl: 2, payload: hitPayload(otherServent)},
			want: want{reason: DropNoRoute}},
		{name: "queryhit does not follow a ping route of the same GUID",
			prep: func(e *env) { e.mustRoute(msg{from: "a", typ: wire.TypePing, guid: 1, ttl: 3}) },
			m:    msg{from: "b", typ: wire.TypeQueryHit, guid: 1, ttl: 2, payload: hitPayload(otherServent)},
			want: want{reason: DropNoRoute}},
		{name: "reply whose route points back at its sender is dropped",
			prep: func(e *env) { e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3}) },
			m:    msg{from: "a", typ: wire.TypeQueryHit, guid: 1, ttl: 2, payload: hitPayload(otherServent)},
			want: want{reason: DropNoRoute}},
		{name: "reply that would leave with TTL 0 is dropped",
			prep: func(e *env) { e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3}) },
			m:    msg{from: "b", typ: wire.TypeQueryHit, guid: 1, ttl: 1, hops: 1, payload: hitPayload(otherServent)},
			want: want{reason: DropTTLExpired}},
		{name: "queryhit too short for a servent GUID is malformed",
			prep: func(e *env) { e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3}) },
			m:    msg{from: "b", typ: wire.TypeQueryHit, guid: 1, ttl: 2, payload: make([]byte, 15)},
			want: want{reason: DropMalformed}},
		{name: "queryhit for our own query is delivered here",
			prep: func(e *env) { e.r.RegisterOwn(&wire.Header{GUID: guidN(1), Type: wire.TypeQuery, TTL: 4}) },
			m:    msg{from: "b", typ: wire.TypeQueryHit, guid: 1, ttl: 1, hops: 3, payload: hitPayload(otherServent)},
			want: want{local: true, ttl: 0, hops: 4}},
		{name: "pong for our own ping is delivered here",
			prep: func(e *env) { e.r.RegisterOwn(&wire.Header{GUID: guidN(1), Type: wire.TypePing, TTL: 1}) },
			m:    msg{from: "c", typ: wire.TypePong, guid: 1, ttl: 1},
			want: want{local: true, ttl: 0, hops: 1}},

		// Push.
		{name: "push travels to the peer its servent's queryhit came from",
			prep: func(e *env) {
				e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3})
				e.mustRoute(msg{from: "c", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(otherServent)})
			},
			m:    msg{from: "a", typ: wire.TypePush, guid: 2, ttl: 4, payload: pushPayload(otherServent)},
			want: want{to: []string{"c"}, ttl: 3, hops: 1}},
		{name: "push follows the servent's latest queryhit",
			prep: func(e *env) {
				e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3})
				e.mustRoute(msg{from: "c", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(otherServent)})
				e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 3, ttl: 3})
				e.mustRoute(msg{from: "b", typ: wire.TypeQueryHit, guid: 3, ttl: 3, payload: hitPayload(otherServent)})
			},
			m:    msg{from: "a", typ: wire.TypePush, guid: 2, ttl: 4, payload: pushPayload(otherServent)},
			want: want{to: []string{"b"}, ttl: 3, hops: 1}},
		{name: "push for our servent GUID is delivered here",
			m:    msg{from: "a", typ: wire.TypePush, guid: 2, ttl: 1, hops: 3, payload: pushPayload(ourServent)},
			want: want{local: true, ttl: 0, hops: 4}},
		{name: "push for a servent we never saw is dropped",
			m:    msg{from: "a", typ: wire.TypePush, guid: 2, ttl: 4, payload: pushPayload(otherServent)},
			want: want{reason: DropNoPushRoute}},
		{name: "a dropped queryhit teaches no push route",
			prep: func(e *env) {
				d, _ := e.route(msg{from: "c", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(otherServent)})
				require.Equal(e.t, DropNoRoute, d.Reason)
			},
			m:    msg{from: "a", typ: wire.TypePush, guid: 2, ttl: 4, payload: pushPayload(otherServent)},
			want: want{reason: DropNoPushRoute}},
		{name: "push that would leave with TTL 0 is dropped",
			prep: func(e *env) {
				e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3})
				e.mustRoute(msg{from: "c", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(otherServent)})
			},
			m:    msg{from: "a", typ: wire.TypePush, guid: 2, ttl: 1, hops: 2, payload: pushPayload(otherServent)},
			want: want{reason: DropTTLExpired}},
		{name: "push too short for a servent GUID is malformed",
			m:    msg{from: "a", typ: wire.TypePush, guid: 2, ttl: 4, payload: ourServent[:15]},
			want: want{reason: DropMalformed}},

		// Never forwarded.
		{name: "bye is for us only", m: msg{from: "a", typ: wire.TypeBye, guid: 1, ttl: 1},
			want: want{local: true, ttl: 1}},
		{name: "QRP is for us only", m: msg{from: "l1", typ: wire.TypeQRP, guid: 1, ttl: 1},
			want: want{local: true, ttl: 1}},
		{name: "vendor message is for us only", m: msg{from: "a", typ: wire.TypeVendor, guid: 0, ttl: 1},
			want: want{local: true, ttl: 1}},
		{name: "standard vendor message is for us only", m: msg{from: "a", typ: wire.TypeStdVendor, guid: 0, ttl: 1},
			want: want{local: true, ttl: 1}},
		{name: "HSEP is for us only", m: msg{from: "a", typ: wire.TypeHSEP, guid: 1, ttl: 1},
			want: want{local: true, ttl: 1}},
		{name: "unknown type is dropped", m: msg{from: "a", typ: 0x99, guid: 1, ttl: 5},
			want: want{reason: DropUnknownType}},

		// Senders.
		{name: "descriptor from a peer never added is dropped",
			m:    msg{from: "nobody", typ: wire.TypeQuery, guid: 1, ttl: 3},
			want: want{reason: DropUnknownPeer}},
		{name: "descriptor from Local is refused: our own go through RegisterOwn",
			m:    msg{from: "local", typ: wire.TypeQuery, guid: 1, ttl: 3},
			want: want{reason: DropUnknownPeer}},
		{name: "descriptor from a removed peer is dropped",
			prep: func(e *env) { e.r.RemovePeer(e.peers["a"]) },
			m:    msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3},
			want: want{reason: DropUnknownPeer}},

		// Leaf mode.
		{name: "leaf handles a query from its ultrapeer and forwards nothing",
			cfg:  Config{Role: RoleLeaf},
			m:    msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3},
			want: want{local: true, ttl: 2, hops: 1}},
		{name: "leaf does not route queryhits for others",
			cfg:  Config{Role: RoleLeaf},
			prep: func(e *env) { e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3}) },
			m:    msg{from: "b", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(otherServent)},
			want: want{reason: DropLeafMode}},
		{name: "leaf takes queryhits for its own query",
			cfg:  Config{Role: RoleLeaf},
			prep: func(e *env) { e.r.RegisterOwn(&wire.Header{GUID: guidN(1), Type: wire.TypeQuery, TTL: 4}) },
			m:    msg{from: "b", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(otherServent)},
			want: want{local: true, ttl: 2, hops: 1}},
		{name: "leaf does not route pushes for others",
			cfg: Config{Role: RoleLeaf},
			prep: func(e *env) {
				e.r.RegisterOwn(&wire.Header{GUID: guidN(1), Type: wire.TypeQuery, TTL: 4})
				e.mustRoute(msg{from: "a", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(otherServent)})
			},
			m:    msg{from: "b", typ: wire.TypePush, guid: 2, ttl: 3, payload: pushPayload(otherServent)},
			want: want{reason: DropLeafMode}},
	}
	// Each case runs through Route alone, and through Screen and then
	// Route as a servent calls them: the same decision either way, and
	// each drop counted once.
	for _, tc := range cases {
		for _, screen := range []bool{false, true} {
			if tc.screenedOnly && !screen {
				continue
			}
			name := tc.name
			if screen {
				name += "/screened"
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, tc.cfg)
				if tc.prep != nil {
					tc.prep(e)
				}
				e.screen = screen
				before := e.r.Stats()
				d, to := e.route(tc.m)
				assert.Equal(t, tc.want.reason, d.Reason, "reason")
				assert.Equal(t, tc.want.local, d.Local, "local")
				assert.Equal(t, tc.want.to, nilIfEmpty(to), "targets")
				if tc.want.dynamic != nil {
					require.NotNil(t, d.Dynamic, "a dynamic query")
					var ups []string
					for _, id := range d.Dynamic.ups {
						ups = append(ups, e.names[id])
					}
					assert.Equal(t, tc.want.dynamic, ups, "dynamic querying's ultrapeers")
				} else {
					assert.Nil(t, d.Dynamic, "no dynamic query")
				}
				after := e.r.Stats()
				if tc.want.reason != NotDropped {
					assert.Equal(t, before.Dropped[tc.want.reason]+1, after.Dropped[tc.want.reason], "the drop reason's counter")
				}
				assert.Equal(t, before.TotalDropped()+boolN(tc.want.reason != NotDropped), after.TotalDropped(), "total drops")
				if from, ok := e.peers[tc.m.from]; ok && e.r.peers.Load().live(from) {
					assert.Equal(t, boolN(tc.want.reason != NotDropped), e.r.PeerStats(from).Dropped, "the sender's drops")
				}
				if tc.want.reason != NotDropped {
					return
				}
				assert.Equal(t, tc.want.ttl, d.Header.TTL, "outgoing TTL")
				assert.Equal(t, tc.want.hops, d.Header.Hops, "outgoing hops")
				assert.Equal(t, guidN(tc.m.guid), d.Header.GUID, "GUID kept")
				assert.Equal(t, tc.m.typ, d.Header.Type, "type kept")
				assert.Equal(t, before.Local+boolN(tc.want.local), after.Local, "local counter")
				assert.Equal(t, before.Forwarded+boolN(len(tc.want.to) > 0), after.Forwarded, "forwarded counter")
				assert.Equal(t, before.Sent+uint64(len(tc.want.to)), after.Sent, "sent counter")
			})
		}
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func boolN(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func TestTrimAndExhaustedCounters(t *testing.T) {
	e := newEnv(t, Config{})
	e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 9})          // trimmed to 7
	e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 2, ttl: 1})          // exhausted
	e.mustRoute(msg{from: "a", typ: wire.TypePing, guid: 3, ttl: 3, hops: 6})  // trimmed to 1, exhausted
	e.mustRoute(msg{from: "a", typ: wire.TypePing, guid: 4, ttl: 3, hops: 1})  // neither
	e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 5, ttl: 0, hops: 2}) // exhausted
	d, _ := e.route(msg{from: "b", typ: wire.TypeQuery, guid: 1, ttl: 9})      // duplicate: neither
	require.Equal(t, DropDuplicate, d.Reason)
	s := e.r.Stats()
	assert.Equal(t, uint64(2), s.Trimmed)
	assert.Equal(t, uint64(3), s.Exhausted)
	assert.Equal(t, uint64(5), s.Local)
	assert.Equal(t, uint64(1), s.Dropped[DropDuplicate])
	assert.Equal(t, uint64(1), s.TotalDropped())
}

func TestRemovedPeerRoutesDieAtOnce(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := e.peers["a"], e.peers["b"]
	// Routes through a: a query, a ping, and a push route (a hit came from a).
	e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3})
	e.mustRoute(msg{from: "a", typ: wire.TypePing, guid: 2, ttl: 3})
	e.mustRoute(msg{from: "c", typ: wire.TypeQuery, guid: 3, ttl: 3})
	e.mustRoute(msg{from: "a", typ: wire.TypeQueryHit, guid: 3, ttl: 3, payload: hitPayload(otherServent)})
	// Routes through c, which must survive.
	e.mustRoute(msg{from: "c", typ: wire.TypeQuery, guid: 4, ttl: 3})

	e.r.RemovePeer(a)
	e.r.RemovePeer(a) // twice is harmless

	// Re-adding takes a's slot again, under a new generation.
	a2 := e.add("a2", Neighbour)
	require.Equal(t, a.slot(), a2.slot(), "the freed slot is reused")
	require.NotEqual(t, a, a2)

	for _, m := range []msg{
		{from: "b", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(guidN(9))},
		{from: "b", typ: wire.TypePong, guid: 2, ttl: 3},
		{from: "b", typ: wire.TypePush, guid: 5, ttl: 3, payload: pushPayload(otherServent)},
	} {
		d, to := e.route(m)
		assert.Equal(t, DropRouteLost, d.Reason, "%v through the removed peer", m.typ)
		assert.Empty(t, to)
	}
	_, ok := e.r.ReplyTo(&wire.Header{GUID: guidN(1), Type: wire.TypeQueryHit})
	assert.False(t, ok, "no reply goes to a removed peer")
	_, ok = e.r.PushRoute(otherServent)
	assert.False(t, ok, "no push goes to a removed peer")

	d, to := e.route(msg{from: "b", typ: wire.TypeQueryHit, guid: 4, ttl: 3, payload: hitPayload(guidN(9))})
	assert.Equal(t, NotDropped, d.Reason, "routes through other peers live on")
	assert.Equal(t, []string{"c"}, to)

	// The new peer in the old slot floods and gets its own routes.
	e.mustRoute(msg{from: "a2", typ: wire.TypeQuery, guid: 6, ttl: 3})
	d, to = e.route(msg{from: "b", typ: wire.TypeQueryHit, guid: 6, ttl: 3, payload: hitPayload(guidN(9))})
	assert.Equal(t, NotDropped, d.Reason)
	assert.Equal(t, []string{"a2"}, to)
	_, out := e.r.Route(b, &wire.Header{GUID: guidN(7), Type: wire.TypeQuery, TTL: 2}, nil, queryHashes(""), nil)
	assert.NotContains(t, out, a, "floods skip the removed peer")
	assert.Contains(t, out, a2)
}

func TestRouteExpiry(t *testing.T) {
	const ttl = 3 * time.Minute
	e := newEnv(t, Config{RouteTTL: ttl})
	e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3})
	e.mustRoute(msg{from: "b", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(otherServent)})
	e.r.RegisterOwn(&wire.Header{GUID: guidN(2), Type: wire.TypePing, TTL: 3})

	e.clock.Advance(ttl - time.Nanosecond)
	d, to := e.route(msg{from: "c", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(otherServent)})
	require.Equal(t, NotDropped, d.Reason, "a route just younger than RouteTTL routes")
	assert.Equal(t, []string{"a"}, to)
	d, _ = e.route(msg{from: "c", typ: wire.TypePong, guid: 2, ttl: 3})
	assert.True(t, d.Local, "own ping still answered")
	d, _ = e.route(msg{from: "c", typ: wire.TypeQuery, guid: 1, ttl: 3})
	assert.Equal(t, DropDuplicate, d.Reason, "still a duplicate")

	// The push route learnt at time 0 expires at RouteTTL, though the hit
	// from c above (at RouteTTL-1ns) refreshed it towards c.
	e.clock.Advance(time.Nanosecond)
	d, _ = e.route(msg{from: "b", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(guidN(8))})
	assert.Equal(t, DropNoRoute, d.Reason, "a route as old as RouteTTL no longer routes")
	d, _ = e.route(msg{from: "c", typ: wire.TypePong, guid: 2, ttl: 3})
	assert.Equal(t, DropNoRoute, d.Reason, "own ping expired")
	d, to = e.route(msg{from: "a", typ: wire.TypePush, guid: 3, ttl: 3, payload: pushPayload(otherServent)})
	assert.Equal(t, NotDropped, d.Reason, "refreshed push route")
	assert.Equal(t, []string{"c"}, to)

	// An expired query is no duplicate: it floods again from its new sender.
	d, to = e.route(msg{from: "b", typ: wire.TypeQuery, guid: 1, ttl: 2})
	assert.Equal(t, NotDropped, d.Reason)
	assert.Equal(t, []string{"a", "c", "l1", "l2"}, to)

	e.clock.Advance(ttl)
	_, ok := e.r.PushRoute(otherServent)
	assert.False(t, ok, "push route expired")
	d, _ = e.route(msg{from: "b", typ: wire.TypePush, guid: 4, ttl: 3, payload: pushPayload(otherServent)})
	assert.Equal(t, DropNoPushRoute, d.Reason)
}

// TestQueryRoutingTables: a Query goes to a leaf only when the leaf's
// table matches, and on its last hop to an ultrapeer only when its table,
// if it sent one, matches; Pings go nowhere.
func TestQueryRoutingTables(t *testing.T) {
	e := newEnv(t, Config{})
	e.setQRT(e.peers["b"], "Penny Lane.mp3", "Yesterday.ogg")
	e.setQRT(e.peers["c"], "Yellow Submarine.mp3")
	e.setQRT(e.peers["l2"], "Yesterday.ogg")
	route := func(guid uint64, typ wire.PayloadType, ttl uint8) []string {
		d, to := e.route(msg{from: "a", typ: typ, guid: guid, ttl: ttl})
		require.Equal(t, NotDropped, d.Reason)
		return to
	}
	assert.Equal(t, []string{"b", "c", "l1"}, route(1, wire.TypeQuery, 4),
		"neighbours get it before the last hop, leaves only on a match")
	assert.Equal(t, []string{"b", "l1"}, route(2, wire.TypeQuery, 2),
		"on the last hop neighbours need a match too")
	assert.Equal(t, []string{"l1"}, route(3, wire.TypeQuery, 1), "leaves get TTL-1 Queries on a match")
	assert.Empty(t, route(4, wire.TypePing, 2), "Pings are answered, never forwarded")

	e.r.SetQRT(e.peers["c"], nil)
	assert.Equal(t, []string{"b", "c", "l1"}, route(5, wire.TypeQuery, 2),
		"an ultrapeer without a table gets every last-hop Query")
	e.r.SetQRT(e.peers["l1"], nil)
	assert.Equal(t, []string{"b", "c"}, route(6, wire.TypeQuery, 2), "a leaf without a table gets nothing")

	all := newEnv(t, Config{NoQRPFilter: true})
	all.r.SetQRT(all.peers["l1"], nil)
	all.setQRT(all.peers["c"], "Yellow Submarine.mp3")
	d, to := all.route(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3, text: "nothing shared"})
	require.Equal(t, NotDropped, d.Reason)
	assert.Equal(t, []string{"b", "c", "l1", "l2"}, to, "NoQRPFilter sends every leaf everything")
	d, to = all.route(msg{from: "a", typ: wire.TypeQuery, guid: 2, ttl: 2, text: "nothing shared"})
	require.Equal(t, NotDropped, d.Reason)
	assert.Equal(t, []string{"b", "c", "l1", "l2"}, to, "and every ultrapeer its last hop, whatever its table")
}

// TestNoDynamicQuery: with NoDynamicQuery a leaf's Query is flooded at once,
// with the TTL it came with, as any other.
func TestNoDynamicQuery(t *testing.T) {
	e := dynEnv(t, Config{NoDynamicQuery: true})
	d, to := e.route(msg{from: "searcher", typ: wire.TypeQuery, guid: 1, ttl: 4})
	require.Equal(t, NotDropped, d.Reason)
	assert.Nil(t, d.Dynamic)
	assert.Equal(t, []string{"l1", "u0", "u1", "u2", "u3", "u4"}, to)
	assert.EqualValues(t, 3, d.Header.TTL)
	assert.Zero(t, e.r.DynamicQueries())
}

// TestQueryNeedsEveryKeyword: a leaf sharing "penny lane" matches a Query
// for "penny lane" and not one for "penny beatles": QRP ANDs keywords.
func TestQueryNeedsEveryKeyword(t *testing.T) {
	tbl, err := BuildQRT([]string{"Penny Lane.mp3"}, nil, 16)
	require.NoError(t, err)
	assert.True(t, tbl.Match(queryHashes("penny lane")))
	assert.False(t, tbl.Match(queryHashes("penny beatles")), "one keyword of two is no match")
	assert.False(t, tbl.Match(queryHashes("beatles penny")))

	e := newEnv(t, Config{})
	e.r.SetQRT(e.peers["l2"], nil)
	d, to := e.route(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3, text: "penny lane"})
	require.Equal(t, NotDropped, d.Reason)
	assert.Contains(t, to, "l1")
	d, to = e.route(msg{from: "a", typ: wire.TypeQuery, guid: 2, ttl: 3, text: "penny beatles"})
	require.Equal(t, NotDropped, d.Reason)
	assert.NotContains(t, to, "l1", "the leaf never gets the Query it has only one keyword of")
}

// TestZeroConfigRouteLifetime: with RouteTTL unset, a QueryHit routes 10
// minutes less 1 ns after its Query and is dropped at 10 minutes.
func TestZeroConfigRouteLifetime(t *testing.T) {
	e := newEnv(t, Config{})
	e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3})
	e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 2, ttl: 3})
	e.clock.Advance(10*time.Minute - time.Nanosecond)
	d, to := e.route(msg{from: "b", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(otherServent)})
	assert.Equal(t, NotDropped, d.Reason, "routes at 10 min - 1 ns")
	assert.Equal(t, []string{"a"}, to)
	e.clock.Advance(time.Nanosecond)
	d, _ = e.route(msg{from: "b", typ: wire.TypeQueryHit, guid: 2, ttl: 3, payload: hitPayload(otherServent)})
	assert.Equal(t, DropNoRoute, d.Reason, "dropped at 10 min")
}

func TestReplyToAndPushRoute(t *testing.T) {
	e := newEnv(t, Config{})
	e.mustRoute(msg{from: "b", typ: wire.TypeQuery, guid: 1, ttl: 3})
	e.mustRoute(msg{from: "l2", typ: wire.TypePing, guid: 2, ttl: 3})
	e.r.RegisterOwn(&wire.Header{GUID: guidN(3), Type: wire.TypeQuery, TTL: 3})
	e.mustRoute(msg{from: "c", typ: wire.TypeQueryHit, guid: 3, ttl: 3, payload: hitPayload(otherServent)})

	cases := []struct {
		name string
		h    wire.Header
		want string // "" for no peer
	}{
		{"queryhit to a query from b", wire.Header{GUID: guidN(1), Type: wire.TypeQueryHit}, "b"},
		{"pong to a ping from l2", wire.Header{GUID: guidN(2), Type: wire.TypePong}, "l2"},
		{"pong to a query GUID has no route", wire.Header{GUID: guidN(1), Type: wire.TypePong}, ""},
		{"queryhit to our own query goes to no peer", wire.Header{GUID: guidN(3), Type: wire.TypeQueryHit}, ""},
		{"queryhit to an unknown query", wire.Header{GUID: guidN(4), Type: wire.TypeQueryHit}, ""},
		{"a push is no reply", wire.Header{GUID: guidN(1), Type: wire.TypePush}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := e.r.ReplyTo(&tc.h)
			assert.Equal(t, tc.want != "", ok)
			assert.Equal(t, tc.want, e.names[p])
		})
	}

	p, ok := e.r.PushRoute(otherServent)
	require.True(t, ok)
	assert.Equal(t, "c", e.names[p])
	_, ok = e.r.PushRoute(guidN(99))
	assert.False(t, ok)
}

func TestZeroConfigDefaults(t *testing.T) {
	r := New(Config{})
	assert.False(t, r.ServentGUID().IsZero(), "a servent GUID is made up")
	assert.True(t, r.ServentGUID().IsModern())
	assert.Equal(t, DefaultRouteTTL, r.cfg.RouteTTL)
	assert.Equal(t, uint8(DefaultMaxTTL), r.cfg.MaxTTL)
	assert.Equal(t, uint8(DefaultHardMaxTTL), r.cfg.HardMaxTTL)
	assert.Len(t, r.queries.shards, DefaultShards)
	assert.Len(t, r.stats, DefaultShards)

	small := New(Config{MaxRoutes: 5, Shards: 12})
	assert.Len(t, small.queries.shards, 4, "shards round down to a power of two within the capacity")
	assert.Len(t, small.pushRoutes.shards, 8)
}

// TestDuplicateDropAllocatesNothing proves the cheapest path, the one a
// flooding peer drives, costs no garbage; the reply path neither.
func TestDuplicateDropAllocatesNothing(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := e.peers["a"], e.peers["b"]
	out := make([]PeerID, 0, 8)
	q := &wire.Header{GUID: guidN(1), Type: wire.TypeQuery, TTL: 3}
	d, _ := e.r.Route(a, q, nil, queryHashes(""), out)
	require.Equal(t, NotDropped, d.Reason)

	dup := &wire.Header{GUID: guidN(1), Type: wire.TypeQuery, TTL: 4, Hops: 1}
	allocs := testing.AllocsPerRun(1000, func() {
		d, out = e.r.Route(b, dup, nil, nil, out)
	})
	require.Equal(t, DropDuplicate, d.Reason)
	require.Zero(t, allocs, "duplicate drop")
	var reason DropReason
	allocs = testing.AllocsPerRun(1000, func() { reason = e.r.Screen(b, dup, false) })
	require.Equal(t, DropDuplicate, reason)
	require.Zero(t, allocs, "duplicate drop on the header")

	hit := &wire.Header{GUID: guidN(1), Type: wire.TypeQueryHit, TTL: 3}
	payload := hitPayload(otherServent)
	allocs = testing.AllocsPerRun(1000, func() {
		d, out = e.r.Route(b, hit, payload, nil, out)
	})
	require.Equal(t, NotDropped, d.Reason)
	require.Equal(t, []PeerID{a}, out)
	require.Zero(t, allocs, "queryhit on the reverse path from a known servent")
}

// TestTablesStayBounded feeds ten million distinct GUIDs (queries, pings,
// pushes, and queryhits from new servents), from two goroutines, and checks
// that no table ever holds more than its capacity. Under the race detector,
// whose work here is the locking rather than the bound, it feeds one million.
func TestTablesStayBounded(t *testing.T) {
	const (
		maxRoute = 4096
		maxPush  = 2048
		maxSeen  = 1024
		workers  = 2
	)
	total := uint64(10_000_000)
	if raceEnabled {
		total = 1_000_000
	}
	// Time stands still: nothing expires, so only the bound removes entries.
	start := time.Now()
	r := New(Config{MaxRoutes: maxRoute, MaxPushRoutes: maxPush, MaxSeenPushes: maxSeen, Shards: 8,
		Now: func() time.Time { return start }})
	a, b := r.AddPeer(Neighbour), r.AddPeer(Neighbour)
	check := func() {
		assert.LessOrEqual(t, r.pings.len(), maxRoute, "pings")
		assert.LessOrEqual(t, r.queries.len(), maxRoute, "queries")
		assert.LessOrEqual(t, r.pushRoutes.len(), maxPush, "push routes")
		assert.LessOrEqual(t, r.seenPushes.len(), maxSeen, "seen pushes")
	}
	var unexpected atomic.Uint64
	var wg sync.WaitGroup
	for w := range uint64(workers) {
		wg.Go(func() {
			out := make([]PeerID, 0, 4)
			payload := make([]byte, 32)
			for i := w; i < total; i += workers {
				h := wire.Header{GUID: guidN(i), TTL: 3}
				from := a
				switch i / workers % 4 {
				case 0:
					h.Type = wire.TypeQuery
				case 1:
					// A hit for the query this worker just routed, from a
					// servent never seen before.
					h.GUID = guidN(i - workers)
					h.Type = wire.TypeQueryHit
					binary.LittleEndian.PutUint64(payload[16:], i)
					from = b
				case 2:
					h.Type = wire.TypePing
				case 3:
					h.Type = wire.TypePush
					binary.LittleEndian.PutUint64(payload, i)
				}
				var d Decision
				d, out = r.Route(from, &h, payload, nil, out)
				switch d.Reason {
				case NotDropped, DropNoPushRoute:
				case DropNoRoute:
					// The other worker may have pushed this hit's query out
					// of its LRU shard in between: that is the bound working.
				default:
					unexpected.Add(1)
				}
				if i%(1<<20) < workers {
					check()
				}
			}
		})
	}
	wg.Wait()
	check()
	assert.Zero(t, unexpected.Load(), "descriptors dropped for another reason than a missing route")
	assert.Equal(t, maxRoute, r.queries.len(), "full, not emptied")
	assert.Equal(t, maxPush, r.pushRoutes.len())
	assert.Equal(t, total/4, r.Stats().Dropped[DropNoPushRoute], "every push is for a servent we never saw")
}

// TestConcurrentRouting exercises the locks under the race detector: peers
// come and go while several goroutines route.
func TestConcurrentRouting(t *testing.T) {
	r := New(Config{Shards: 4})
	var peers []PeerID
	for range 4 {
		peers = append(peers, r.AddPeer(Neighbour))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			out := make([]PeerID, 0, 16)
			payload := hitPayload(guidN(uint64(w)))
			for i := range uint64(2000) {
				g := guidN(uint64(w)<<32 | i)
				q := wire.Header{GUID: g, Type: wire.TypeQuery, TTL: 3}
				_, out = r.Route(peers[w], &q, nil, nil, out)
				hit := wire.Header{GUID: g, Type: wire.TypeQueryHit, TTL: 3}
				_, out = r.Route(peers[(w+1)%4], &hit, payload, nil, out)
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			id := r.AddPeer(Leaf)
			r.RemovePeer(id)
		}
	})
	wg.Wait()
	s := r.Stats()
	assert.Equal(t, uint64(4*2000), s.Local, "every query handled once")
	assert.Equal(t, uint64(4*2000*2), s.Forwarded, "every query and every hit forwarded")
	assert.Zero(t, s.TotalDropped(), "%+v", s.Dropped)
}
