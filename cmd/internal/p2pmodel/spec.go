package p2pmodel

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
)

// Spec is a distribution as a model file writes it: a table with the
// family in `dist` and that family's parameters beside it, for example
//
//	[session.first_query]
//	dist = "lognormal"
//	mu = 4.1
//	sigma = 1.3
//
// Every family also takes an optional `shift`, added to each draw.
// Times are in seconds, sizes in bytes.
type Spec struct {
	Dist    string    `toml:"dist"`
	Value   *float64  `toml:"value"`
	Min     *float64  `toml:"min"`
	Max     *float64  `toml:"max"`
	Mean    *float64  `toml:"mean"`
	Mu      *float64  `toml:"mu"`
	Sigma   *float64  `toml:"sigma"`
	Shape   *float64  `toml:"shape"`
	Scale   *float64  `toml:"scale"`
	Xm      *float64  `toml:"xm"`
	Alpha   *float64  `toml:"alpha"`
	S       *float64  `toml:"s"`
	N       *int64    `toml:"n"`
	P       *float64  `toml:"p"`
	Values  []float64 `toml:"values"`
	Weights []float64 `toml:"weights"`
	X       []float64 `toml:"x"`
	CDF     []float64 `toml:"cdf"`
	Shift   *float64  `toml:"shift"`
}

// family is one distribution family: the keys it takes and how to build it
// from a Spec whose keys have been checked against that list.
type family struct {
	keys  []string
	build func(s *Spec) (Dist, error)
}

var families = map[string]family{
	"constant": {[]string{"value"}, func(s *Spec) (Dist, error) {
		return constant{*s.Value}, nil
	}},
	"uniform": {[]string{"min", "max"}, func(s *Spec) (Dist, error) {
		if !(*s.Min < *s.Max) {
			return nil, fmt.Errorf("min (%s) must be below max (%s)", num(*s.Min), num(*s.Max))
		}
		return uniform{*s.Min, *s.Max}, nil
	}},
	"exponential": {[]string{"mean"}, func(s *Spec) (Dist, error) {
		if err := positive("mean", *s.Mean); err != nil {
			return nil, err
		}
		return exponential{*s.Mean}, nil
	}},
	"lognormal": {[]string{"mu", "sigma"}, func(s *Spec) (Dist, error) {
		if err := positive("sigma", *s.Sigma); err != nil {
			return nil, err
		}
		return lognormal{*s.Mu, *s.Sigma}, nil
	}},
	"weibull": {[]string{"shape", "scale"}, func(s *Spec) (Dist, error) {
		if err := errors.Join(positive("shape", *s.Shape), positive("scale", *s.Scale)); err != nil {
			return nil, err
		}
		return weibull{*s.Shape, *s.Scale}, nil
	}},
	"pareto": {[]string{"xm", "alpha"}, func(s *Spec) (Dist, error) {
		if err := errors.Join(positive("xm", *s.Xm), positive("alpha", *s.Alpha)); err != nil {
			return nil, err
		}
		return pareto{*s.Xm, *s.Alpha}, nil
	}},
	"zipf": {[]string{"s", "n"}, func(s *Spec) (Dist, error) {
		if *s.N < 1 || *s.N > MaxZipfN {
			return nil, fmt.Errorf("n must be in 1..%d, got %d", MaxZipfN, *s.N)
		}
		return NewZipf(*s.S, int(*s.N))
	}},
	"geometric": {[]string{"mean"}, func(s *Spec) (Dist, error) {
		if !(*s.Mean >= 1) {
			return nil, fmt.Errorf("mean must be >= 1 (the support is 1, 2, ...), got %s", num(*s.Mean))
		}
		return geometric{*s.Mean}, nil
	}},
	"bernoulli": {[]string{"p"}, func(s *Spec) (Dist, error) {
		if !(*s.P >= 0 && *s.P <= 1) {
			return nil, fmt.Errorf("p must be in [0, 1], got %s", num(*s.P))
		}
		return bernoulli{*s.P}, nil
	}},
	"discrete":  {[]string{"values", "weights"}, buildDiscrete},
	"empirical": {[]string{"x", "cdf"}, buildEmpirical},
}

// Families lists the distribution families a model file may name.
func Families() []string { return slices.Sorted(maps.Keys(families)) }

