package p2pmodel

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ksN = 20000

// ksCrit is the Kolmogorov-Smirnov critical distance at alpha = 0.001.
var ksCrit = 1.95 / math.Sqrt(ksN)

func draw(d Dist, seed uint64, n int) []float64 {
	r := rand.New(rand.NewPCG(seed, 99))
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = d.Sample(r)
	}
	return xs
}

// ks is the Kolmogorov-Smirnov distance between a sample and a CDF.
func ks(xs []float64, cdf func(float64) float64) float64 {
	xs = slices.Sorted(slices.Values(xs))
	var d float64
	n := float64(len(xs))
	for i, x := range xs {
		f := cdf(x)
		d = max(d, math.Abs(f-float64(i)/n), math.Abs(float64(i+1)/n-f))
	}
	return d
}

func mustSpec(t *testing.T, s Spec) Dist {
	t.Helper()
	d, err := s.Compile()
	require.NoError(t, err)
	return d
}

func f(v float64) *float64 { return &v }

// TestContinuousSamplersMatchTheirCDF draws from each continuous family
// and compares with a CDF written here from the textbook formula, not the
// package's, and with a wrong CDF (parameters swapped or shifted), which
// the same sample must fail: the check can tell a broken sampler.
func TestContinuousSamplersMatchTheirCDF(t *testing.T) {
	cases := []struct {
		name      string
		spec      Spec
		cdf       func(x float64) float64
		wrong     func(x float64) float64
		mean      float64
		wantMin   float64
		wantDiscr bool
	}{
		{
			name: "uniform", spec: Spec{Dist: "uniform", Min: f(2), Max: f(7)},
			cdf:   func(x float64) float64 { return math.Max(0, math.Min(1, (x-2)/5)) },
			wrong: func(x float64) float64 { return math.Max(0, math.Min(1, (x-2)/5.5)) },
			mean:  4.5, wantMin: 2,
		},
		{
			name: "exponential", spec: Spec{Dist: "exponential", Mean: f(566)},
			cdf:   func(x float64) float64 { return 1 - math.Exp(-x/566) },
			wrong: func(x float64) float64 { return 1 - math.Exp(-x*566/1e6) }, // rate and mean confused
			mean:  566,
		},
		{
			name: "lognormal", spec: Spec{Dist: "lognormal", Mu: f(1.2), Sigma: f(0.7)},
			cdf:   func(x float64) float64 { return 0.5 * (1 + math.Erf((math.Log(x)-1.2)/(0.7*math.Sqrt2))) },
			wrong: func(x float64) float64 { return 0.5 * (1 + math.Erf((math.Log(x)-0.7)/(1.2*math.Sqrt2))) }, // mu, sigma swapped
			mean:  math.Exp(1.2 + 0.49/2),
		},
		{
			name: "lognormal file sizes", spec: Spec{Dist: "lognormal", Mu: f(15.2018), Sigma: f(1.95694)},
			cdf: func(x float64) float64 {
				return 0.5 * (1 + math.Erf((math.Log(x)-15.2018)/(1.95694*math.Sqrt2)))
			},
			wrong: func(x float64) float64 { // sigma read as a variance
				return 0.5 * (1 + math.Erf((math.Log(x)-15.2018)/(math.Sqrt(1.95694)*math.Sqrt2)))
			},
			mean: math.Exp(15.2018 + 1.95694*1.95694/2),
		},
		{
			name: "weibull", spec: Spec{Dist: "weibull", Shape: f(0.6), Scale: f(300)},
			cdf:   func(x float64) float64 { return 1 - math.Exp(-math.Pow(x/300, 0.6)) },
			wrong: func(x float64) float64 { return 1 - math.Exp(-math.Pow(x/300, 1/0.6)) }, // shape inverted
			mean:  300 * math.Gamma(1+1/0.6),
		},
		{
			name: "pareto", spec: Spec{Dist: "pareto", Xm: f(64), Alpha: f(1.5)},
			cdf:   func(x float64) float64 { return math.Max(0, 1-math.Pow(64/x, 1.5)) },
			wrong: func(x float64) float64 { return math.Max(0, 1-math.Pow(64/x, 2.5)) }, // alpha off by one
			mean:  1.5 * 64 / 0.5, wantMin: 64,
		},
		{
			name: "empirical short connections", spec: Spec{Dist: "empirical", X: []float64{0, 10, 32.5, 64}, CDF: []float64{0, 0.4143, 0.8714, 1}},
			cdf: func(x float64) float64 {
				switch {
				case x <= 0:
					return 0
				case x <= 10:
					return 0.4143 * x / 10
				case x <= 32.5:
					return 0.4143 + (0.8714-0.4143)*(x-10)/22.5
				case x <= 64:
					return 0.8714 + (1-0.8714)*(x-32.5)/31.5
				}
				return 1
			},
			wrong: func(x float64) float64 { return math.Min(1, x/64) }, // the points ignored
			mean:  5*0.4143 + 21.25*(0.8714-0.4143) + 48.25*(1-0.8714),
		},
		{
			name: "shifted exponential", spec: Spec{Dist: "exponential", Mean: f(3332), Shift: f(64)},
			cdf:   func(x float64) float64 { return math.Max(0, 1-math.Exp(-(x-64)/3332)) },
			wrong: func(x float64) float64 { return 1 - math.Exp(-x/3396) }, // shift folded into the mean
			mean:  3396, wantMin: 64,
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := mustSpec(t, c.spec)
			xs := draw(d, uint64(i+1), ksN)
			assert.Less(t, ks(xs, c.cdf), ksCrit, "sample against the textbook CDF")
			assert.Greater(t, ks(xs, c.wrong), ksCrit, "the check must reject a wrong CDF")
			// The package's own CDF and Mean agree with the textbook.
			for _, x := range xs[:200] {
				assert.InDelta(t, c.cdf(x), d.CDF(x), 1e-9, "CDF(%v)", x)
			}
			assert.InEpsilon(t, c.mean, d.Mean(), 1e-9)
			assert.Equal(t, c.wantMin, d.Min())
			assert.False(t, d.Discrete())
			assert.GreaterOrEqual(t, slices.Min(xs), c.wantMin)
		})
	}
}

