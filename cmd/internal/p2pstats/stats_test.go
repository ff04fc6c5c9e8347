package p2pstats

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercentileIsExactNearestRank(t *testing.T) {
	seq := func(n int) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = float64(i + 1)
		}
		return s
	}
	cases := []struct {
		name          string
		values        []float64
		p50, p95, p99 float64
	}{
		{"one value", []float64{7}, 7, 7, 7},
		{"ten values", seq(10), 5, 10, 10},
		{"a hundred values", seq(100), 50, 95, 99},
		{"a thousand values", seq(1000), 500, 950, 990},
		{"twenty values", seq(20), 10, 19, 20},
		{"unsorted with ties", []float64{3, 1, 2, 2, 9, 2}, 2, 9, 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := PercentilesOf(c.values)
			assert.Equal(t, Percentiles{N: len(c.values), P50: c.p50, P95: c.p95, P99: c.p99, Max: slices.Max(c.values)}, p)
		})
	}
	assert.Equal(t, Percentiles{}, PercentilesOf(nil))

	// Against the definition: the smallest value v with at least p% of
	// the values <= v.
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		vals := make([]float64, 1+r.IntN(300))
		for i := range vals {
			vals[i] = float64(r.IntN(50))
		}
		sorted := slices.Sorted(slices.Values(vals))
		for _, pm := range []int{1, 500, 950, 990, 1000} {
			var want float64
			for _, v := range sorted {
				le := 0
				for _, x := range sorted {
					if x <= v {
						le++
					}
				}
				if le*1000 >= pm*len(sorted) {
					want = v
					break
				}
			}
			require.Equal(t, want, Percentile(sorted, pm), "n=%d p=%d", len(sorted), pm)
		}
	}
}

func guid(b byte) GUID { return GUID{b} }

// scripted is a run of 4 nodes for 10 s in 5 s intervals: three queries,
// two answered (one of them findable), one findable and unanswered.
func scripted(t *testing.T) *Results {
	c, err := NewCollector(Run{Label: "flood", Nodes: 4, Clock: "virtual"}, 10*time.Second, 5*time.Second)
	require.NoError(t, err)
	s := time.Second
	c.Online(0, 4)
	c.QueryIssued(guid(1), 1*s, true)
	c.QueryIssued(guid(2), 2*s, false)
	c.QueryIssued(guid(3), 6*s, true)
	c.QueryIssued(guid(3), 7*s, true) // a repeat counts once
	// Query 1 crosses 3 links and gets 2 QueryHits back over 2 links each.
	for range 3 {
		c.Sent(1*s, Query, 100, guid(1))
	}
	for range 4 {
		c.Sent(2*s, QueryHit, 250, guid(1))
	}
	c.HitReceived(guid(1), 1500*time.Millisecond, 3)
	c.HitReceived(guid(1), 4*s, 2)
	// Query 2 is answered though no file was online for it (a stale hit).
	c.Sent(2*s, Query, 100, guid(2))
	c.Sent(3*s, QueryHit, 200, guid(2))
	c.HitReceived(guid(2), 5*s, 1)
	// Query 3 crosses 1 link, no answer. A hit for a foreign GUID is ignored.
	c.Sent(6*s, Query, 100, guid(3))
	c.HitReceived(guid(9), 6*s, 5)
	c.Sent(8*s, Ping, 23, GUID{})
	c.Sent(8*s, Pong, 37, GUID{})
	c.Sent(8*s, "x-unknown", 40, GUID{})
	c.Dropped(9*s, "bye 502")
	c.Dropped(9*s, "churn")
	c.Dropped(12*s, "churn") // past the end: the last interval
	c.Online(9*s, 3)
	c.Memory(1*s, 1000)
	c.Memory(9*s, 4000)
	c.Memory(9500*time.Millisecond, 3000)
	return c.Results()
}

