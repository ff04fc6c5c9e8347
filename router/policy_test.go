package router

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

func TestAdmitByRole(t *testing.T) {
	cases := []struct {
		role  Role
		claim Claim
		kind  PeerKind
		ok    bool
	}{
		{RoleUltrapeer, ClaimLeaf, Leaf, true},
		{RoleUltrapeer, ClaimUltrapeer, Neighbour, true},
		{RoleUltrapeer, ClaimNone, Neighbour, true},
		{RoleLeaf, ClaimUltrapeer, Neighbour, true},
		{RoleLeaf, ClaimLeaf, Neighbour, false},
		{RoleLeaf, ClaimNone, Neighbour, false},
	}
	for _, tc := range cases {
		r := New(Config{Role: tc.role})
		kind, ok := r.Admit(tc.claim)
		assert.Equal(t, tc.ok, ok, "%s admits claim %d", tc.role, tc.claim)
		if ok {
			assert.Equal(t, tc.kind, kind, "%s admits claim %d", tc.role, tc.claim)
		}
	}
}

// TestSetRole: a promoted leaf routes at once; a demoted ultrapeer stops.
func TestSetRole(t *testing.T) {
	e := newEnv(t, Config{Role: RoleLeaf})
	_, to := e.route(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3})
	assert.Empty(t, to, "a leaf forwards nothing")
	e.r.SetRole(RoleUltrapeer)
	assert.Equal(t, RoleUltrapeer, e.r.Role())
	_, to = e.route(msg{from: "a", typ: wire.TypeQuery, guid: 2, ttl: 3})
	assert.Equal(t, []string{"b", "c", "l1", "l2"}, to)
	kind, ok := e.r.Admit(ClaimLeaf)
	assert.True(t, ok)
	assert.Equal(t, Leaf, kind)
	e.r.SetRole(RoleLeaf)
	_, to = e.route(msg{from: "a", typ: wire.TypeQuery, guid: 3, ttl: 3})
	assert.Empty(t, to)
}

// TestOriginate: our own Query goes to every neighbour, to the leaves whose
// tables match and to those that have sent none yet.
func TestOriginate(t *testing.T) {
	e := newEnv(t, Config{})
	e.setQRT(e.peers["b"], "Yellow Submarine.mp3") // never matters for our own
	e.setQRT(e.peers["l2"], "Yesterday.ogg")
	h := &wire.Header{GUID: guidN(1), Type: wire.TypeQuery, TTL: 1}
	var names []string
	for _, id := range e.r.Originate(h, queryHashes("penny lane"), nil) {
		names = append(names, e.names[id])
	}
	assert.Equal(t, []string{"a", "b", "c", "l1"}, names)
	assert.EqualValues(t, 1, e.r.Stats().Originated)
	e.add("l3", Leaf) // no table yet
	names = names[:0]
	for _, id := range e.r.Originate(&wire.Header{GUID: guidN(2), Type: wire.TypeQuery, TTL: 1}, queryHashes("penny lane"), nil) {
		names = append(names, e.names[id])
	}
	assert.Equal(t, []string{"a", "b", "c", "l1", "l3"}, names, "a leaf without a table yet gets our own")
	_, to := e.route(msg{from: "a", typ: wire.TypeQuery, guid: 3, ttl: 2})
	assert.NotContains(t, to, "l3", "but not the Queries we route")
	d, _ := e.route(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 2, hops: 2})
	assert.Equal(t, DropDuplicate, d.Reason, "registered as our own")
	d, _ = e.route(msg{from: "a", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hitPayload(otherServent)})
	assert.True(t, d.Local, "its hits are ours")
}

