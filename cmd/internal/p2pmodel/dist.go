package p2pmodel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Dist is a probability distribution on the real line that a model
// draws from. Every family also knows its CDF and mean, so the tests can
// check the sampler against the parameters and the generator can use the
// means (Little's law needs the mean session length).
type Dist interface {
	// Sample draws one value from r.
	Sample(r *rand.Rand) float64
	// CDF is P(X <= x).
	CDF(x float64) float64
	// Mean is E[X]; +Inf where the family's mean does not exist.
	Mean() float64
	// Min is the smallest value a draw can take (-Inf if unbounded).
	Min() float64
	// Discrete reports whether every draw is an integer.
	Discrete() bool
	// String names the family and its parameters, as in the model file.
	String() string
}

// Table sizes are bounded because the model file is input: a zipf with
// n = 1e12 would otherwise allocate until the process dies.
const (
	// MaxZipfN bounds the ranks of a zipf table (32 MiB of float64).
	MaxZipfN = 1 << 22
	// MaxTable bounds the rows of a discrete or empirical table.
	MaxTable = 1 << 16
)

type constant struct{ v float64 }

func (d constant) Sample(*rand.Rand) float64 { return d.v }
func (d constant) CDF(x float64) float64 {
	if x < d.v {
		return 0
	}
	return 1
}
func (d constant) Mean() float64  { return d.v }
func (d constant) Min() float64   { return d.v }
func (d constant) Discrete() bool { return d.v == math.Trunc(d.v) }
func (d constant) String() string { return "constant(value=" + num(d.v) + ")" }

type uniform struct{ lo, hi float64 }

func (d uniform) Sample(r *rand.Rand) float64 { return d.lo + (d.hi-d.lo)*r.Float64() }
func (d uniform) CDF(x float64) float64 {
	return clamp01((x - d.lo) / (d.hi - d.lo))
}
func (d uniform) Mean() float64  { return (d.lo + d.hi) / 2 }
func (d uniform) Min() float64   { return d.lo }
func (d uniform) Discrete() bool { return false }
func (d uniform) String() string { return "uniform(min=" + num(d.lo) + ", max=" + num(d.hi) + ")" }

type exponential struct{ mean float64 }

func (d exponential) Sample(r *rand.Rand) float64 { return d.mean * r.ExpFloat64() }
func (d exponential) CDF(x float64) float64 {
	if x <= 0 {
		return 0
	}
	return -math.Expm1(-x / d.mean)
}
func (d exponential) Mean() float64  { return d.mean }
func (d exponential) Min() float64   { return 0 }
func (d exponential) Discrete() bool { return false }
func (d exponential) String() string { return "exponential(mean=" + num(d.mean) + ")" }

type lognormal struct{ mu, sigma float64 }

func (d lognormal) Sample(r *rand.Rand) float64 { return math.Exp(d.mu + d.sigma*r.NormFloat64()) }
func (d lognormal) CDF(x float64) float64 {
	if x <= 0 {
		return 0
	}
	return 0.5 * math.Erfc(-(math.Log(x)-d.mu)/(d.sigma*math.Sqrt2))
}
func (d lognormal) Mean() float64  { return math.Exp(d.mu + d.sigma*d.sigma/2) }
func (d lognormal) Min() float64   { return 0 }
func (d lognormal) Discrete() bool { return false }
func (d lognormal) String() string {
	return "lognormal(mu=" + num(d.mu) + ", sigma=" + num(d.sigma) + ")"
}

type weibull struct{ shape, scale float64 }

// Sample inverts the CDF; 1-Float64() lies in (0, 1], so the log is finite.
func (d weibull) Sample(r *rand.Rand) float64 {
	return d.scale * math.Pow(-math.Log(1-r.Float64()), 1/d.shape)
}
func (d weibull) CDF(x float64) float64 {
	if x <= 0 {
		return 0
	}
	return -math.Expm1(-math.Pow(x/d.scale, d.shape))
}
func (d weibull) Mean() float64  { return d.scale * math.Gamma(1+1/d.shape) }
func (d weibull) Min() float64   { return 0 }
func (d weibull) Discrete() bool { return false }
func (d weibull) String() string {
	return "weibull(shape=" + num(d.shape) + ", scale=" + num(d.scale) + ")"
}