func TestCollectorFigures(t *testing.T) {
	r := scripted(t)
	q := r.Queries
	assert.Equal(t, int64(3), q.Issued)
	assert.Equal(t, int64(2), q.Answered)
	assert.Equal(t, int64(2), q.Findable)
	assert.Equal(t, int64(1), q.FindableAnswered)
	assert.Equal(t, 0.5, *q.SuccessRate, "1 of the 2 findable queries answered")
	assert.Equal(t, int64(6), q.Hits)
	assert.Equal(t, 2.0, *q.HitsPerQuery)

	d := r.Descriptors
	assert.Equal(t, 10.0/3, *d.Mean, "(3+4) + (1+1) + 1 descriptors over 3 queries")
	assert.Equal(t, 10.0/3/4, *d.PerNode)
	assert.Equal(t, 5.0/3, *d.Query)
	assert.Equal(t, 5.0/3, *d.QueryHit)
	assert.Equal(t, Percentiles{N: 3, P50: 2, P95: 7, P99: 7, Max: 7}, d.Spread)

	assert.Equal(t, Percentiles{N: 2, P50: 0.5, P95: 3, P99: 3, Max: 3}, r.TimeToFirstHit, "0.5 s and 3 s")
	// Bytes over 4 nodes and 10 s, known types in protocol order.
	assert.Equal(t, []TypeRate{
		{Ping, 23.0 / 40}, {Pong, 37.0 / 40}, {Query, 500.0 / 40}, {QueryHit, 1200.0 / 40}, {"x-unknown", 1},
	}, r.Bandwidth)
	assert.Equal(t, []Count{{"bye 502", 1}, {"churn", 2}}, r.Dropped)
	assert.Equal(t, uint64(4000), r.Memory.PeakBytes)
	assert.Equal(t, uint64(3000), r.Memory.FinalBytes)
	assert.Equal(t, 1000.0, *r.Memory.PeakPerNode)

	require.Len(t, r.Series, 2)
	a, b := r.Series[0], r.Series[1]
	assert.Equal(t, []float64{0, 5}, []float64{a.T, b.T})
	assert.Equal(t, []int64{2, 1}, []int64{a.QueriesIssued, b.QueriesIssued})
	assert.Equal(t, []int64{1, 1}, []int64{a.QueriesAnswered, b.QueriesAnswered})
	assert.Equal(t, []int64{5, 1}, []int64{a.Hits, b.Hits})
	assert.Equal(t, []int64{9, 4}, []int64{a.Descriptors, b.Descriptors})
	assert.Equal(t, map[string]int64{Query: 400, QueryHit: 1200}, a.Bytes)
	assert.Equal(t, []int64{0, 3}, []int64{a.Dropped, b.Dropped})
	assert.Equal(t, []int{4, 3}, []int{a.Online, b.Online})
	assert.Equal(t, []uint64{1000, 4000}, []uint64{a.HeapBytes, b.HeapBytes})

	assert.Equal(t, []float64{0.5, 3}, r.Distributions.TimeToFirstHitS)
	assert.Equal(t, []float64{0, 1, 5}, r.Distributions.HitsPerQuery)
	assert.Equal(t, []float64{1, 2, 7}, r.Distributions.DescriptorsPerQuery)
}

func TestResultsJSON(t *testing.T) {
	c, err := NewCollector(Run{Label: "empty", Nodes: 0}, time.Second, time.Second)
	require.NoError(t, err)
	b, err := json.Marshal(c.Results())
	require.NoError(t, err, "no NaN or Inf when nothing happened")
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	q := m["queries"].(map[string]any)
	assert.Nil(t, q["success_rate"], "no findable query: null, not 0")
	assert.Equal(t, []any{}, m["distributions"].(map[string]any)["hits_per_query"])

	b, err = json.Marshal(scripted(t))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &m))
	for _, key := range []string{"run", "queries", "descriptors_per_query", "bytes_per_node_per_second",
		"time_to_first_hit_s", "connections_dropped", "memory", "series", "distributions"} {
		assert.Contains(t, m, key)
	}
	assert.Equal(t, 0.5, m["queries"].(map[string]any)["success_rate"])
	assert.Equal(t, 10.0, m["run"].(map[string]any)["duration_s"])
	var back Results
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, scripted(t), &back, "the JSON reads back into the same figures")
}

func TestCollectorBounds(t *testing.T) {
	_, err := NewCollector(Run{}, 48*time.Hour, time.Second)
	assert.ErrorContains(t, err, "intervals")
	_, err = NewCollector(Run{}, 0, time.Second)
	assert.Error(t, err)
}