// dynEnv is an ultrapeer with a searching leaf, another leaf, and five
// ultrapeer neighbours u0..u4, u1 and u3 with tables that do not match.
func dynEnv(t *testing.T, cfg Config) *env {
	e := &env{t: t, clock: newFakeClock(), peers: map[string]PeerID{}, names: map[PeerID]string{}}
	cfg.Now = e.clock.Now
	e.r = New(cfg)
	e.add("searcher", Leaf)
	e.setQRT(e.add("l1", Leaf), "Penny Lane.mp3")
	for i := range 5 {
		id := e.add(fmt.Sprintf("u%d", i), Neighbour)
		if i%2 == 1 {
			e.setQRT(id, "Yellow Submarine.mp3")
		}
	}
	return e
}

func (e *env) nameAll(ids []PeerID) []string {
	var out []string
	for _, id := range ids {
		out = append(out, e.names[id])
	}
	return out
}

// TestDynamicQuerySteps: a leaf's Query goes to the matching leaf at once;
// the probe reaches DynamicQueryProbe ultrapeers with TTL 1, skipping those
// whose tables do not match; each later step one more ultrapeer (the
// skipped ones first), with TTL 3 while results are few and 2 past half
// the target; it ends at the target.
func TestDynamicQuerySteps(t *testing.T) {
	e := dynEnv(t, Config{DynamicQueryProbe: 2, DynamicQueryResults: 10})
	d, to := e.route(msg{from: "searcher", typ: wire.TypeQuery, guid: 1, ttl: 4})
	require.Equal(t, NotDropped, d.Reason)
	assert.Equal(t, []string{"l1"}, to)
	dq := d.Dynamic
	require.NotNil(t, dq)
	assert.Equal(t, 1, e.r.DynamicQueries())
	before := e.r.Stats()

	h, probe := dq.Probe(nil)
	assert.EqualValues(t, 1, h.TTL)
	assert.EqualValues(t, 1, h.Hops)
	assert.Equal(t, guidN(1), h.GUID)
	assert.Equal(t, []string{"u0", "u2"}, e.nameAll(probe), "u1's table does not match the last hop")

	// Three results come back: few, so TTL 3.
	hit := hitPayload(otherServent)
	hit[0] = 3
	e.mustRoute(msg{from: "u0", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hit})
	assert.EqualValues(t, 3, dq.Results())
	h, step, more := dq.Next(nil)
	require.True(t, more)
	assert.EqualValues(t, 3, h.TTL)
	assert.Equal(t, []string{"u1"}, e.nameAll(step), "skipped by the probe, not by the wider steps: the table does not matter")

	// Two more: half the target, so TTL 2.
	hit[0] = 2
	e.mustRoute(msg{from: "u1", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hit})
	h, step, more = dq.Next(nil)
	require.True(t, more)
	assert.EqualValues(t, 2, h.TTL)
	assert.Equal(t, []string{"u3"}, e.nameAll(step))
	_, step, more = dq.Next(nil)
	require.True(t, more)
	assert.Equal(t, []string{"u4"}, e.nameAll(step))

	after := e.r.Stats()
	assert.Equal(t, before.Sent+5+2, after.Sent, "every step's copies are counted as sent, with the two hits")
	assert.Equal(t, before.Forwarded+2, after.Forwarded, "the Query was counted as forwarded once, when l1 got it")

	_, _, more = dq.Next(nil)
	assert.False(t, more, "no ultrapeer is left")
	dq.Finish()
	assert.Zero(t, e.r.DynamicQueries())
	e.mustRoute(msg{from: "u4", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hit})
	assert.EqualValues(t, 5, dq.Results(), "a finished query counts nothing more")
}

