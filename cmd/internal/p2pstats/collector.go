package p2pstats

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/govent/govent/wire"
)

// GUID identifies a query: the descriptor ID of its Query, which its
// QueryHits carry back. It is wire's GUID, not a copy of it.
type GUID = wire.GUID

// Message types as the results name them. A caller may report others;
// they are listed after these, by name.
const (
	Ping     = "ping"
	Pong     = "pong"
	Query    = "query"
	QueryHit = "queryhit"
	Push     = "push"
	Bye      = "bye"
	QRP      = "qrp"
	Vendor   = "vendor"
)

var typeOrder = []string{Ping, Pong, Query, QueryHit, Push, Bye, QRP, Vendor}

// MaxIntervals bounds the time series: a run of a day in 1 s intervals.
const MaxIntervals = 86400

// MaxPending bounds the queries the collector has heard of but not seen
// issued (see Sent); past it the oldest are forgotten.
const MaxPending = 1 << 16

// Collector gathers a run's events; its methods are safe to call from
// many goroutines. Times are offsets from the start of the run (virtual
// or real, as the run's clock is). Events before 0 count in the first
// interval of the series, events at or past the run's end in the last;
// both count in the totals.
type Collector struct {
	mu       sync.Mutex
	run      Run
	interval time.Duration
	series   []Sample
	queries  map[GUID]*queryState // issued, and pending (heard of, not yet issued)
	order    []GUID               // issue order, for stable distributions
	pending  []GUID               // pending, oldest first (some since issued)
	bytes    map[string]int64
	dropped  map[string]int64
	links    LinkFigures
	failed   map[string]int64
	heapPeak uint64
	heapLast uint64
	heapN    int
}

type queryState struct {
	isIssued   bool
	issued     time.Duration
	findable   bool
	searcher   int // the node that issued it, -1 when not said
	hits       int64
	firstHit   time.Duration
	answered   bool
	queryDescs int64
	hitDescs   int64
	paths      pathState
}

// NewCollector starts collecting for a run of the given length, with the
// time series in steps of interval.
func NewCollector(run Run, duration, interval time.Duration) (*Collector, error) {
	if duration <= 0 || interval <= 0 {
		return nil, errors.New("duration and interval must be positive")
	}
	n := (duration + interval - 1) / interval
	if n > MaxIntervals {
		return nil, fmt.Errorf("%v in steps of %v is %d intervals, over %d", duration, interval, n, MaxIntervals)
	}
	run.DurationS = duration.Seconds()
	run.IntervalS = interval.Seconds()
	c := &Collector{
		run: run, interval: interval, series: make([]Sample, n),
		queries: map[GUID]*queryState{}, bytes: map[string]int64{}, dropped: map[string]int64{},
		failed: map[string]int64{},
	}
	for i := range c.series {
		c.series[i] = Sample{T: (time.Duration(i) * interval).Seconds(), Bytes: map[string]int64{}}
	}
	return c, nil
}

func (c *Collector) at(t time.Duration) *Sample {
	i := min(max(int(t/c.interval), 0), len(c.series)-1)
	return &c.series[i]
}

// QueryIssued records a user's query. findable: a servent online at that
// moment shares a matching file (p2pmodel's Timeline.Findable). A GUID
// issued twice counts once.
func (c *Collector) QueryIssued(id GUID, at time.Duration, findable bool) {
	c.QueryIssuedBy(-1, id, at, findable)
}

// QueryIssuedBy is QueryIssued naming the node that issued the query, for
// the reverse-path check (HitDelivered).
func (c *Collector) QueryIssuedBy(node int, id GUID, at time.Duration, findable bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queries[id]
	if q != nil && q.isIssued {
		return
	}
	if q == nil {
		q = &queryState{}
		c.queries[id] = q
	}
	q.isIssued, q.issued, q.findable, q.searcher = true, at, findable, node
	c.order = append(c.order, id)
	c.at(at).QueriesIssued++
}

// stateLocked returns query id's state, issued or pending, making a
// pending one when the collector has not heard of it yet: a servent may
// send a Query (and others forward it and answer) before the caller that
// searched learns its GUID and calls QueryIssued.
func (c *Collector) stateLocked(id GUID) *queryState {
	if q := c.queries[id]; q != nil {
		return q
	}
	for len(c.pending) >= MaxPending {
		old := c.pending[0]
		c.pending = c.pending[1:]
		if q := c.queries[old]; q != nil && !q.isIssued {
			delete(c.queries, old)
		}
	}
	q := &queryState{searcher: -1}
	c.queries[id] = q
	c.pending = append(c.pending, id)
	return q
}

// HitReceived records a QueryHit with results hits reaching the servent
// that issued query id. Hits for queries not issued in this run are not
// the users' and are ignored.
func (c *Collector) HitReceived(id GUID, at time.Duration, results int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q, ok := c.queries[id]
	if !ok || !q.isIssued {
		return
	}
	q.hits += int64(results)
	s := c.at(at)
	s.Hits += int64(results)
	if !q.answered && results > 0 {
		q.answered, q.firstHit = true, at
		s.QueriesAnswered++
	}
}

// Sent records one descriptor of a message type sent on one link, bytes
// long on the wire (header included). For Query and QueryHit descriptors,
// id attributes it to a query, issued already or later: descriptors of
// queries that are never issued (other users', in govent workload) count
// in the traffic but not per query. Other types ignore id.
func (c *Collector) Sent(at time.Duration, msgType string, bytes int, id GUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bytes[msgType] += int64(bytes)
	s := c.at(at)
	s.Bytes[msgType] += int64(bytes)
	s.Descriptors++
	switch msgType {
	case Query:
		c.stateLocked(id).queryDescs++
	case QueryHit:
		c.stateLocked(id).hitDescs++
	}
}

