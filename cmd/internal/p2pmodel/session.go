package p2pmodel

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Role is a servent's place in the overlay.
type Role uint8

const (
	Leaf Role = iota
	Ultrapeer
)

func (r Role) String() string {
	if r == Ultrapeer {
		return "ultrapeer"
	}
	return "leaf"
}

// Class is a session's class in [K]'s sense, plus the short connections
// that [K] cut from its fits.
type Class uint8

const (
	Passive Class = iota // issues no queries
	Active               // issues at least one
	Short                // a connection under 64 s, no queries
)

func (c Class) String() string {
	return [...]string{"passive", "active", "short"}[c]
}

// Session is one servent's time online: when it joins and leaves, what
// its user searches for and when, and the files it shares.
type Session struct {
	ID      int
	Role    Role
	Class   Class
	Join    time.Duration // before 0: already online when the run starts
	Leave   time.Duration // may lie past the run's end
	Queries []Query       // in time order; times outside the run are the model's, skip them
	Files   []int         // catalog ranks, increasing
}

// Query is one query a session's user issues.
type Query struct {
	At   time.Duration
	Rank int // query popularity rank; its keyword set is Keywords(Rank)
}

// Keywords is the query's keyword set.
func (q Query) Keywords() []string { return Keywords(q.Rank) }

// Params is what one generated run looks like.
type Params struct {
	Nodes      int           // mean number of servents online (--nodes)
	Ultrapeers float64       // share of them that are ultrapeers (--ultrapeers)
	Duration   time.Duration // run length
	Seed       uint64
	Workload   *Workload
	Churn      *Churn // nil: no churn (--churn none)
}

// Bounds on one timeline, which is built in memory from a model file:
// without them a model with millisecond sessions or a geometric mean of
// 1e12 queries would allocate until the process dies.
const (
	MaxNodes    = 1 << 20 // Params.Nodes
	MaxSessions = 1 << 22 // sessions drawn, the warm-up included
	// MaxSessionQueries caps the queries of one active session; no model
	// built from the sources comes near it.
	MaxSessionQueries = 1 << 16
	// minMeanLength is the shortest mean session (seconds) Generate accepts.
	minMeanLength = 1.0
)

// ErrTooLarge is returned when a run would exceed MaxSessions.
var ErrTooLarge = errors.New("run too large")

// Timeline is a generated run: every session that is online at some time
// in [0, Duration), sorted by Join, and the catalog their files come from.
type Timeline struct {
	Duration time.Duration
	Sessions []Session
	Catalog  *Catalog
	Warmup   time.Duration // how far before 0 the arrival process started
	holders  map[int][]int // file rank -> indexes into Sessions
}

// The random streams of one seed, kept apart so that a change in one part
// of the model does not reshuffle the others.
const (
	streamCatalog  = 1
	streamSessions = 2
)

// warmupMeans is how many mean session lengths the arrival process runs
// before time 0, so the population at 0 is close to the steady state of
// the model (exponential lifetimes: e^-10 of the mass is older).
const warmupMeans = 10

