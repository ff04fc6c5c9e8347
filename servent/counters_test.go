package servent

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/servent/sendq"
	"github.com/govent/govent/wire"
)

// TestCountersAgree runs three servents: ultrapeer A and auto-mode C (a
// leaf sharing "penny lane") both on ultrapeer B, which also has a raw
// neighbour R that never reads. A searches 200 times, one after another.
// What each router says it sent is what its servent queued plus what the
// queues refused: B's queue for R runs full and drops, and those drops are
// counted as such. C, a leaf, forwards nothing and its router says so.
func TestCountersAgree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		n.BufferSize = 2048 // R's socket fills at once
		bcfg := memConfig(t, n, "127.0.0.2:6346")
		bcfg.SendQueueBytes = 8192
		b := startServent(t, bcfg)
		a := startServent(t, memConfig(t, n, "127.0.0.1:6346"))
		ccfg := memConfig(t, n, "127.0.0.3:6346")
		ccfg.Mode = ModeAuto
		ccfg.ShareDir = shareDir(t, map[string]string{"Penny Lane.mp3": "penny"})
		c := startServent(t, ccfg)
		require.NoError(t, a.Connect(b.Addr()))
		require.NoError(t, c.Connect(b.Addr()))
		connectMemRaw(t, n, b.Addr(), true) // R: handshakes, then reads nothing
		synctest.Wait()
		require.Len(t, b.Peers(), 3)

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var searches []*Search
		for i := range 200 {
			text := "penny lane"
			if i%2 == 1 {
				// Long enough that R's socket, a write batch and the
				// flow-control mark of its queue cannot hold them all,
				// however the writer happens to batch.
				text = fmt.Sprintf("nothing %d %s", i, strings.Repeat("padding ", 22))
			}
			sr, err := a.Search(ctx, text)
			require.NoError(t, err)
			searches = append(searches, sr)
			// One search at a time: each settles (its hit back at A)
			// before the next, so that only R's queue, which nothing
			// drains, fills, however the goroutines are scheduled.
			time.Sleep(time.Millisecond)
		}
		// Long enough for B to find R's queue no longer draining.
		time.Sleep(time.Second)
		synctest.Wait()

		hits := 0
		for _, sr := range searches {
			hits += len(sr.Results)
		}
		assert.Equal(t, 100, hits, "every penny lane search found C's file")
		for name, s := range map[string]*Servent{"A": a, "B": b, "C": c} {
			st := s.Stats()
			assert.Equal(t, st.Router.Sent, st.Forwarded+st.QueueDrops,
				"%s: the router's copies are the servent's queued and dropped ones", name)
		}
		bs := b.Stats()
		assert.NotZero(t, bs.QueueDrops, "R's queue dropped")
		assert.EqualValues(t, 200+100, bs.Router.Forwarded, "B forwarded every Query and every QueryHit")
		assert.Equal(t, uint64(200+100+100), bs.Forwarded+bs.QueueDrops,
			"a copy of each Query for R, one of each penny lane Query for C, one of each hit for A")
		var rDropped, cQueued uint64
		for _, p := range b.Peers() {
			switch {
			case p.Leaf:
				cQueued = p.Counters.Out.Class[sendq.ClassQuery].Enqueued
			case p.Addr.Addr() == netip.MustParseAddr("127.0.0.9"):
				rDropped = p.Dropped
			}
		}
		assert.EqualValues(t, 100, cQueued, "C got the penny lane Queries, and no other")
		assert.Equal(t, bs.QueueDrops, rDropped, "every queue drop was R's")
		cs := c.Stats()
		assert.Zero(t, cs.Router.Forwarded, "a leaf forwards nothing")
		assert.Zero(t, cs.Forwarded)
		assert.EqualValues(t, 100, cs.Answered)
		assert.EqualValues(t, 100, countIn(c, wire.TypeQuery))
		cancel()
	})
}
