package router

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// TestDropCountsOutlivePeer: what a peer sent that was dropped stays in the
// totals, by reason, once the peer is gone; the next peer in its slot starts
// with no drops of its own.
func TestDropCountsOutlivePeer(t *testing.T) {
	e := newEnv(t, Config{})
	a := e.peers["a"]
	e.mustRoute(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3})
	e.screen = true
	for _, m := range []msg{
		{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3},                                   // duplicate, on the header
		{from: "a", typ: wire.TypeQuery, guid: 2, ttl: 15, hops: 1},                         // hard TTL, on the header
		{from: "a", typ: wire.TypeQueryHit, guid: 3, ttl: 3, payload: hitPayload(guidN(9))}, // no route, in Route
	} {
		d, _ := e.route(m)
		require.NotEqual(t, NotDropped, d.Reason, "%+v", m)
	}
	e.screen = false
	d, _ := e.route(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3}) // duplicate, in Route
	require.Equal(t, DropDuplicate, d.Reason)
	d, _ = e.route(msg{from: "b", typ: wire.TypeQuery, guid: 1, ttl: 3}) // another peer's drop
	require.Equal(t, DropDuplicate, d.Reason)

	want := [NumDropReasons]uint64{DropDuplicate: 3, DropHardTTL: 1, DropNoRoute: 1}
	require.Equal(t, want, e.r.Stats().Dropped)
	require.Equal(t, PeerStats{Dropped: 4}, e.r.PeerStats(a))
	require.Equal(t, PeerStats{Dropped: 1}, e.r.PeerStats(e.peers["b"]))

	e.r.RemovePeer(a)
	assert.Equal(t, want, e.r.Stats().Dropped, "a's drops outlive it")
	assert.Zero(t, e.r.PeerStats(a), "a removed peer has no counters")
	d, _ = e.route(msg{from: "a", typ: wire.TypeQuery, guid: 1, ttl: 3})
	require.Equal(t, DropUnknownPeer, d.Reason)
	want[DropUnknownPeer]++
	assert.Equal(t, want, e.r.Stats().Dropped, "after a has gone, what it sends is from an unknown peer")

	a2 := e.add("a2", Neighbour)
	require.Equal(t, a.slot(), a2.slot())
	assert.Zero(t, e.r.PeerStats(a2), "a's drops are not its slot's next peer's")
	d, _ = e.route(msg{from: "a2", typ: wire.TypeQuery, guid: 1, ttl: 3})
	require.Equal(t, DropDuplicate, d.Reason)
	want[DropDuplicate]++
	assert.Equal(t, want, e.r.Stats().Dropped)
	assert.Equal(t, PeerStats{Dropped: 1}, e.r.PeerStats(a2))
}

// TestDropCountedAfterItsPeerWent: Screen and Route look their sender up
// and count its drop a little later; when RemovePeer runs in between, the
// drop still reaches the totals, once.
func TestDropCountedAfterItsPeerWent(t *testing.T) {
	e := newEnv(t, Config{})
	a := e.peers["a"]
	p := e.r.peers.Load().get(a)
	require.NotNil(t, p)
	e.r.countDrop(p, 0, DropHardTTL)
	e.r.RemovePeer(a)
	e.r.countDrop(p, 0, DropDuplicate) // looked up before the removal
	e.r.countDrop(p, 0, DropDuplicate)
	want := [NumDropReasons]uint64{DropDuplicate: 2, DropHardTTL: 1}
	assert.Equal(t, want, e.r.Stats().Dropped)
	assert.Equal(t, want, e.r.Stats().Dropped, "read twice, counted once")
}

// TestDropCountsExactWhilePeersGo: workers drop duplicates from their own
// peers while the peers are removed under them and Stats is read. Every
// drop Screen reports is in the totals with its reason, no more, and the
// totals never go down.
func TestDropCountsExactWhilePeersGo(t *testing.T) {
	const workers = 4
	iterations := 20000
	if raceEnabled {
		iterations = 2000
	}
	r := New(Config{Shards: 4})
	var peers [workers]PeerID
	for w := range workers {
		peers[w] = r.AddPeer(Neighbour)
	}
	h := wire.Header{GUID: guidN(1), Type: wire.TypeQuery, TTL: 3, Hops: 1}
	if d, _ := r.Route(peers[0], &h, nil, nil, nil); d.Dropped() {
		t.Fatal(d.Reason)
	}
	var (
		wg      sync.WaitGroup
		counted [workers][NumDropReasons]uint64
		started [workers]chan struct{}
		removed [workers]chan struct{}
		done    atomic.Bool
	)
	for w := range workers {
		started[w], removed[w] = make(chan struct{}), make(chan struct{})
		wg.Go(func() {
			for i := range iterations {
				switch i {
				case iterations / 4:
					close(started[w])
				case 3 * iterations / 4:
					<-removed[w]
				}
				dup := h
				var reason DropReason
				if i%2 == 0 {
					reason = r.Screen(peers[w], &dup, false)
				} else {
					d, _ := r.Route(peers[w], &dup, nil, nil, nil)
					reason = d.Reason
				}
				counted[w][reason]++
			}
		})
	}
	wg.Go(func() {
		// Each peer goes while its worker is in full swing, three quarters
		// of the way through at the latest.
		for w := range workers {
			<-started[w]
			r.RemovePeer(peers[w])
			close(removed[w])
		}
	})
	var decreased atomic.Bool
	var readers sync.WaitGroup
	readers.Go(func() {
		var last uint64
		for !done.Load() {
			n := r.Stats().TotalDropped()
			if n < last {
				decreased.Store(true)
			}
			last = n
		}
	})
	wg.Wait()
	done.Store(true)
	readers.Wait()

	var want [NumDropReasons]uint64
	for w := range workers {
		for reason, n := range counted[w] {
			want[reason] += n
		}
	}
	require.Zero(t, want[NotDropped], "every copy is a duplicate or from a peer that went")
	require.NotZero(t, want[DropUnknownPeer], "the peers went while their workers ran")
	assert.Equal(t, want, r.Stats().Dropped)
	assert.False(t, decreased.Load(), "a total went down")
}