// Generate builds a run's timeline from WORKLOAD-MODEL.md section 6:
//
//   - With churn, ultrapeers and leaves arrive as Poisson processes whose
//     rates (Little's law) hold on average p.Nodes servents online, a share
//     p.Ultrapeers of them ultrapeers. A leaf's session is one workload
//     session (steps 2-5): passive, with a drawn duration and no queries,
//     or active, whose length is the sum of the time to the first query,
//     n-1 gaps and the time after the last. An ultrapeer stays for the
//     churn model's lifetime while its user's workload sessions follow one
//     another. Short connections (step 7) arrive in the churn model's
//     share of all connections and issue no queries.
//   - Without churn, p.Nodes servents are online for the whole run, and
//     each user's workload sessions follow one another over it, so the
//     query load is that of the churned run.
//
// Every query draws its rank from the query popularity (step 6), and every
// session draws its files from the content model (step 8). Steps 1's
// hourly and regional mix is not modelled (not found in the sources).
func Generate(p Params) (*Timeline, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	g := &generator{
		p:   p,
		w:   p.Workload,
		r:   rand.New(rand.NewPCG(p.Seed, streamSessions)),
		cat: NewCatalog(&p.Workload.Content, p.Seed),
	}
	leafMean := p.Workload.Session.MeanLength()
	upMean := leafMean
	if p.Churn != nil {
		upMean = p.Churn.UltrapeerLifetime.Mean()
	}
	if !(min(leafMean, upMean) >= minMeanLength) {
		return nil, fmt.Errorf("mean session length %gs (ultrapeers %gs) is under %gs", leafMean, upMean, minMeanLength)
	}
	g.warmup = seconds(warmupMeans * max(leafMean, upMean))
	if n := g.expectedDraws(leafMean, upMean); n > MaxSessions {
		return nil, fmt.Errorf("%w: about %.0f sessions to draw, over %d (nodes %d, duration %v, warm-up %v)", ErrTooLarge, n, MaxSessions, p.Nodes, p.Duration, g.warmup)
	}
	if p.Churn == nil {
		g.steady()
	} else {
		g.churned(leafMean, upMean)
	}
	if g.drawn > MaxSessions { // a heavy tail can exceed the expectation
		return nil, fmt.Errorf("%w: more than %d sessions (nodes %d, duration %v, warm-up %v)", ErrTooLarge, MaxSessions, p.Nodes, p.Duration, g.warmup)
	}
	slices.SortStableFunc(g.out, func(a, b Session) int { return cmp.Compare(a.Join, b.Join) })
	t := &Timeline{Duration: p.Duration, Sessions: g.out, Catalog: g.cat, Warmup: g.warmup, holders: map[int][]int{}}
	for i := range t.Sessions {
		t.Sessions[i].ID = i
		for _, f := range t.Sessions[i].Files {
			t.holders[f] = append(t.holders[f], i)
		}
	}
	return t, nil
}

func (p *Params) check() error {
	switch {
	case p.Nodes < 1 || p.Nodes > MaxNodes:
		return fmt.Errorf("nodes must be in 1..%d, got %d", MaxNodes, p.Nodes)
	case !(p.Ultrapeers >= 0 && p.Ultrapeers <= 1):
		return fmt.Errorf("ultrapeer share must be in [0, 1], got %v", p.Ultrapeers)
	case p.Duration <= 0:
		return fmt.Errorf("duration must be positive, got %v", p.Duration)
	case p.Workload == nil:
		return errors.New("no workload model")
	}
	return nil
}

type generator struct {
	p      Params
	w      *Workload
	r      *rand.Rand
	cat    *Catalog
	warmup time.Duration
	out    []Session
	drawn  int // sessions drawn so far, user sessions inside activity included
}

// expectedDraws is how many sessions Generate will draw on average, so a
// run too large for memory is refused before it starts.
func (g *generator) expectedDraws(leafMean, upMean float64) float64 {
	span := (g.warmup + g.p.Duration).Seconds()
	n := float64(g.p.Nodes)
	if g.p.Churn == nil {
		return n * span / leafMean
	}
	leafRate, upRate, shortRate := g.rates(leafMean, upMean)
	// Each ultrapeer's user sessions start a warm-up before it does.
	perUp := (g.warmup.Seconds() + upMean) / leafMean
	return span * (leafRate + shortRate + upRate*(1+perUp))
}

// rates are the Poisson arrival rates (per second) that hold Nodes online
// on average (Little's law), and the short connections' share of arrivals.
func (g *generator) rates(leafMean, upMean float64) (leaf, up, short float64) {
	n := float64(g.p.Nodes)
	leaf = n * (1 - g.p.Ultrapeers) / leafMean
	up = n * g.p.Ultrapeers / upMean
	share := g.p.Churn.ShortShare
	return leaf, up, (leaf + up) * share / (1 - share)
}

// steady is the run without churn.
func (g *generator) steady() {
	ups := int(math.Round(float64(g.p.Nodes) * g.p.Ultrapeers))
	for i := range g.p.Nodes {
		role := Leaf
		if i < ups {
			role = Ultrapeer
		}
		g.emit(Session{Role: role, Join: 0, Leave: g.p.Duration, Queries: g.activity(0, g.p.Duration)})
	}
}

