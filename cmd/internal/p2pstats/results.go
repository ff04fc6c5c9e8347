// Package p2pstats turns what happens in a run of govent netsim or govent
// workload into the figures both report: a Collector that the run feeds
// with events (queries issued, hits, descriptors sent, the routes the
// QueryHits took, connections dropped, memory), the Results it computes
// (the --json output, with exact percentiles, a time series per interval
// and the reverse-path check), and WriteReport, a self-contained HTML page
// with SVG plots of one run or of several side by side, which CheckPage
// checks as a strict reader would.
//
// It knows nothing of servents: the caller names message types and drop
// reasons, and identifies a query by its GUID.
package p2pstats

import (
	"slices"
)

// Results is one run's figures, as --json writes them. Times are in
// seconds. A ratio whose denominator is zero is null.
type Results struct {
	Run            Run                `json:"run"`
	Queries        QueryFigures       `json:"queries"`
	Descriptors    DescriptorFigures  `json:"descriptors_per_query"`
	Bandwidth      []TypeRate         `json:"bytes_per_node_per_second"`
	TimeToFirstHit Percentiles        `json:"time_to_first_hit_s"`
	Dropped        []Count            `json:"connections_dropped"`
	Links          LinkFigures        `json:"links"`
	ReversePath    ReversePathFigures `json:"reverse_path"`
	Memory         MemoryFigures      `json:"memory"`
	Series         []Sample           `json:"series"`
	Distributions  Distributions      `json:"distributions"`
}

// LinkFigures is how the sessions' links to govent workload's target
// went (zero for netsim).
type LinkFigures struct {
	Linked          int64   `json:"linked"`           // sessions that linked at least once
	Failed          []Count `json:"failed"`           // dials that did not link, by reason
	QueriesUnlinked int64   `json:"queries_unlinked"` // not issued: their session had no link
}

// Run says what ran.
type Run struct {
	Label     string  `json:"label"` // "flood", "qrp+dq", ...
	Nodes     int     `json:"nodes"`
	Seed      uint64  `json:"seed"`
	DurationS float64 `json:"duration_s"`
	IntervalS float64 `json:"interval_s"`
	Clock     string  `json:"clock"` // "virtual" or "real"
	Churn     string  `json:"churn_model"`
	Workload  string  `json:"workload_model"`
	// Set by the tool, beside the figures:
	Topology string  `json:"topology,omitempty"` // netsim's ultrapeer overlay
	Target   string  `json:"target,omitempty"`   // workload's servent under load
	RealS    float64 `json:"real_s"`             // the real time the run took
}

// QueryFigures counts the queries the users issued and what came back.
type QueryFigures struct {
	Issued   int64 `json:"issued"`
	Answered int64 `json:"answered"` // at least one hit
	// Findable queries had a matching file on a servent online when
	// they were issued; FindableAnswered of them got a hit.
	Findable         int64    `json:"findable"`
	FindableAnswered int64    `json:"findable_answered"`
	SuccessRate      *float64 `json:"success_rate"` // FindableAnswered / Findable
	Hits             int64    `json:"hits"`         // results, summed over QueryHits
	HitsPerQuery     *float64 `json:"hits_per_query"`
}

// DescriptorFigures is the traffic one query caused: its Query
// descriptors on every link they crossed, and the QueryHits answering it.
type DescriptorFigures struct {
	Mean     *float64    `json:"mean"`     // per issued query, network-wide
	PerNode  *float64    `json:"per_node"` // Mean / nodes
	Query    *float64    `json:"query"`    // the Query part of Mean
	QueryHit *float64    `json:"queryhit"` // the QueryHit part
	Spread   Percentiles `json:"spread"`   // over queries, of the per-query total
}

// TypeRate is the bytes per node per second of one message type.
type TypeRate struct {
	Type string  `json:"type"`
	Rate float64 `json:"rate"`
}

// Count is a number of events of one kind.
type Count struct {
	Reason string `json:"reason"`
	N      int64  `json:"n"`
}

// MemoryFigures is the memory the servents used, as sampled.
type MemoryFigures struct {
	PeakBytes    uint64   `json:"peak_bytes"`
	FinalBytes   uint64   `json:"final_bytes"`
	PeakPerNode  *float64 `json:"peak_per_node_bytes"`
	SamplesTaken int      `json:"samples"`
	// MaxRSSBytes is the whole process's peak resident memory as the
	// operating system counts it (the tool's own included), set by the
	// tool when it knows it; 0 otherwise.
	MaxRSSBytes uint64 `json:"max_rss_bytes"`
}

// ReversePathFigures check that the users' QueryHits went back the way
// their Queries came: each servent that forwarded one sent it to the
// neighbour it had the Query from, and only the servent that issued the
// query took one as its own.
type ReversePathFigures struct {
	Forwarded          int64 `json:"forwarded"`           // QueryHits forwarded, counted at each servent
	OffPath            int64 `json:"off_path"`            // forwarded to a neighbour the Query had not come from
	Delivered          int64 `json:"delivered"`           // QueryHits the searcher took
	DeliveredElsewhere int64 `json:"delivered_elsewhere"` // taken by a servent that did not issue the query
	QueriesOffPath     int64 `json:"queries_off_path"`    // queries with either of those
	Unchecked          int64 `json:"unchecked"`           // forwards past MaxPathNodes, not checked
}

// Percentiles are exact nearest-rank percentiles of N values: the p-th is
// the smallest value that at least p% of the values do not exceed. Zero
// when N is 0.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Sample is one interval of the time series, starting at T.
type Sample struct {
	T               float64          `json:"t_s"`
	Online          int              `json:"online"` // the last count reported in the interval
	QueriesIssued   int64            `json:"queries_issued"`
	QueriesAnswered int64            `json:"queries_answered"` // first hits in the interval
	Hits            int64            `json:"hits"`
	Descriptors     int64            `json:"descriptors"`
	Bytes           map[string]int64 `json:"bytes"` // by message type
	Dropped         int64            `json:"dropped"`
	HeapBytes       uint64           `json:"heap_bytes"` // the largest sample in the interval
}

// Distributions are the per-query values behind the percentiles, sorted,
// for the report's CDFs and histograms.
type Distributions struct {
	TimeToFirstHitS     []float64 `json:"time_to_first_hit_s"`
	HitsPerQuery        []float64 `json:"hits_per_query"`
	DescriptorsPerQuery []float64 `json:"descriptors_per_query"`
}

// Percentile is the exact nearest-rank percentile of sorted values, for
// perMille in 1..1000 (950 is p95): the value at rank ceil(n*p/1000),
// computed in integers so that p95 of 100 values is the 95th, not the
// 96th by a rounding error.
func Percentile(sorted []float64, perMille int) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	perMille = min(max(perMille, 1), 1000)
	rank := (n*perMille + 999) / 1000
	return sorted[rank-1]
}

// PercentilesOf sorts a copy of values and takes its percentiles.
func PercentilesOf(values []float64) Percentiles {
	s := slices.Sorted(slices.Values(values))
	if len(s) == 0 {
		return Percentiles{}
	}
	return Percentiles{N: len(s), P50: Percentile(s, 500), P95: Percentile(s, 950), P99: Percentile(s, 990), Max: s[len(s)-1]}
}

func ratio(num, den float64) *float64 {
	if den == 0 {
		return nil
	}
	r := num / den
	return &r
}