// pareto is the type I Pareto law: P(X > x) = (xm/x)^alpha for x >= xm.
type pareto struct{ xm, alpha float64 }

func (d pareto) Sample(r *rand.Rand) float64 {
	return d.xm * math.Pow(1-r.Float64(), -1/d.alpha)
}
func (d pareto) CDF(x float64) float64 {
	if x <= d.xm {
		return 0
	}
	return 1 - math.Pow(d.xm/x, d.alpha)
}
func (d pareto) Mean() float64 {
	if d.alpha <= 1 {
		return math.Inf(1)
	}
	return d.alpha * d.xm / (d.alpha - 1)
}
func (d pareto) Min() float64   { return d.xm }
func (d pareto) Discrete() bool { return false }
func (d pareto) String() string { return "pareto(xm=" + num(d.xm) + ", alpha=" + num(d.alpha) + ")" }

// geometric counts trials up to and including the first success, so its
// support is 1, 2, 3, ...: the maximum-entropy law for a count >= 1 with a
// given mean.
type geometric struct{ mean float64 }

func (d geometric) q() float64 { return 1 - 1/d.mean } // P(another trial)
func (d geometric) Sample(r *rand.Rand) float64 {
	q := d.q()
	if q == 0 {
		return 1
	}
	// Inversion: the smallest k with 1-q^k >= U, U in (0, 1].
	return 1 + math.Floor(math.Log(1-r.Float64())/math.Log(q))
}
func (d geometric) CDF(x float64) float64 {
	if x < 1 {
		return 0
	}
	return 1 - math.Pow(d.q(), math.Floor(x))
}
func (d geometric) Mean() float64  { return d.mean }
func (d geometric) Min() float64   { return 1 }
func (d geometric) Discrete() bool { return true }
func (d geometric) String() string { return "geometric(mean=" + num(d.mean) + ")" }

type bernoulli struct{ p float64 }

func (d bernoulli) Sample(r *rand.Rand) float64 {
	if r.Float64() < d.p {
		return 1
	}
	return 0
}
func (d bernoulli) CDF(x float64) float64 {
	switch {
	case x < 0:
		return 0
	case x < 1:
		return 1 - d.p
	}
	return 1
}
func (d bernoulli) Mean() float64  { return d.p }
func (d bernoulli) Min() float64   { return 0 }
func (d bernoulli) Discrete() bool { return true }
func (d bernoulli) String() string { return "bernoulli(p=" + num(d.p) + ")" }

// table is a distribution over finitely many values, drawn by inverting
// its cumulative probabilities: zipf, whose exponent may be 1 or less
// (rand.NewZipf needs s > 1), and discrete.
type table struct {
	name   string
	values []float64 // increasing
	cum    []float64 // cum[i] = P(X <= values[i]); the last is 1
	mean   float64
}

func newTable(name string, values, weights []float64) *table {
	t := &table{name: name, values: values, cum: make([]float64, len(weights))}
	var sum, mean float64
	for i, w := range weights {
		sum += w
		t.cum[i] = sum
		mean += w * values[i]
	}
	for i := range t.cum {
		t.cum[i] /= sum
	}
	t.cum[len(t.cum)-1] = 1 // no rounding gap above the last value
	t.mean = mean / sum
	return t
}

func (t *table) Sample(r *rand.Rand) float64 {
	u := r.Float64()
	// The first value whose cumulative probability exceeds u.
	i, _ := slices.BinarySearch(t.cum, u)
	for i < len(t.cum)-1 && t.cum[i] <= u {
		i++
	}
	return t.values[i]
}