func TestCollectorIsSafeForConcurrentUse(t *testing.T) {
	c, err := NewCollector(Run{Nodes: 8}, time.Minute, time.Second)
	require.NoError(t, err)
	done := make(chan struct{})
	for w := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				id := GUID{byte(w), byte(i), byte(i >> 8)}
				at := time.Duration(i) * 100 * time.Millisecond
				c.QueryIssued(id, at, true)
				c.Sent(at, Query, 50, id)
				c.HitReceived(id, at+time.Second, 1)
			}
		}()
	}
	for range 8 {
		<-done
	}
	r := c.Results()
	assert.Equal(t, int64(4000), r.Queries.Issued)
	assert.Equal(t, int64(4000), r.Queries.FindableAnswered)
	assert.Equal(t, 1.0, *r.Descriptors.Mean)
	assert.Equal(t, Percentiles{N: 4000, P50: 1, P95: 1, P99: 1, Max: 1}, r.TimeToFirstHit)
}

// TestReversePathCheck: forwards count as on the path only towards the
// neighbour the node took the Query from, deliveries only at the
// searcher; events that come before QueryIssued (the servent sends before
// Search returns) count, and a query never issued counts nowhere.
func TestReversePathCheck(t *testing.T) {
	c, err := NewCollector(Run{Nodes: 4}, time.Minute, time.Second)
	require.NoError(t, err)
	a, b, x := netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:1"), netip.MustParseAddrPort("10.0.0.9:1")
	// Query 1, issued by node 0: arrives at 1 from a, then at 1 from b
	// (a duplicate: the first copy sets the route), and at 2 from b.
	c.Sent(0, Query, 50, guid(1))
	c.QueryArrived(1, guid(1), a)
	c.QueryIssuedBy(0, guid(1), 0, true)
	c.QueryArrived(1, guid(1), b)
	c.QueryArrived(2, guid(1), b)
	c.HitForwarded(1, guid(1), a) // on the path
	c.HitForwarded(2, guid(1), b) // on the path
	c.HitForwarded(1, guid(1), b) // off: node 1 had it from a
	c.HitForwarded(3, guid(1), a) // off: node 3 never saw the Query
	c.HitDelivered(0, guid(1))    // the searcher
	c.HitDelivered(0, guid(1))    // again
	c.HitDelivered(2, guid(1))    // elsewhere
	// Query 2 is clean; its hit is delivered before it is issued.
	c.QueryArrived(5, guid(2), a)
	c.HitForwarded(5, guid(2), a)
	c.HitDelivered(4, guid(2))
	c.QueryIssuedBy(4, guid(2), time.Second, true)
	// Query 3 is someone else's: never issued.
	c.Sent(0, Query, 50, guid(3))
	c.QueryArrived(1, guid(3), a)
	c.HitForwarded(1, guid(3), x)
	c.HitDelivered(1, guid(3))

	r := c.Results()
	assert.Equal(t, ReversePathFigures{Forwarded: 5, OffPath: 2, Delivered: 3, DeliveredElsewhere: 1, QueriesOffPath: 1}, r.ReversePath)
	assert.Equal(t, int64(2), r.Queries.Issued)
	assert.Equal(t, 0.5, *r.Descriptors.Query, "query 1's descriptor, sent before it was issued, counts; query 3's does not")
	assert.Equal(t, []TypeRate{{Query, 100.0 / 4 / 60}}, r.Bandwidth, "both count as traffic")
}

func TestPendingQueriesAreBounded(t *testing.T) {
	c, err := NewCollector(Run{Nodes: 1}, time.Minute, time.Second)
	require.NoError(t, err)
	for i := range MaxPending + 10 {
		c.Sent(0, Query, 50, GUID{byte(i), byte(i >> 8), byte(i >> 16), 1})
	}
	c.mu.Lock()
	n := len(c.queries)
	c.mu.Unlock()
	assert.Equal(t, MaxPending, n, "the oldest foreign queries are forgotten")
	// The newest is still there and counts once issued.
	last := MaxPending + 9
	id := GUID{byte(last), byte(last >> 8), byte(last >> 16), 1}
	c.QueryIssued(id, 0, false)
	assert.Equal(t, 1.0, *c.Results().Descriptors.Query)
}