// TestDynamicQueryStopsAtTarget: enough results end the widening; a Query
// TTL caps each step's TTL; too many at once are flooded instead.
func TestDynamicQueryStopsAtTarget(t *testing.T) {
	e := dynEnv(t, Config{DynamicQueryProbe: 1, DynamicQueryResults: 4, MaxDynamicQueries: 1})
	d, _ := e.route(msg{from: "searcher", typ: wire.TypeQuery, guid: 1, ttl: 3})
	dq := d.Dynamic
	require.NotNil(t, dq)
	_, probe := dq.Probe(nil)
	assert.Equal(t, []string{"u0"}, e.nameAll(probe))
	h, _, more := dq.Next(nil)
	require.True(t, more)
	assert.EqualValues(t, 2, h.TTL, "capped at what the Query may still travel")
	hit := hitPayload(otherServent)
	hit[0] = 4
	e.mustRoute(msg{from: "u0", typ: wire.TypeQueryHit, guid: 1, ttl: 3, payload: hit})
	_, _, more = dq.Next(nil)
	assert.False(t, more, "the target is reached")

	d, to := e.route(msg{from: "searcher", typ: wire.TypeQuery, guid: 2, ttl: 3})
	assert.Nil(t, d.Dynamic, "one dynamic query at most")
	assert.Equal(t, []string{"l1", "u0", "u1", "u2", "u3", "u4"}, to, "flooded instead")
	dq.Finish()
	d, _ = e.route(msg{from: "searcher", typ: wire.TypeQuery, guid: 3, ttl: 3})
	assert.NotNil(t, d.Dynamic)
}

// TestAnswerPing is the pong-cache policy: an alive Ping gets our Pong
// alone, always; a wider one ours, our ultrapeer neighbours' (with what
// their Pongs said) and fresh cached ones, never the asker's, at most
// PongsPerPing beyond ours, and no more than once per PingInterval a peer.
func TestAnswerPing(t *testing.T) {
	e := newEnv(t, Config{})
	a := e.peers["a"]
	addr := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 6346)
	}
	own := Pong{Addr: addr(0), Files: 7}
	asker := addr(1)
	for i := 1; i <= 20; i++ {
		e.r.LearnPong(Pong{Addr: addr(i), Files: uint32(i), UP: []byte{2, 1, 1}})
	}
	e.r.LearnPong(Pong{Addr: addr(21), UP: make([]byte, MaxUPLen+1)})
	p, ok := e.r.CachedPong(addr(21))
	require.True(t, ok)
	assert.Nil(t, p.UP, "an implausible UP is not kept")

	alive := &wire.Header{Type: wire.TypePing, TTL: 1, Hops: 0}
	for range 3 {
		assert.Equal(t, []Pong{own}, e.r.AnswerPing(a, alive, own, nil, asker), "alive Pings, however many")
	}
	wide := &wire.Header{Type: wire.TypePing, TTL: 2}
	neighbours := []netip.AddrPort{addr(5), addr(99)}
	pongs := e.r.AnswerPing(a, wide, own, neighbours, asker)
	require.Len(t, pongs, PongsPerPing+1)
	assert.Equal(t, own, pongs[0])
	assert.Equal(t, addr(5), pongs[1].Addr)
	assert.EqualValues(t, 5, pongs[1].Files, "a neighbour's cached Pong")
	assert.Equal(t, Pong{Addr: addr(99)}, pongs[2], "a neighbour we have no Pong of")
	assert.Equal(t, addr(21), pongs[3].Addr, "then the cache, newest first")
	seen := map[netip.AddrPort]bool{}
	for _, p := range pongs {
		assert.NotEqual(t, asker, p.Addr, "never the asker")
		assert.False(t, seen[p.Addr], "no address twice")
		seen[p.Addr] = true
	}

	assert.Nil(t, e.r.AnswerPing(a, wide, own, neighbours, asker), "throttled")
	assert.EqualValues(t, 1, e.r.Stats().PingsThrottled)
	assert.NotNil(t, e.r.AnswerPing(e.peers["b"], wide, own, nil, asker), "the throttle is per peer")
	e.clock.Advance(PingInterval)
	assert.NotNil(t, e.r.AnswerPing(a, wide, own, nil, asker), "a second later")

	e.clock.Advance(PongCacheMaxAge + time.Second)
	e.clock.Advance(PingInterval)
	assert.Equal(t, []Pong{own}, e.r.AnswerPing(a, wide, own, nil, asker), "cached Pongs grow stale")
	_, ok = e.r.CachedPong(addr(5))
	assert.False(t, ok)
}