func buildDiscrete(s *Spec) (Dist, error) {
	if err := tableLen("values", s.Values, 1); err != nil {
		return nil, err
	}
	if len(s.Weights) != len(s.Values) {
		return nil, fmt.Errorf("weights has %d entries, values %d", len(s.Weights), len(s.Values))
	}
	type row struct{ v, w float64 }
	var rows []row
	var sum float64
	for i, w := range s.Weights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("weights[%d] must be a finite number >= 0, got %s", i, num(w))
		}
		sum += w
		if w > 0 { // a value that is never drawn must not set Min
			rows = append(rows, row{s.Values[i], w})
		}
	}
	if !(sum > 0) || math.IsInf(sum, 0) {
		return nil, errors.New("weights must have a finite, positive sum")
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.v, b.v) })
	values := make([]float64, len(rows))
	weights := make([]float64, len(rows))
	for i, r := range rows {
		if i > 0 && r.v == rows[i-1].v {
			return nil, fmt.Errorf("value %s appears twice", num(r.v))
		}
		values[i], weights[i] = r.v, r.w
	}
	return newTable("discrete(values="+nums(s.Values)+", weights="+nums(s.Weights)+")", values, weights), nil
}

func buildEmpirical(s *Spec) (Dist, error) {
	if err := tableLen("x", s.X, 2); err != nil {
		return nil, err
	}
	if len(s.CDF) != len(s.X) {
		return nil, fmt.Errorf("cdf has %d entries, x %d", len(s.CDF), len(s.X))
	}
	for i := 1; i < len(s.X); i++ {
		if !(s.X[i] > s.X[i-1]) {
			return nil, fmt.Errorf("x must increase strictly: x[%d] = %s after %s", i, num(s.X[i]), num(s.X[i-1]))
		}
		if !(s.CDF[i] >= s.CDF[i-1]) {
			return nil, fmt.Errorf("cdf must not decrease: cdf[%d] = %s after %s", i, num(s.CDF[i]), num(s.CDF[i-1]))
		}
	}
	if s.CDF[0] != 0 || s.CDF[len(s.CDF)-1] != 1 {
		return nil, fmt.Errorf("cdf must run from 0 to 1, got %s to %s", num(s.CDF[0]), num(s.CDF[len(s.CDF)-1]))
	}
	return empirical{slices.Clone(s.X), slices.Clone(s.CDF)}, nil
}

func tableLen(key string, v []float64, least int) error {
	if len(v) < least || len(v) > MaxTable {
		return fmt.Errorf("%s needs %d to %d entries, got %d", key, least, MaxTable, len(v))
	}
	return nil
}

func positive(key string, v float64) error {
	if !(v > 0) {
		return fmt.Errorf("%s must be > 0, got %s", key, num(v))
	}
	return nil
}

// Compile checks a Spec and builds its distribution. Errors say what is
// wrong in the words of the model file; the caller adds the key.
func (s *Spec) Compile() (Dist, error) {
	if s.Dist == "" {
		return nil, fmt.Errorf("no dist (one of %s)", strings.Join(Families(), ", "))
	}
	f, ok := families[s.Dist]
	if !ok {
		return nil, fmt.Errorf("unknown distribution %q (one of %s)", s.Dist, strings.Join(Families(), ", "))
	}
	set := s.setKeys()
	for _, k := range set {
		if k != "shift" && !slices.Contains(f.keys, k) {
			return nil, fmt.Errorf("%s takes %s (and shift), not %s", s.Dist, strings.Join(f.keys, ", "), k)
		}
	}
	for _, k := range f.keys {
		if !slices.Contains(set, k) {
			return nil, fmt.Errorf("%s needs %s", s.Dist, strings.Join(f.keys, " and "))
		}
	}
	if err := s.finite(); err != nil {
		return nil, err
	}
	d, err := f.build(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Dist, err)
	}
	if s.Shift != nil {
		d = shifted{d, *s.Shift}
	}
	return d, nil
}

// setKeys lists the parameter keys present in the file, by their TOML names.
func (s *Spec) setKeys() []string {
	var keys []string
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Tag.Get("toml")
		f := v.Field(i)
		if name == "dist" {
			continue
		}
		if (f.Kind() == reflect.Pointer || f.Kind() == reflect.Slice) && !f.IsNil() {
			keys = append(keys, name)
		}
	}
	return keys
}

// finite rejects NaN and infinities, which TOML allows (nan, inf) and no
// parameter means.
func (s *Spec) finite() error {
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Tag.Get("toml")
		switch f := v.Field(i).Interface().(type) {
		case *float64:
			if f != nil && (math.IsNaN(*f) || math.IsInf(*f, 0)) {
				return fmt.Errorf("%s must be a finite number, got %s", name, num(*f))
			}
		case []float64:
			for j, x := range f {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return fmt.Errorf("%s[%d] must be a finite number, got %s", name, j, num(x))
				}
			}
		}
	}
	return nil
}
