package p2pmodel

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sharpWorkload has parts that cannot be mistaken for one another: the
// first query 10-20 s in, gaps of exactly 7 s, 100-200 s after the last.
const sharpWorkload = `
[session.passive]
dist = "bernoulli"
p = 0.5
[session.passive_duration]
dist = "uniform"
min = 1000
max = 2000
[session.queries]
dist = "discrete"
values = [1, 2, 3]
weights = [1, 1, 1]
[session.first_query]
dist = "uniform"
min = 10
max = 20
[session.interarrival]
dist = "constant"
value = 7
[session.after_last]
dist = "uniform"
min = 100
max = 200
[queries]
distinct = %d
exponent = 0.8
[content]
files = %d
exponent = 1.0
[content.per_node]
dist = "constant"
value = %d
[content.size]
dist = "constant"
value = 1000
`

func sharp(t *testing.T, distinct, files, perNode int) *Workload {
	t.Helper()
	w, err := ParseWorkload("sharp.toml", fmt.Appendf(nil, sharpWorkload, distinct, files, perNode))
	require.NoError(t, err)
	return w
}

func noShort() *Churn {
	c := DefaultChurn()
	c.ShortShare = 0
	return c
}

func secs(d time.Duration) float64 { return d.Seconds() }

func TestActiveSessionLengthIsTheSumOfItsParts(t *testing.T) {
	w := sharp(t, 50, 100, 1)
	tl, err := Generate(Params{Nodes: 400, Duration: 2 * time.Hour, Seed: 1, Workload: w, Churn: noShort()})
	require.NoError(t, err)
	var first, after, passiveLen []float64
	var counts [4]int
	passive, fresh := 0, 0
	for _, s := range tl.Sessions {
		require.Equal(t, Leaf, s.Role, "no ultrapeers were asked for")
		if s.Join < 0 {
			continue // length-biased: it survived the warm-up
		}
		fresh++
		switch s.Class {
		case Passive:
			passive++
			assert.Empty(t, s.Queries, "a passive session issues no queries")
			passiveLen = append(passiveLen, secs(s.Leave-s.Join))
		case Active:
			require.NotEmpty(t, s.Queries)
			require.LessOrEqual(t, len(s.Queries), 3)
			counts[len(s.Queries)]++
			first = append(first, secs(s.Queries[0].At-s.Join))
			for i := 1; i < len(s.Queries); i++ {
				assert.Equal(t, 7*time.Second, s.Queries[i].At-s.Queries[i-1].At, "gap")
			}
			after = append(after, secs(s.Leave-s.Queries[len(s.Queries)-1].At))
		default:
			t.Fatalf("class %v with no short connections in the model", s.Class)
		}
	}
	require.Greater(t, fresh, 1000)
	uniformCDF := func(lo, hi float64) func(float64) float64 {
		return func(x float64) float64 { return math.Max(0, math.Min(1, (x-lo)/(hi-lo))) }
	}
	crit := func(n int) float64 { return 1.95 / math.Sqrt(float64(n)) }
	assert.Less(t, ks(first, uniformCDF(10, 20)), crit(len(first)), "time to first query")
	assert.Less(t, ks(after, uniformCDF(100, 200)), crit(len(after)), "time after the last query")
	assert.Less(t, ks(passiveLen, uniformCDF(1000, 2000)), crit(len(passiveLen)), "passive duration")
	assert.InDelta(t, 0.5, float64(passive)/float64(fresh), 4*math.Sqrt(0.25/float64(fresh)))
	n := float64(counts[1] + counts[2] + counts[3])
	for k := 1; k <= 3; k++ {
		assert.InDelta(t, 1.0/3, float64(counts[k])/n, 4*math.Sqrt(2.0/9/n), "sessions with %d queries", k)
	}
}

func TestQueryPopularityFollowsTheRanking(t *testing.T) {
	w := sharp(t, 50, 40, 1)
	tl, err := Generate(Params{Nodes: 1500, Duration: 3 * time.Hour, Seed: 2, Workload: w})
	require.NoError(t, err)
	var ranks []float64
	for _, s := range tl.Sessions {
		for _, q := range s.Queries {
			ranks = append(ranks, float64(q.Rank))
			if q.Rank <= tl.Catalog.Len() {
				assert.Equal(t, tl.Catalog.File(q.Rank).Keywords, q.Keywords(), "rank %d asks for its file", q.Rank)
			}
		}
	}
	require.Greater(t, len(ranks), 15000)
	assert.Less(t, chi2(ranks, zipfProbs(0.8, 50, 0)), chi2Crit(49))
	assert.Greater(t, chi2(ranks, zipfProbs(0.8, 50, 1)), chi2Crit(49), "must reject ranks off by one")
	assert.Greater(t, chi2(ranks, zipfProbs(0.9, 50, 0)), chi2Crit(49), "must reject another exponent")
}

