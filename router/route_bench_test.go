package router

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/govent/govent/wire"
)

// qrpUltrapeer is the router of an ultrapeer with 16 ultrapeer neighbours
// and 30 leaves, each leaf with a query route table of its own files
// (leaf i shares "tune<i%10> song <i>.mp3"), and a Query payload for text.
func qrpUltrapeer(b *testing.B, text string, cfg Config) (r *Router, from PeerID, payload []byte) {
	b.Helper()
	r = New(cfg)
	var neighbours []PeerID
	for range 16 {
		neighbours = append(neighbours, r.AddPeer(Neighbour))
	}
	for i := range 30 {
		tbl, err := BuildQRT([]string{fmt.Sprintf("tune%d song %d.mp3", i%10, i)}, nil, 16)
		if err != nil {
			b.Fatal(err)
		}
		r.SetQRT(r.AddPeer(Leaf), tbl)
	}
	q := wire.Query{Criteria: []byte(text)}
	payload, err := q.Append(nil)
	if err != nil {
		b.Fatal(err)
	}
	return r, neighbours[0], payload
}

// BenchmarkRouteQueryQRP routes a Query that arrived from one of an
// ultrapeer's 16 neighbours: it goes to the 15 others and to the 3 leaves
// whose tables match, of 30. Per op: the Query is decoded (as the reader
// does), hashed once and matched against every leaf's table. allocs/op is
// allocations per forwarded Query.
func BenchmarkRouteQueryQRP(b *testing.B) {
	r, from, payload := qrpUltrapeer(b, "tune3", Config{})
	var (
		query wire.Query
		qh    QueryHashes
		out   []PeerID
	)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range uint64(b.N) {
		if err := query.Decode(payload); err != nil {
			b.Fatal(err)
		}
		qh.SetQuery(&query)
		h := wire.Header{GUID: guidN(i), Type: wire.TypeQuery, TTL: 3, Hops: 1, Length: uint32(len(payload))}
		var d Decision
		d, out = r.Route(from, &h, payload, &qh, out[:0])
		if d.Dropped() || len(out) != 15+3 {
			b.Fatalf("%v, %d targets", d.Reason, len(out))
		}
	}
}

// BenchmarkDuplicateOnHeader reads a stream of Queries a neighbour already
// sent us, as a link's reader does: each header goes to Screen, which drops
// the duplicate, and the next ReadHeader skips its payload undecoded. Per
// op: one duplicate read and dropped. The servent's table clock is a
// CoarseClock (clock=coarse); time.Now alone costs 60-270 ns on some
// virtual machines (clock=time.Now, and time.Now-alone beside it), and a
// fixed clock shows the rest of the path.
func BenchmarkDuplicateOnHeader(b *testing.B) {
	fixed := time.Now()
	b.Run("clock=coarse", func(b *testing.B) {
		c := NewCoarseClock(0)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go c.Run(ctx)
		benchDuplicate(b, Config{TableClock: c})
	})
	b.Run("clock=time.Now", func(b *testing.B) { benchDuplicate(b, Config{}) })
	b.Run("clock=fixed", func(b *testing.B) { benchDuplicate(b, Config{Now: func() time.Time { return fixed }}) })
	b.Run("time.Now-alone", func(b *testing.B) {
		var t time.Time
		for range b.N {
			t = time.Now()
		}
		_ = t
	})
}

func benchDuplicate(b *testing.B, cfg Config) {
	r, from, payload := qrpUltrapeer(b, "tune3 duplicate benchmark", cfg)
	// 64 Queries, each routed once before the benchmark.
	var stream []byte
	for i := range uint64(64) {
		h := wire.Header{GUID: guidN(i), Type: wire.TypeQuery, TTL: 3, Hops: 1, Length: uint32(len(payload))}
		if _, out := r.Route(from, &h, payload, nil, nil); len(out) == 0 {
			b.Fatal("the first copy was not forwarded")
		}
		stream = append(h.Append(stream), payload...)
	}
	rd := wire.NewReader(&loopReader{b: stream}, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream) / 64))
	b.ResetTimer()
	cpu := processCPU()
	for range b.N {
		h, err := rd.ReadHeader()
		if err != nil {
			b.Fatal(err)
		}
		if reason := r.Screen(from, h, false); reason != DropDuplicate {
			b.Fatalf("%v", reason)
		}
	}
	// On a shared machine wall time counts the time others hold the CPU;
	// CPU time holds up better.
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time this process has used, user and system, all
// threads (the garbage collector's too).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopReader reads b over and over.
type loopReader struct {
	b   []byte
	off int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.b[l.off:])
	l.off = (l.off + n) % len(l.b)
	return n, nil
}
