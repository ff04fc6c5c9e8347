package p2pmodel

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/smallfile"
)

func TestDefaultModelsLoad(t *testing.T) {
	w := DefaultWorkload()
	assert.Equal(t, "bernoulli(p=0.8)", w.Session.Passive.String())
	assert.Equal(t, "exponential(mean=3332, shift=64)", w.Session.PassiveDuration.String())
	assert.Equal(t, "geometric(mean=5)", w.Session.Queries.String())
	for _, d := range []Dist{w.Session.FirstQuery, w.Session.Interarrival, w.Session.AfterLast} {
		assert.Equal(t, "exponential(mean=566)", d.String())
	}
	// Passive and active sessions have the same mean, 56.6 min ([L] III.B).
	assert.InDelta(t, 3396, w.Session.MeanLength(), 1e-9)
	assert.Equal(t, 111000, w.Queries.Distinct)
	assert.Equal(t, 0.92, w.Queries.Exponent)
	assert.Equal(t, 111000, w.Content.Files)
	// The median file is 4 MB and 5% are over 100 MB ([S] 5.1).
	assert.InEpsilon(t, 4e6, inverse(w.Content.Size, 0.5), 1e-3)
	assert.InDelta(t, 0.05, 1-w.Content.Size.CDF(100e6), 1e-4)
	// The fitted exponent gives the top 1,000 of 111,000 files half the mass.
	assert.InDelta(t, 0.5, w.Content.Popularity.CDF(1000), 0.02)

	c := DefaultChurn()
	assert.Equal(t, "poisson", c.Arrivals)
	assert.Equal(t, 8940.0, c.UltrapeerLifetime.Mean())
	assert.Equal(t, 0.70, c.ShortShare)
	// 29% and 61% of all connections by 10 s and 32.5 s, 70% by 64 s.
	assert.InDelta(t, 0.29, 0.70*c.ShortDuration.CDF(10), 1e-4)
	assert.InDelta(t, 0.61, 0.70*c.ShortDuration.CDF(32.5), 1e-4)
	assert.Equal(t, 1.0, c.ShortDuration.CDF(64))
}

// inverse finds a quantile by bisection, to check a CDF's median.
func inverse(d Dist, p float64) float64 {
	lo, hi := 0.0, 1e12
	for range 200 {
		mid := (lo + hi) / 2
		if d.CDF(mid) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// TestDefaultModelNumbersCarryTheirSource: every number in the default
// files has a comment on its line, and the comment block of its table
// names a source or says the value was not found.
func TestDefaultModelNumbersCarryTheirSource(t *testing.T) {
	assign := regexp.MustCompile(`^\s*[a-z_]+\s*=\s*[-\d\[]`)
	source := regexp.MustCompile(`\[[KSL]\]|NOT FOUND`)
	for name, data := range map[string][]byte{"workload": DefaultWorkloadTOML, "churn": DefaultChurnTOML} {
		var block strings.Builder
		numbers := 0
		for i, line := range strings.Split(string(data), "\n") {
			trimmed := strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(trimmed, "["):
				block.Reset()
			case strings.HasPrefix(trimmed, "#"):
				block.WriteString(trimmed + "\n")
			case assign.MatchString(line):
				numbers++
				_, comment, ok := strings.Cut(line, "#")
				assert.True(t, ok && strings.TrimSpace(comment) != "", "%s line %d has no comment: %s", name, i+1, line)
				assert.Regexp(t, source, block.String()+comment, "%s line %d: no source for %s", name, i+1, trimmed)
			}
		}
		assert.Greater(t, numbers, 3, name)
	}
}

func TestLoadReadsFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "mine.toml")
	require.NoError(t, os.WriteFile(p, DefaultChurnTOML, 0o644))
	c, err := LoadChurn(p)
	require.NoError(t, err)
	assert.Equal(t, "mine.toml", c.Name)

	_, err = LoadWorkload(p) // a churn file is not a workload
	var me *ModelError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, "arrivals", me.Key)
	assert.Equal(t, 1, countLine(DefaultChurnTOML, "[arrivals]", me.Line))

	_, err = LoadWorkload(filepath.Join(dir, "absent.toml"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	big := filepath.Join(dir, "big.toml")
	require.NoError(t, os.WriteFile(big, make([]byte, maxModelFile+1), 0o644))
	_, err = LoadWorkload(big)
	assert.ErrorIs(t, err, ErrBadModel)
	assert.ErrorIs(t, err, smallfile.ErrTooLarge)
	assert.ErrorContains(t, err, big+": over 4194304 bytes")

	atLimit := filepath.Join(dir, "at-limit.toml")
	body := string(DefaultWorkloadTOML) + "\n#"
	body += strings.Repeat("x", maxModelFile-len(body)-1) + "\n" // a comment up to the limit
	require.Len(t, body, maxModelFile)
	require.NoError(t, os.WriteFile(atLimit, []byte(body), 0o644))
	_, err = LoadWorkload(atLimit)
	assert.NoError(t, err, "a file of exactly the limit is read")
}

// countLine is 1 when line n of data starts with prefix.
func countLine(data []byte, prefix string, n int) int {
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) || !strings.HasPrefix(lines[n-1], prefix) {
		return 0
	}
	return 1
}

// replace edits the default workload: old must occur exactly once.
func replace(t *testing.T, data []byte, old, new string) []byte {
	t.Helper()
	require.Equal(t, 1, strings.Count(string(data), old), "fixture: %q", old)
	return []byte(strings.Replace(string(data), old, new, 1))
}