func TestKeywordsAreDistinctPerRank(t *testing.T) {
	seen := map[string]int{}
	for r := 1; r <= 6000; r++ { // past 70*70/2: words of three syllables
		for _, k := range Keywords(r) {
			require.GreaterOrEqual(t, len(k), 4, k)
			prev, dup := seen[k]
			require.False(t, dup, "word %q of rank %d is also rank %d's", k, r, prev)
			seen[k] = r
		}
	}
	c := NewCatalog(&DefaultWorkload().Content, 1)
	f := c.File(3)
	// Rank 3 is words 5 and 6: syllables (0, 5) and (0, 6) of base 70,
	// consonant index d/5 and vowel index d%5.
	assert.Equal(t, "bada bade.dat", f.Name)
	assert.Equal(t, []string{"bada", "bade"}, f.Keywords)
	assert.Equal(t, "beba", word(70), "the second syllable place")
	assert.Equal(t, "bebaba", word(70*70), "a third syllable")
}

func TestGenerateIsDeterministicForASeed(t *testing.T) {
	p := Params{Nodes: 200, Ultrapeers: 0.1, Duration: 10 * time.Minute, Seed: 7, Workload: DefaultWorkload(), Churn: DefaultChurn()}
	a, err := Generate(p)
	require.NoError(t, err)
	b, err := Generate(p)
	require.NoError(t, err)
	assert.Equal(t, a.Sessions, b.Sessions)
	p.Seed = 8
	c, err := Generate(p)
	require.NoError(t, err)
	assert.NotEqual(t, a.Sessions, c.Sessions)
}

// TestChurnHoldsTheAskedPopulation: Little's law and the warm-up keep
// about Nodes servents online from the first second, a share Ultrapeers of
// them ultrapeers, and short connections make 70% of the arrivals.
func TestChurnHoldsTheAskedPopulation(t *testing.T) {
	tl, err := Generate(Params{Nodes: 1000, Ultrapeers: 0.1, Duration: 10 * time.Minute, Seed: 3,
		Workload: DefaultWorkload(), Churn: DefaultChurn()})
	require.NoError(t, err)
	assert.Equal(t, 89400*time.Second, tl.Warmup, "10 mean ultrapeer lifetimes")
	for _, at := range []time.Duration{0, 5 * time.Minute, 10*time.Minute - 1} {
		online, ups := 0, 0
		for _, s := range tl.Sessions {
			if s.Join <= at && at < s.Leave {
				online++
				if s.Role == Ultrapeer {
					ups++
				}
			}
		}
		assert.Equal(t, online, tl.Online(at))
		// M/G/inf: Poisson(1000) plus ~13 short connections; 4 sd is 130.
		assert.InDelta(t, 1013, online, 130, "online at %v", at)
		assert.InDelta(t, 100, ups, 40, "ultrapeers at %v", at)
	}
	arrived, short := 0, 0
	for _, s := range tl.Sessions {
		if s.Join >= 0 {
			arrived++
			if s.Class == Short {
				short++
				assert.Empty(t, s.Queries)
				assert.Less(t, s.Leave-s.Join, 64*time.Second)
			}
		}
		assert.Positive(t, s.Leave, "a session that ended before the run is not in it")
		assert.Less(t, s.Join, tl.Duration)
		if s.Role == Ultrapeer {
			for _, q := range s.Queries {
				assert.True(t, q.At >= s.Join && q.At < s.Leave, "an ultrapeer's queries fall while it is up")
			}
		}
	}
	assert.InDelta(t, 0.70, float64(short)/float64(arrived), 4*math.Sqrt(0.21/float64(arrived)))
}

func TestWithoutChurnEveryServentStaysForTheRun(t *testing.T) {
	tl, err := Generate(Params{Nodes: 200, Ultrapeers: 0.1, Duration: 3 * time.Hour, Seed: 4, Workload: DefaultWorkload()})
	require.NoError(t, err)
	require.Len(t, tl.Sessions, 200)
	ups, queries := 0, 0
	for _, s := range tl.Sessions {
		assert.Equal(t, time.Duration(0), s.Join)
		assert.Equal(t, 3*time.Hour, s.Leave)
		assert.Equal(t, len(s.Queries) > 0, s.Class == Active)
		assert.True(t, slices.IsSortedFunc(s.Queries, func(a, b Query) int { return int(a.At - b.At) }))
		for _, q := range s.Queries {
			assert.True(t, q.At >= 0 && q.At < 3*time.Hour)
		}
		if s.Role == Ultrapeer {
			ups++
		}
		queries += len(s.Queries)
	}
	assert.Equal(t, 20, ups)
	// The query rate of the churned model: 0.2 * 5 queries per 3396 s
	// session, per servent. 200 servents for 3 h: 636 expected.
	assert.InDelta(t, 636, queries, 4*math.Sqrt(636*5))
}