// chi2 is Pearson's statistic of observed counts against probabilities;
// the last bin takes everything past the listed values.
func chi2(xs []float64, probs map[float64]float64) float64 {
	obs := map[float64]float64{}
	tail := 0.0
	for _, x := range xs {
		if _, ok := probs[x]; ok {
			obs[x]++
		} else {
			tail++
		}
	}
	n := float64(len(xs))
	var stat, rest float64
	for v, p := range probs {
		e := n * p
		stat += (obs[v] - e) * (obs[v] - e) / e
		rest += p
	}
	if e := n * (1 - rest); e > 1e-9 {
		stat += (tail - e) * (tail - e) / e
	} else if tail > 0 {
		return math.Inf(1)
	}
	return stat
}

// chi2Crit is the chi-square critical value at alpha = 0.001 (the
// Wilson-Hilferty approximation, good to a few percent for df >= 5).
func chi2Crit(df int) float64 {
	k := float64(df)
	z := 3.0902 // the 0.999 normal quantile
	return k * math.Pow(1-2/(9*k)+z*math.Sqrt(2/(9*k)), 3)
}

func zipfProbs(s float64, n, shift int) map[float64]float64 {
	p := map[float64]float64{}
	var h float64
	for k := 1; k <= n; k++ {
		h += math.Pow(float64(k+shift), -s)
	}
	for k := 1; k <= n; k++ {
		p[float64(k)] = math.Pow(float64(k+shift), -s) / h
	}
	return p
}

func TestZipfAnyExponentMatchesItsLaw(t *testing.T) {
	for i, s := range []float64{0.5, 0.92, 1, 1.6} {
		d, err := NewZipf(s, 40)
		require.NoError(t, err)
		xs := draw(d, uint64(10+i), 50000)
		crit := chi2Crit(39)
		assert.Less(t, chi2(xs, zipfProbs(s, 40, 0)), crit, "s=%v against k^-s", s)
		assert.Greater(t, chi2(xs, zipfProbs(s, 40, 1)), crit, "s=%v: the check must reject ranks off by one", s)
		assert.Greater(t, chi2(xs, zipfProbs(s+0.1, 40, 0)), crit, "s=%v: the check must reject s+0.1", s)
		var mean float64
		for v, p := range zipfProbs(s, 40, 0) {
			mean += v * p
		}
		assert.InEpsilon(t, mean, d.Mean(), 1e-9)
		assert.InDelta(t, zipfProbs(s, 40, 0)[1], d.CDF(1), 1e-12)
		assert.Equal(t, 1.0, d.CDF(40))
		assert.True(t, d.Discrete())
		assert.Equal(t, 1.0, slices.Min(xs))
		assert.Equal(t, 40.0, slices.Max(xs))
	}
}