// churned is the run with churn: three Poisson arrival processes from
// -warmup to the end of the run.
func (g *generator) churned(leafMean, upMean float64) {
	leafRate, upRate, shortRate := g.rates(leafMean, upMean)

	g.arrivals(leafRate, func(join time.Duration) Session {
		class, length, queries := g.userSession()
		for i := range queries {
			queries[i].At += join
		}
		return Session{Role: Leaf, Class: class, Join: join, Leave: join + length, Queries: queries}
	})
	g.arrivals(upRate, func(join time.Duration) Session {
		leave := join + seconds(g.p.Churn.UltrapeerLifetime.Sample(g.r))
		return Session{Role: Ultrapeer, Join: join, Leave: leave, Queries: g.activity(join, leave)}
	})
	if shortRate > 0 {
		g.arrivals(shortRate, func(join time.Duration) Session {
			return Session{Role: Leaf, Class: Short, Join: join, Leave: join + seconds(g.p.Churn.ShortDuration.Sample(g.r))}
		})
	}
}

// arrivals runs one Poisson process of the given rate (per second) from
// -warmup to the end of the run, keeping the sessions that overlap it.
func (g *generator) arrivals(rate float64, session func(join time.Duration) Session) {
	if !(rate > 0) {
		return
	}
	for t := -g.warmup; g.drawn <= MaxSessions; {
		t += seconds(g.r.ExpFloat64() / rate)
		if t >= g.p.Duration {
			return
		}
		g.drawn++
		s := session(t)
		if s.Leave > 0 {
			g.emit(s)
		}
	}
}

// emit adds a session with its files; a session of an ultrapeer or
// steady node is active when its user issued a query.
func (g *generator) emit(s Session) {
	if s.Class != Short && len(s.Queries) > 0 {
		s.Class = Active
	}
	s.Files = g.cat.place(g.r)
	g.out = append(g.out, s)
}

// userSession is one workload session, steps 2-6: its class, its length
// and its queries at offsets from its start.
func (g *generator) userSession() (Class, time.Duration, []Query) {
	g.drawn++
	m := &g.w.Session
	if m.Passive.Sample(g.r) == 1 {
		return Passive, seconds(m.PassiveDuration.Sample(g.r)), nil
	}
	n := int(min(m.Queries.Sample(g.r), MaxSessionQueries))
	queries := make([]Query, n)
	t := seconds(m.FirstQuery.Sample(g.r))
	for i := range queries {
		if i > 0 {
			t += seconds(m.Interarrival.Sample(g.r))
		}
		queries[i] = Query{At: t, Rank: int(g.w.Queries.Popularity.Sample(g.r))}
	}
	return Active, t + seconds(m.AfterLast.Sample(g.r)), queries
}

// activity is the queries of a user whose workload sessions follow one
// another while the servent stays online in [from, to), started warmup
// earlier so the first session is not aligned with the servent's start.
func (g *generator) activity(from, to time.Duration) []Query {
	var out []Query
	for t := from - g.warmup; t < to && g.drawn <= MaxSessions; {
		_, length, queries := g.userSession()
		for _, q := range queries {
			if at := t + q.At; at >= from && at < to {
				q.At = at
				out = append(out, q)
			}
		}
		// A zero-length session (a constant-0 model) must still move time on.
		t += max(length, time.Nanosecond)
	}
	return out
}

// seconds converts a model time in seconds, saturating rather than
// overflowing for a heavy-tailed draw.
func seconds(s float64) time.Duration {
	const limit = float64(math.MaxInt64 / 4)
	return time.Duration(min(s*float64(time.Second), limit))
}

// Online counts the sessions online at time at.
func (t *Timeline) Online(at time.Duration) int {
	n := 0
	for i := range t.Sessions {
		if t.Sessions[i].Join > at {
			break
		}
		if at < t.Sessions[i].Leave {
			n++
		}
	}
	return n
}

// Findable reports whether a session online at time at shares the file
// that query rank asks for: the denominator of the success rate.
func (t *Timeline) Findable(rank int, at time.Duration) bool { return t.FindableFor(-1, rank, at) }

// FindableFor is Findable for a query that session searcher issues: a
// servent does not answer its own query, so its own copy does not count.
func (t *Timeline) FindableFor(searcher, rank int, at time.Duration) bool {
	for _, i := range t.holders[rank] {
		if s := &t.Sessions[i]; i != searcher && s.Join <= at && at < s.Leave {
			return true
		}
	}
	return false
}
