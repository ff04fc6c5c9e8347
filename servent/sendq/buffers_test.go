package sendq

import (
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// TestRingMatchesModel runs random pushes, pops, runs copied out, resizes
// and resets against a FIFO of copies: the bytes that come out are the
// bytes that went in, in order, whether a message wraps around the end of
// the buffer, the buffer grows while it wraps, or shrinks.
func TestRingMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var r ring
	var model [][]byte
	var fill byte
	check := func(op string) {
		t.Helper()
		require.Equal(t, len(model), r.n, op)
		total := 0
		for _, m := range model {
			total += len(m)
		}
		require.Equal(t, total, r.bytes, op)
		if r.buf != nil {
			require.Equal(t, 1, bits.OnesCount(uint(len(r.buf))), "%s: buffer of %d bytes", op, len(r.buf))
			require.GreaterOrEqual(t, len(r.buf), max(r.bytes, minRingBytes), op)
		}
	}
	wrapped := 0
	for i := range 8000 {
		switch op := rng.IntN(10); {
		case op < 5: // push
			m := make([]byte, 1+rng.IntN(rng.IntN(3000)+1))
			for j := range m {
				fill++
				m[j] = fill
			}
			if r.buf != nil && r.head+r.bytes+len(m) > len(r.buf) && r.bytes+len(m) <= len(r.buf) {
				wrapped++
			}
			r.push(m)
			model = append(model, m)
			check("push")
		case op < 8 && len(model) > 0: // a run copied out
			k := 1 + rng.IntN(len(model))
			var want []byte
			for _, m := range model[:k] {
				want = append(want, m...)
			}
			got := r.copyOut(make([]byte, 0, 8), len(want))
			require.Equal(t, want, got, "step %d: run of %d", i, k)
			r.popRun(k, len(want))
			model = model[k:]
			check("popRun")
		case op < 9 && len(model) > 0: // one popped
			require.Equal(t, len(model[0]), r.frontLen())
			require.Equal(t, len(model[0]), r.pop())
			model = model[1:]
			check("pop")
		case op == 9 && rng.IntN(4) == 0 && r.bytes > 0: // shrink to fit
			r.resize(r.bytes)
			check("resize")
		case rng.IntN(50) == 0:
			r.reset()
			model = model[:0]
			check("reset")
		}
	}
	require.Greater(t, wrapped, 50, "the run must exercise messages that wrap")
}

// TestQueueGivesBackRings: a queue whose classes each fill it in turn keeps
// at most its limit of ring buffers, not a full-size ring per class, and
// still sends every message intact and in order.
func TestQueueGivesBackRings(t *testing.T) {
	const maxBytes = 64 << 10
	q := New(Config{MaxBytes: maxBytes, MaxMessages: 1 << 16})
	own := []wire.PayloadType{wire.TypePing, wire.TypeQuery, wire.TypePong, wire.TypeQueryHit, wire.TypePush, wire.TypeVendor}
	buf := make([]byte, 0, 16<<10)
	for round := range 3 {
		for i, typ := range own {
			var want []byte
			for n := 0; n+500 <= maxBytes; n += 500 {
				m := desc(typ, byte(i), 500)
				require.NoError(t, q.Enqueue(m, true), "round %d, %v", round, typ)
				want = append(want, m...)
			}
			assert.LessOrEqual(t, q.held, q.holdLimit+2*maxBytes, "%v: at most one ring beyond the limit", typ)
			var got []byte
			for {
				var left int
				buf, left = q.DequeueBatch(buf[:0])
				got = append(got, buf...)
				if left == 0 {
					break
				}
			}
			require.Equal(t, want, got, "round %d, %v", round, typ)
			assert.LessOrEqual(t, q.held, q.holdLimit, "%v drained", typ)
		}
	}
	// Everything drained: what is kept is at most the limit, and a ring is
	// kept for reuse.
	assert.NotZero(t, q.held)
}

// BenchmarkFloodedQueues is the queues of a flooded ultrapeer on one
// core: 8 links, each Query forwarded to the 7 other links' queues. As in
// the servent, a link's reader fills the queues until they are congested
// (at their wait mark) and waits; then the writers run and drain them in
// 16 KiB batches. What it measures is mostly memory: the bytes a queue
// holds are written once and read a queue's length later, so how they lie
// in memory decides how many of them are still in cache.
func BenchmarkFloodedQueues(b *testing.B) {
	const links = 8
	var qs [links]*Queue
	for i := range qs {
		qs[i] = New(Config{})
	}
	m := desc(wire.TypeQuery, 1, 45) // a short Query, as BenchmarkOverload's
	buf := make([]byte, 0, 16<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(m)) * (links - 1))
	congested := false
	for i := 0; b.Loop(); i++ {
		from := i % links
		for k, q := range qs {
			if k == from {
				continue
			}
			if err := q.Enqueue(m, false); err != nil {
				b.Fatal(err)
			}
			congested = congested || q.Congested()
		}
		if !congested {
			continue
		}
		for _, q := range qs {
			for left := 1; left > 0; {
				buf, left = q.DequeueBatch(buf[:0])
				q.Written()
			}
		}
		congested = false
	}
}