func TestLoaderRejectsBadModels(t *testing.T) {
	wl := DefaultWorkloadTOML
	cases := []struct {
		name    string
		data    []byte
		churn   bool
		key     string
		line    bool // go-toml gives the line
		message string
	}{
		{"unknown distribution", replace(t, wl, `dist = "lognormal"`, `dist = "lognormale"`),
			false, "content.size", false, `unknown distribution "lognormale" (one of bernoulli, constant, discrete, empirical, exponential, geometric, lognormal, pareto, uniform, weibull, zipf)`},
		{"unknown key", replace(t, wl, "sigma = 1.95694", "sgima = 1.95694"),
			false, "content.size.sgima", true, "unknown key"},
		{"unknown table", append(append([]byte{}, wl...), "\n[regions]\nasia = 0.3\n"...),
			false, "regions", true, "unknown key"},
		{"parameter of another family", replace(t, wl, "mean = 566                   # 3396 / 6, see above", "mean = 566\nsigma = 2"),
			false, "session.first_query", false, "exponential takes mean (and shift), not sigma"},
		{"missing parameter", replace(t, wl, "sigma = 1.95694", "shift = 0"),
			false, "content.size", false, "lognormal needs mu and sigma"},
		{"negative sigma", replace(t, wl, "sigma = 1.95694", "sigma = -1.95694"),
			false, "content.size", false, "lognormal: sigma must be > 0, got -1.95694"},
		{"nan", replace(t, wl, "mean = 3332", "mean = nan"),
			false, "session.passive_duration", false, "mean must be a finite number, got NaN"},
		{"wrong type", replace(t, wl, "mean = 3332", `mean = "3332"`),
			false, "session.passive_duration.mean", true, "cannot decode TOML string"},
		{"float count", replace(t, wl, "files = 111000", "files = 1.5e5"),
			false, "content.files", true, "cannot decode TOML float"},
		{"zipf too large", replace(t, wl, "files = 111000", "files = 100000000000"),
			false, "content.files", false, "must be in 1..4194304, got 100000000000"},
		{"continuous count", replace(t, wl, "dist = \"geometric\"\nmean = 5", "dist = \"exponential\"\nmean = 5"),
			false, "session.queries", false, "exponential(mean=5) is a count >= 1"},
		{"count that can be zero", replace(t, wl, "dist = \"geometric\"\nmean = 5", "dist = \"discrete\"\nvalues = [0, 1]\nweights = [1, 1]"),
			false, "session.queries", false, "is a count >= 1"},
		{"negative time", replace(t, wl, "dist = \"exponential\"\nmean = 566                   # 3396 / 6, see above", "dist = \"uniform\"\nmin = -5\nmax = 3"),
			false, "session.first_query", false, "uniform(min=-5, max=3) is a time in seconds and may not be negative"},
		{"shift makes it a time", replace(t, wl, "dist = \"exponential\"\nmean = 3332", "dist = \"uniform\"\nmin = -65\nmax = 3"),
			false, "session.passive_duration", false, "uniform(min=-65, max=3, shift=64) is a time in seconds"},
		{"infinite mean", replace(t, wl, "dist = \"exponential\"\nmean = 3332", "dist = \"pareto\"\nxm = 60\nalpha = 0.9"),
			false, "session.passive_duration", false, "has no finite mean"},
		{"passive not an indicator", replace(t, wl, "p = 0.80", "p = 1.5"),
			false, "session.passive", false, "bernoulli: p must be in [0, 1], got 1.5"},
		{"passive a time", replace(t, wl, "dist = \"bernoulli\"\np = 0.80", "dist = \"exponential\"\nmean = 1"),
			false, "session.passive", false, "use bernoulli"},
		{"empirical cdf not ending at 1", replace(t, DefaultChurnTOML, "cdf = [0, 0.4143, 0.8714, 1]", "cdf = [0, 0.4143, 0.8714, 0.9]"),
			true, "short.duration", false, "cdf must run from 0 to 1, got 0 to 0.9"},
		{"empirical x not increasing", replace(t, DefaultChurnTOML, "x = [0, 10, 32.5, 64]", "x = [0, 10, 10, 64]"),
			true, "short.duration", false, "x must increase strictly"},
		{"missing table", replace(t, DefaultChurnTOML, "[ultrapeer.lifetime]\n", "[ultrapeer.lifetme]\n"),
			true, "ultrapeer.lifetme", true, "unknown key"},
		{"short share of 1", replace(t, DefaultChurnTOML, "share = 0.70", "share = 1"),
			true, "short.share", false, "must be in [0, 1), got 1"},
		{"unknown process", replace(t, DefaultChurnTOML, `process = "poisson"`, `process = "diurnal"`),
			true, "arrivals.process", false, `unknown process "diurnal"`},
		{"missing dist", replace(t, DefaultChurnTOML, "dist = \"empirical\"\n", ""),
			true, "short.duration", false, "no dist"},
		{"not toml", []byte("[session\n"), false, "", true, "expected"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.churn {
				_, err = ParseChurn("m.toml", c.data)
			} else {
				_, err = ParseWorkload("m.toml", c.data)
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrBadModel)
			var me *ModelError
			require.True(t, errors.As(err, &me))
			assert.Equal(t, c.key, me.Key)
			assert.Contains(t, err.Error(), c.message)
			if c.line {
				require.Positive(t, me.Line)
				assert.Contains(t, err.Error(), "m.toml:")
				if c.key != "" {
					// The line go-toml names holds the key's last part.
					last := c.key[strings.LastIndex(c.key, ".")+1:]
					assert.Contains(t, strings.Split(string(c.data), "\n")[me.Line-1], last)
				}
			} else {
				assert.True(t, strings.HasPrefix(err.Error(), "m.toml: "+c.key), err.Error())
			}
		})
	}
}