func TestDiscreteFamiliesMatchTheirLaw(t *testing.T) {
	t.Run("geometric", func(t *testing.T) {
		d := mustSpec(t, Spec{Dist: "geometric", Mean: f(5)})
		xs := draw(d, 21, 50000)
		probs := map[float64]float64{}
		wrong := map[float64]float64{}
		for k := 1; k <= 30; k++ {
			probs[float64(k)] = 0.2 * math.Pow(0.8, float64(k-1))
			wrong[float64(k)] = 0.2 * math.Pow(0.8, float64(k)) // support from 0
		}
		wrong[0] = 0.2
		delete(wrong, 30)
		crit := chi2Crit(30)
		assert.Less(t, chi2(xs, probs), crit)
		assert.Greater(t, chi2(xs, wrong), crit)
		assert.InDelta(t, 5, mean(xs), 4*math.Sqrt(20.0/50000))
		assert.Equal(t, 1.0, d.Min())
		assert.True(t, d.Discrete())
		one := mustSpec(t, Spec{Dist: "geometric", Mean: f(1)})
		assert.Equal(t, []float64{1, 1, 1}, draw(one, 1, 3))
	})
	t.Run("discrete", func(t *testing.T) {
		d := mustSpec(t, Spec{Dist: "discrete", Values: []float64{7, 1, 3}, Weights: []float64{1, 2, 0}})
		xs := draw(d, 22, 30000)
		assert.NotContains(t, xs, 3.0, "a zero weight is never drawn")
		assert.Less(t, chi2(xs, map[float64]float64{1: 2.0 / 3, 7: 1.0 / 3}), chi2Crit(5))
		assert.Greater(t, chi2(xs, map[float64]float64{1: 1.0 / 3, 7: 2.0 / 3}), chi2Crit(5))
		assert.InEpsilon(t, 3.0, d.Mean(), 1e-12)
		assert.Equal(t, 1.0, d.Min())
		assert.InDelta(t, 2.0/3, d.CDF(3), 1e-12)
	})
	t.Run("bernoulli", func(t *testing.T) {
		d := mustSpec(t, Spec{Dist: "bernoulli", P: f(0.8)})
		xs := draw(d, 23, 50000)
		assert.InDelta(t, 0.8, mean(xs), 4*math.Sqrt(0.16/50000))
		assert.Subset(t, []float64{0, 1}, slices.Compact(slices.Sorted(slices.Values(xs))))
		assert.InDelta(t, 0.2, d.CDF(0.5), 1e-12)
	})
	t.Run("constant", func(t *testing.T) {
		d := mustSpec(t, Spec{Dist: "constant", Value: f(7)})
		assert.Equal(t, []float64{7, 7}, draw(d, 1, 2))
		assert.Equal(t, 0.0, d.CDF(6.9))
		assert.Equal(t, 1.0, d.CDF(7))
		assert.True(t, d.Discrete())
		assert.False(t, mustSpec(t, Spec{Dist: "constant", Value: f(0.5)}).Discrete())
	})
}

// TestSamplersAreDeterministicForASeed: the same seed gives the same
// draws, another seed others.
func TestSamplersAreDeterministicForASeed(t *testing.T) {
	for _, fam := range []Spec{
		{Dist: "lognormal", Mu: f(0), Sigma: f(1)},
		{Dist: "weibull", Shape: f(2), Scale: f(1)},
		{Dist: "zipf", S: f(0.8), N: new(int64(1000))},
		{Dist: "geometric", Mean: f(3)},
	} {
		d := mustSpec(t, fam)
		assert.Equal(t, draw(d, 5, 100), draw(d, 5, 100), fam.Dist)
		assert.NotEqual(t, draw(d, 5, 100), draw(d, 6, 100), fam.Dist)
	}
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