// TestQRTBitmapFollowsSlots: the bitmap every match reads holds exactly
// the slots whose values are below infinity, in tables built, merged,
// cloned, received whole and patched (sharing pages with the table before,
// with slots turning absent as well as present), at several sizes; and a
// received table matches as the one sent.
func TestQRTBitmapFollowsSlots(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := make([]string, 400)
	for i := range words {
		words[i] = fmt.Sprintf("w%dx%d", i, rng.IntN(1000))
	}
	pick := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = words[rng.IntN(len(words))]
		}
		return out
	}
	agree := func(tbl *QueryRouteTable, what string, bits uint8) {
		t.Helper()
		n, wrong := 0, -1
		for s := range uint32(tbl.Slots()) {
			if (tbl.at(s) < tbl.infinity) != tbl.has(s) && wrong < 0 {
				wrong = int(s)
			}
			if tbl.has(s) {
				n++
			}
		}
		require.Equal(t, -1, wrong, "%s, %d bits: the first slot the bitmap has wrong", what, bits)
		require.Equal(t, tbl.Present(), n, "%s, %d bits", what, bits)
	}
	for _, bits := range []uint8{4, 8, 12, 14, 16} {
		first, err := BuildQRT(pick(150), nil, bits)
		require.NoError(t, err)
		agree(first, "built", bits)
		second := first.Clone()
		extra, err := BuildQRT(pick(3), nil, bits)
		require.NoError(t, err)
		second.Merge(extra)
		agree(second, "merged", bits)
		agree(first, "cloned from", bits)
		// Tables of other sizes fold in or spread out on merging.
		for _, other := range []uint8{max(bits, 2) - 2, bits + 2} {
			u, err := UnionQRT(other, first, extra)
			require.NoError(t, err)
			agree(u, "union", other)
		}
		third, err := BuildQRT(pick(40), nil, bits) // most of second's slots go
		require.NoError(t, err)
		rcv := NewQRTReceiver(0)
		for i, next := range []*QueryRouteTable{first, second, third} {
			msgs, err := PatchMessages(rcv.Table(), next, 4, true, 4096)
			require.NoError(t, err)
			for i := range msgs {
				_, err = rcv.Handle(&msgs[i])
				require.NoError(t, err)
			}
			got := rcv.Table() // unchanged when nothing had to be sent
			require.NotNil(t, got, "%d bits, table %d", bits, i+1)
			agree(got, fmt.Sprintf("received table %d", i+1), bits)
			for range 200 {
				var q QueryHashes
				for _, w := range pick(1 + rng.IntN(3)) {
					q.AddKeyword([]byte(w))
				}
				require.Equal(t, next.Match(&q), got.Match(&q), "%d bits", bits)
			}
		}
	}
}

// TestDynamicQueryWidensPastProbeMisses: an ultrapeer whose table does not
// match is left out of the TTL-1 probe only. Its table says nothing about
// what lies behind it, so a later step still reaches it with a higher TTL;
// otherwise a file two ultrapeers away is never found when no neighbour's
// own table matches.
func TestDynamicQueryWidensPastProbeMisses(t *testing.T) {
	e := dynEnv(t, Config{DynamicQueryProbe: 3, DynamicQueryResults: 10})
	for i := range 5 {
		e.setQRT(e.peers[fmt.Sprintf("u%d", i)], "Yellow Submarine.mp3")
	}
	d, _ := e.route(msg{from: "searcher", typ: wire.TypeQuery, guid: 1, ttl: 4})
	dq := d.Dynamic
	require.NotNil(t, dq)
	defer dq.Finish()
	_, probe := dq.Probe(nil)
	assert.Empty(t, probe, "no neighbour's table matches the last hop")
	var widened []string
	for {
		h, step, more := dq.Next(nil)
		if !more {
			break
		}
		assert.EqualValues(t, 3, h.TTL, "few results: reach further")
		widened = append(widened, e.nameAll(step)...)
	}
	assert.Equal(t, []string{"u0", "u1", "u2", "u3", "u4"}, widened, "every neighbour is tried beyond its own table")
}
