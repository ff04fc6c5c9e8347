package p2pnode

import (
	"crypto/sha1"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/cmd/internal/p2pmodel"
	"github.com/govent/govent/cmd/internal/p2pstats"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

func timeline(t *testing.T) *p2pmodel.Timeline {
	t.Helper()
	tl, err := p2pmodel.Generate(p2pmodel.Params{Nodes: 50, Ultrapeers: 0.1, Duration: 10 * time.Minute, Seed: 3,
		Workload: p2pmodel.DefaultWorkload(), Churn: p2pmodel.DefaultChurn()})
	require.NoError(t, err)
	return tl
}

// TestShareHoldsTheSessionsFiles: every copy of a catalog file has the
// same bytes, so its replicas share one urn:sha1; different files differ.
func TestShareHoldsTheSessionsFiles(t *testing.T) {
	tl := timeline(t)
	r := &Run{Timeline: tl, ShareRoot: t.TempDir()}
	digests := map[int][20]byte{}
	for id := range tl.Sessions[:20] {
		dir, err := r.Share(id)
		require.NoError(t, err)
		ents, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, ents, len(tl.Sessions[id].Files))
		for _, rank := range tl.Sessions[id].Files {
			b, err := os.ReadFile(filepath.Join(dir, tl.Catalog.File(rank).Name))
			require.NoError(t, err)
			sum := sha1.Sum(b)
			if d, ok := digests[rank]; ok {
				assert.Equal(t, d, sum, "rank %d", rank)
			}
			digests[rank] = sum
		}
	}
	seen := map[[20]byte]int{}
	for rank, d := range digests {
		_, dup := seen[d]
		assert.False(t, dup, "ranks %d and %d have the same bytes", rank, seen[d])
		seen[d] = rank
	}
}

// TestEventsCount: descriptors count from time 0 to the end, and after it
// only the users' Query and QueryHit traffic; drops count at the end that
// dialled; routes go to the reverse-path check.
func TestEventsCount(t *testing.T) {
	tl := timeline(t)
	stats, err := p2pstats.NewCollector(p2pstats.Run{Nodes: 1}, time.Minute, time.Second)
	require.NoError(t, err)
	r := &Run{Timeline: tl, Stats: stats, End: time.Minute}
	peer := netip.MustParseAddrPort("127.1.0.9:6346")
	g := wire.GUID{1}
	at := func(d time.Duration) { r.Start = time.Now().Add(-d) }

	at(-time.Second) // in the warm-up: nothing counts
	r.Events(1)(servent.Event{Kind: servent.EventReceived, Type: wire.TypePing, Bytes: 23})
	r.Events(1)(servent.Event{Kind: servent.EventDisconnected, Outgoing: true, ByeSent: 200})
	at(10 * time.Second)
	r.Events(1)(servent.Event{Kind: servent.EventReceived, Type: wire.TypePing, Bytes: 23})
	r.Events(1)(servent.Event{Kind: servent.EventReceived, Type: wire.TypeQuery, GUID: g, Bytes: 40})
	r.Events(2)(servent.Event{Kind: servent.EventDisconnected, Outgoing: true, ByeReceived: 405})
	r.Events(2)(servent.Event{Kind: servent.EventDisconnected, Outgoing: false, ByeSent: 405}) // the other end: not again
	r.Events(3)(servent.Event{Kind: servent.EventDisconnected, Outgoing: true})
	r.Events(1)(servent.Event{Kind: servent.EventQuery, GUID: g, Peer: peer})
	r.Events(1)(servent.Event{Kind: servent.EventQueryHit, GUID: g, To: peer})
	r.Events(0)(servent.Event{Kind: servent.EventQueryHit, GUID: g})
	at(2 * time.Minute) // the drain: the last queries' traffic only
	r.Events(1)(servent.Event{Kind: servent.EventReceived, Type: wire.TypePong, Bytes: 37})
	r.Events(1)(servent.Event{Kind: servent.EventReceived, Type: wire.TypeQueryHit, GUID: g, Bytes: 100})
	stats.QueryIssuedBy(0, p2pstats.GUID(g), 10*time.Second, true)

	res := stats.Results()
	assert.Equal(t, []p2pstats.TypeRate{{Type: "ping", Rate: 23.0 / 60}, {Type: "query", Rate: 40.0 / 60}, {Type: "queryhit", Rate: 100.0 / 60}}, res.Bandwidth)
	assert.Equal(t, []p2pstats.Count{{Reason: "bye 405", N: 1}, {Reason: "closed without bye", N: 1}}, res.Dropped)
	assert.Equal(t, p2pstats.ReversePathFigures{Forwarded: 1, Delivered: 1}, res.ReversePath)
	assert.Equal(t, 2.0, *res.Descriptors.Mean)
}

func TestSchedule(t *testing.T) {
	tl := timeline(t)
	end := 5 * time.Minute
	evs := Schedule(tl, end, time.Minute)
	var samples, queries int
	for i, ev := range evs {
		if i > 0 {
			require.LessOrEqual(t, evs[i-1].At, ev.At, "in time order")
		}
		assert.True(t, ev.At >= 0 && ev.At < end)
		ss := &tl.Sessions[ev.Session]
		switch ev.Kind {
		case Sample:
			samples++
		case Join:
			assert.Equal(t, ss.Join, ev.At)
		case Leave:
			assert.Equal(t, ss.Leave, ev.At)
		case Query:
			queries++
			assert.True(t, ev.At >= ss.Join && ev.At < ss.Leave, "issued while online")
		}
	}
	assert.Equal(t, 5, samples)
	assert.Positive(t, queries)
}

func TestNames(t *testing.T) {
	assert.Equal(t, "bye 502", DropReason(servent.Event{ByeSent: 502}))
	assert.Equal(t, "bye 200", DropReason(servent.Event{ByeReceived: 200}))
	assert.Equal(t, "qrp", TypeName(wire.TypeQRP))
	assert.Equal(t, "vendor", TypeName(wire.TypeStdVendor))
	assert.Equal(t, "hsep", TypeName(wire.TypeHSEP))
	assert.Equal(t, "0x99", TypeName(0x99))
}

// The progress line counts in English: "1 servent online", "2 servents".
func TestSampleLine(t *testing.T) {
	stats, err := p2pstats.NewCollector(p2pstats.Run{Nodes: 1}, time.Minute, time.Second)
	require.NoError(t, err)
	r := &Run{Timeline: timeline(t), Stats: stats, End: time.Minute}
	r.Joined()
	line, ok := r.Sample(time.Minute, time.Second, "servent", "servents")
	require.True(t, ok, "a line once a minute")
	assert.Equal(t, "1m0s of 1m0s: 1 servent online, 0 queries issued, 0 answered", line)
	r.Joined()
	line, _ = r.Sample(2*time.Minute, time.Second, "servent", "servents")
	assert.Contains(t, line, ": 2 servents online, ")
}

// LinkFailure takes a refusal from the error's fields, not its text: a
// reason holding ": " stays whole.
func TestLinkFailureReadsRefusal(t *testing.T) {
	err := fmt.Errorf("connect: %w", &wire.RefusedError{Addr: "127.0.0.1:6346", Code: 503, Reason: "Busy: try 10.0.0.1:6346"})
	assert.Equal(t, "503 Busy: try 10.0.0.1:6346", LinkFailure(err))
	assert.Equal(t, "connection refused", LinkFailure(fmt.Errorf("dial tcp 127.0.0.1:1: connect: %w", syscall.ECONNREFUSED)))
}