// QueryArrived records that node took the first copy of Query id from
// the neighbour from: the reverse path its QueryHits must follow.
func (c *Collector) QueryArrived(node int, id GUID, from netip.AddrPort) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stateLocked(id).paths.arrived(node, from)
}

// HitForwarded records that node forwarded a QueryHit for query id to
// the neighbour to. It is on the reverse path when the Query came to node
// from there.
func (c *Collector) HitForwarded(node int, id GUID, to netip.AddrPort) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stateLocked(id).paths.forwarded(node, to)
}

// HitDelivered records that node took a QueryHit for query id as its own.
// It is on the reverse path when node issued the query.
func (c *Collector) HitDelivered(node int, id GUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stateLocked(id).paths.delivered(node)
}

// Dropped records a connection closed for reason ("bye 502", "timeout",
// "churn", ...).
func (c *Collector) Dropped(at time.Duration, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropped[reason]++
	c.at(at).Dropped++
}

// Linked records a session that linked to the servent it dials (govent
// workload's target) for the first time.
func (c *Collector) Linked() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.links.Linked++
}

// LinkFailed records a dial of that servent that failed for reason (its
// refusal, "503 Full", or the dial's error, "connection refused").
func (c *Collector) LinkFailed(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed[reason]++
}

// Unlinked records a query not issued: its session had no link.
func (c *Collector) Unlinked() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.links.QueriesUnlinked++
}

// Online records how many servents are online.
func (c *Collector) Online(at time.Duration, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at(at).Online = n
}

// Memory records a sample of the servents' heap in use.
func (c *Collector) Memory(at time.Duration, heapBytes uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.at(at)
	s.HeapBytes = max(s.HeapBytes, heapBytes)
	c.heapPeak = max(c.heapPeak, heapBytes)
	c.heapLast = heapBytes
	c.heapN++
}

// Results computes the figures of everything recorded so far.
func (c *Collector) Results() *Results {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &Results{Run: c.run}
	nodes := float64(c.run.Nodes)

	var ttfh, hits, descs []float64
	var qDescs, hDescs int64
	qf := &r.Queries
	for _, id := range c.order {
		q := c.queries[id]
		q.paths.addTo(&r.ReversePath, q.searcher)
		qf.Issued++
		qf.Hits += q.hits
		if q.answered {
			qf.Answered++
			ttfh = append(ttfh, (q.firstHit - q.issued).Seconds())
		}
		if q.findable {
			qf.Findable++
			if q.answered {
				qf.FindableAnswered++
			}
		}
		hits = append(hits, float64(q.hits))
		descs = append(descs, float64(q.queryDescs+q.hitDescs))
		qDescs += q.queryDescs
		hDescs += q.hitDescs
	}
	issued := float64(qf.Issued)
	qf.SuccessRate = ratio(float64(qf.FindableAnswered), float64(qf.Findable))
	qf.HitsPerQuery = ratio(float64(qf.Hits), issued)

	d := &r.Descriptors
	d.Mean = ratio(float64(qDescs+hDescs), issued)
	if d.Mean != nil {
		d.PerNode = ratio(*d.Mean, nodes)
	}
	d.Query = ratio(float64(qDescs), issued)
	d.QueryHit = ratio(float64(hDescs), issued)
	d.Spread = PercentilesOf(descs)

	r.TimeToFirstHit = PercentilesOf(ttfh)
	seconds := c.run.DurationS
	for _, t := range sortedTypes(c.bytes) {
		rate := 0.0
		if nodes > 0 {
			rate = float64(c.bytes[t]) / nodes / seconds
		}
		r.Bandwidth = append(r.Bandwidth, TypeRate{Type: t, Rate: rate})
	}
	for _, reason := range slices.Sorted(maps.Keys(c.dropped)) {
		r.Dropped = append(r.Dropped, Count{Reason: reason, N: c.dropped[reason]})
	}
	r.Links = LinkFigures{Linked: c.links.Linked, QueriesUnlinked: c.links.QueriesUnlinked}
	for _, reason := range slices.Sorted(maps.Keys(c.failed)) {
		r.Links.Failed = append(r.Links.Failed, Count{Reason: reason, N: c.failed[reason]})
	}
	r.Memory = MemoryFigures{PeakBytes: c.heapPeak, FinalBytes: c.heapLast, SamplesTaken: c.heapN}
	if c.heapN > 0 {
		r.Memory.PeakPerNode = ratio(float64(c.heapPeak), nodes)
	}
	r.Series = make([]Sample, len(c.series))
	for i, s := range c.series {
		s.Bytes = maps.Clone(s.Bytes)
		r.Series[i] = s
	}
	slices.Sort(ttfh)
	slices.Sort(hits)
	slices.Sort(descs)
	r.Distributions = Distributions{TimeToFirstHitS: nonNil(ttfh), HitsPerQuery: nonNil(hits), DescriptorsPerQuery: nonNil(descs)}
	return r
}

// nonNil keeps an empty distribution a JSON [] rather than null.
func nonNil(v []float64) []float64 {
	if v == nil {
		return []float64{}
	}
	return v
}

// sortedTypes lists message types: the known ones in protocol order,
// then the rest by name.
func sortedTypes(m map[string]int64) []string {
	types := slices.Collect(maps.Keys(m))
	rank := func(t string) int {
		if i := slices.Index(typeOrder, t); i >= 0 {
			return i
		}
		return len(typeOrder)
	}
	slices.SortFunc(types, func(a, b string) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b))
	})
	return types
}