func TestPlacementFollowsPopularity(t *testing.T) {
	// One file each: the pooled ranks follow the content Zipf law exactly.
	tl, err := Generate(Params{Nodes: 20000, Duration: time.Minute, Seed: 5, Workload: sharp(t, 50, 40, 1)})
	require.NoError(t, err)
	var ranks []float64
	for _, s := range tl.Sessions {
		require.Len(t, s.Files, 1)
		ranks = append(ranks, float64(s.Files[0]))
	}
	assert.Less(t, chi2(ranks, zipfProbs(1.0, 40, 0)), chi2Crit(39))
	assert.Greater(t, chi2(ranks, zipfProbs(1.0, 40, 1)), chi2Crit(39))

	// Many files each: distinct, sorted, in the catalog, and a library as
	// large as the catalog holds all of it.
	tl, err = Generate(Params{Nodes: 50, Duration: time.Minute, Seed: 6, Workload: sharp(t, 50, 40, 40)})
	require.NoError(t, err)
	for _, s := range tl.Sessions {
		want := make([]int, 40)
		for i := range want {
			want[i] = i + 1
		}
		assert.Equal(t, want, s.Files)
	}
}

func TestFindableMeansAHolderIsOnline(t *testing.T) {
	tl, err := Generate(Params{Nodes: 100, Ultrapeers: 0.1, Duration: 10 * time.Minute, Seed: 9,
		Workload: sharp(t, 60, 50, 2), Churn: DefaultChurn()})
	require.NoError(t, err)
	yes, no, onlyOwn := 0, 0, 0
	for at := time.Duration(0); at < tl.Duration; at += 30 * time.Second {
		for rank := 1; rank <= 60; rank++ {
			var holders []int
			for i, s := range tl.Sessions {
				if s.Join <= at && at < s.Leave && slices.Contains(s.Files, rank) {
					holders = append(holders, i)
				}
			}
			want := len(holders) > 0
			assert.Equal(t, want, tl.Findable(rank, at), "rank %d at %v", rank, at)
			if want {
				yes++
			} else {
				no++
			}
			// The searcher's own copy does not count.
			for _, h := range holders {
				assert.Equal(t, len(holders) > 1, tl.FindableFor(h, rank, at), "rank %d at %v searched by holder %d", rank, at, h)
				if len(holders) == 1 {
					onlyOwn++
				}
			}
			if len(holders) > 0 {
				other := slices.IndexFunc(tl.Sessions, func(s Session) bool { return !slices.Contains(holders, s.ID) })
				assert.True(t, tl.FindableFor(other, rank, at))
			}
		}
	}
	assert.Positive(t, yes)
	assert.Positive(t, no, "ranks past the catalog are never findable")
	assert.Positive(t, onlyOwn, "some files are held by one session only")
}

func TestCatalogSizesFollowTheModel(t *testing.T) {
	c := NewCatalog(&DefaultWorkload().Content, 1)
	sizes := make([]float64, c.Len())
	for i, s := range c.sizes {
		sizes[i] = float64(s)
	}
	assert.Equal(t, c.sizes[9], c.File(10).Size)
	slices.Sort(sizes)
	assert.InEpsilon(t, 4e6, sizes[len(sizes)/2], 0.03, "median 4 MB ([S] 5.1)")
	over := len(sizes) - sort100MB(sizes)
	assert.InDelta(t, 0.05, float64(over)/float64(len(sizes)), 0.003, "5%% over 100 MB ([S] 5.1)")
}

func sort100MB(sorted []float64) int {
	i, _ := slices.BinarySearch(sorted, 100e6)
	return i
}

func TestGenerateRejectsBadParams(t *testing.T) {
	w := DefaultWorkload()
	for _, p := range []Params{
		{Nodes: 0, Duration: time.Minute, Workload: w},
		{Nodes: MaxNodes + 1, Duration: time.Minute, Workload: w},
		{Nodes: 10, Ultrapeers: 1.5, Duration: time.Minute, Workload: w},
		{Nodes: 10, Duration: 0, Workload: w},
		{Nodes: 10, Duration: time.Minute},
	} {
		_, err := Generate(p)
		assert.Error(t, err, "%+v", p)
	}
	// A model of millisecond sessions cannot fill memory.
	tiny := sharp(t, 50, 40, 1)
	tiny.Session.PassiveDuration = mustSpec(t, Spec{Dist: "constant", Value: f(0.001)})
	tiny.Session.Passive = mustSpec(t, Spec{Dist: "constant", Value: f(1)})
	_, err := Generate(Params{Nodes: 10, Duration: time.Hour, Workload: tiny})
	assert.ErrorContains(t, err, "mean session length")
	// Nor can a long run of many servents.
	_, err = Generate(Params{Nodes: MaxNodes, Duration: 1000 * time.Hour, Workload: DefaultWorkload(), Churn: DefaultChurn()})
	assert.ErrorIs(t, err, ErrTooLarge)
}
