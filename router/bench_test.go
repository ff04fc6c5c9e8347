package router

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/govent/govent/wire"
)

// benchRouter is a router with five neighbours, the shape of a small
// ultrapeer mesh: each Query fans out to four peers.
func benchRouter(cfg Config) (*Router, []PeerID) {
	r := New(cfg)
	peers := make([]PeerID, 5)
	for i := range peers {
		peers[i] = r.AddPeer(Neighbour)
	}
	return r, peers
}

func reportDecisions(b *testing.B, perOp int) {
	b.ReportMetric(float64(perOp*b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkQueryFloodAndHit routes, per op, a new Query (flooded to four
// peers) and a QueryHit back along its reverse path: two decisions. Run with
// -cpu 1,2 to see the scaling; GUIDs are distinct, so the tables run full and
// evict, as on a busy node.
func BenchmarkQueryFloodAndHit(b *testing.B) {
	r, peers := benchRouter(Config{})
	var next atomic.Uint64
	payload := hitPayload(otherServent)
	b.ReportAllocs()
	b.SetBytes(2 * wire.HeaderLen)
	b.RunParallel(func(pb *testing.PB) {
		base := next.Add(1) << 40
		out := make([]PeerID, 0, len(peers))
		var i uint64
		for pb.Next() {
			g := guidN(base | i)
			i++
			q := wire.Header{GUID: g, Type: wire.TypeQuery, TTL: 4, Hops: 1}
			d, o := r.Route(peers[0], &q, nil, nil, out)
			if d.Reason != NotDropped || len(o) != len(peers)-1 {
				b.Fatalf("query: %v, %d targets", d.Reason, len(o))
			}
			hit := wire.Header{GUID: g, Type: wire.TypeQueryHit, TTL: 4, Length: uint32(len(payload))}
			d, o = r.Route(peers[1], &hit, payload, nil, out)
			switch {
			case d.Reason == DropNoRoute:
				// Another goroutine filled this shard while this one was
				// descheduled between its query and its hit: the LRU bound
				// at work, rare, and still a decision.
			case d.Reason != NotDropped || len(o) != 1 || o[0] != peers[0]:
				b.Fatalf("queryhit: %v, %v", d.Reason, o)
			}
		}
	})
	reportDecisions(b, 2)
}

// BenchmarkDecision measures one decision of each kind on its own, so that
// allocs/op reads as allocations per forwarded (or dropped) descriptor.
func BenchmarkDecision(b *testing.B) {
	b.Run("query-flood", func(b *testing.B) {
		r, peers := benchRouter(Config{})
		out := make([]PeerID, 0, len(peers))
		b.ReportAllocs()
		b.SetBytes(wire.HeaderLen)
		for i := range uint64(b.N) {
			q := wire.Header{GUID: guidN(i), Type: wire.TypeQuery, TTL: 4}
			_, out = r.Route(peers[0], &q, nil, nil, out)
		}
		reportDecisions(b, 1)
	})
	b.Run("queryhit-reverse-path", func(b *testing.B) {
		r, peers := benchRouter(Config{})
		out := make([]PeerID, 0, len(peers))
		const live = 1 << 16
		for i := range uint64(live) {
			q := wire.Header{GUID: guidN(i), Type: wire.TypeQuery, TTL: 4}
			_, out = r.Route(peers[0], &q, nil, nil, out)
		}
		payload := hitPayload(otherServent)
		b.ReportAllocs()
		b.SetBytes(wire.HeaderLen)
		b.ResetTimer()
		for i := range uint64(b.N) {
			hit := wire.Header{GUID: guidN(i % live), Type: wire.TypeQueryHit, TTL: 4}
			_, out = r.Route(peers[1], &hit, payload, nil, out)
		}
		reportDecisions(b, 1)
	})
	b.Run("duplicate-drop", func(b *testing.B) {
		r, peers := benchRouter(Config{})
		out := make([]PeerID, 0, len(peers))
		q := wire.Header{GUID: guidN(1), Type: wire.TypeQuery, TTL: 4}
		_, out = r.Route(peers[0], &q, nil, nil, out)
		b.ReportAllocs()
		b.SetBytes(wire.HeaderLen)
		b.ResetTimer()
		for range b.N {
			_, out = r.Route(peers[1], &q, nil, nil, out)
		}
		reportDecisions(b, 1)
	})
}

// BenchmarkBytesPerEntry fills the Query route table with a million live
// routes and reports the heap they take per entry: golang-lru's list
// element and map slot plus our 16-byte route.
func BenchmarkBytesPerEntry(b *testing.B) {
	const entries = 1_000_000
	b.ReportAllocs()
	b.SetBytes(entries * wire.HeaderLen)
	var perEntry float64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		// Room to spare, so that no shard evicts while the million go in.
		r, peers := benchRouter(Config{MaxRoutes: 2 * entries})
		out := make([]PeerID, 0, len(peers))
		for i := range uint64(entries) {
			q := wire.Header{GUID: guidN(i), Type: wire.TypeQuery, TTL: 4}
			_, out = r.Route(peers[0], &q, nil, nil, out)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if n := r.queries.len(); n != entries {
			b.Fatalf("%d live entries, want %d", n, entries)
		}
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / entries
		runtime.KeepAlive(r)
	}
	b.ReportMetric(perEntry, "B/entry")
}