func (t *table) CDF(x float64) float64 {
	i, found := slices.BinarySearch(t.values, x)
	if found {
		return t.cum[i]
	}
	if i == 0 {
		return 0
	}
	return t.cum[i-1]
}
func (t *table) Mean() float64  { return t.mean }
func (t *table) Min() float64   { return t.values[0] }
func (t *table) Discrete() bool { return !slices.ContainsFunc(t.values, notInteger) }
func (t *table) String() string { return t.name }

func notInteger(v float64) bool { return v != math.Trunc(v) }

// NewZipf is the Zipf law on ranks 1..n with P(k) proportional to k^-s, for
// any s > 0. The netsim content and query models draw ranks from it.
func NewZipf(s float64, n int) (Dist, error) {
	if !(s > 0) || math.IsInf(s, 0) {
		return nil, fmt.Errorf("s must be a finite number > 0, got %s", num(s))
	}
	if n < 1 || n > MaxZipfN {
		return nil, fmt.Errorf("n must be in 1..%d, got %d", MaxZipfN, n)
	}
	values := make([]float64, n)
	weights := make([]float64, n)
	for k := 1; k <= n; k++ {
		values[k-1] = float64(k)
		weights[k-1] = math.Pow(float64(k), -s)
	}
	return newTable("zipf(s="+num(s)+", n="+strconv.Itoa(n)+")", values, weights), nil
}

// empirical is a piecewise-linear CDF through measured points, the form in
// which a measurement paper's figure can be copied into a model file.
type empirical struct {
	x, cdf []float64
}

func (d empirical) Sample(r *rand.Rand) float64 {
	u := r.Float64()
	i, _ := slices.BinarySearch(d.cdf, u)
	for i < len(d.cdf)-1 && d.cdf[i] <= u {
		i++
	}
	if i == 0 {
		return d.x[0]
	}
	lo, hi := d.cdf[i-1], d.cdf[i]
	return d.x[i-1] + (d.x[i]-d.x[i-1])*(u-lo)/(hi-lo)
}

func (d empirical) CDF(x float64) float64 {
	if x < d.x[0] {
		return 0
	}
	i, found := slices.BinarySearch(d.x, x)
	if found {
		return d.cdf[i]
	}
	if i == len(d.x) {
		return 1
	}
	f := (x - d.x[i-1]) / (d.x[i] - d.x[i-1])
	return d.cdf[i-1] + f*(d.cdf[i]-d.cdf[i-1])
}

func (d empirical) Mean() float64 {
	var m float64
	for i := 1; i < len(d.x); i++ {
		m += (d.x[i-1] + d.x[i]) / 2 * (d.cdf[i] - d.cdf[i-1])
	}
	return m + d.x[0]*d.cdf[0]
}
func (d empirical) Min() float64   { return d.x[0] }
func (d empirical) Discrete() bool { return false }
func (d empirical) String() string {
	return "empirical(x=" + nums(d.x) + ", cdf=" + nums(d.cdf) + ")"
}

// shifted adds a location to any family: the model file's `shift`, used
// where a measurement covers only values above a cut-off (sessions of 64 s
// or more in [K]).
type shifted struct {
	d     Dist
	shift float64
}

func (s shifted) Sample(r *rand.Rand) float64 { return s.shift + s.d.Sample(r) }
func (s shifted) CDF(x float64) float64       { return s.d.CDF(x - s.shift) }
func (s shifted) Mean() float64               { return s.shift + s.d.Mean() }
func (s shifted) Min() float64                { return s.shift + s.d.Min() }
func (s shifted) Discrete() bool              { return s.d.Discrete() && !notInteger(s.shift) }
func (s shifted) String() string {
	return strings.TrimSuffix(s.d.String(), ")") + ", shift=" + num(s.shift) + ")"
}

func clamp01(v float64) float64 { return max(0, min(1, v)) }

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func nums(vs []float64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = num(v)
	}
	return "[" + strings.Join(s, ", ") + "]"
}
