package p2pmodel

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/govent/govent/httpxfer/smallfile"
)

// ErrBadModel is wrapped by every error about a model file's content.
var ErrBadModel = errors.New("bad model")

// ModelError is what is wrong with a model file: the key, and the line
// where go-toml reports one (unknown keys, values of the wrong type);
// checks made after decoding name the key only.
type ModelError struct {
	File string
	Line int // 0: not known
	Key  string
	Err  error
}

func (e *ModelError) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key == "" {
		return fmt.Sprintf("%s: %v", where, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", where, e.Key, e.Err)
}

func (e *ModelError) Unwrap() []error { return []error{ErrBadModel, e.Err} }

// Workload is what users do in a session and what they share: WORKLOAD-
// MODEL.md sections 1-4 and 6, loaded from a model file. Times are in
// seconds, sizes in bytes.
type Workload struct {
	Name    string // the file it came from
	Session SessionModel
	Queries QueryModel
	Content ContentModel
}

// SessionModel is one connected session of [K]: passive or active, and
// for an active one the parts whose sum is its length.
type SessionModel struct {
	Passive         Dist // 1: passive, 0: active
	PassiveDuration Dist // length of a passive session
	Queries         Dist // queries in an active session, >= 1
	FirstQuery      Dist // join to the first query
	Interarrival    Dist // between two queries, independent of their number
	AfterLast       Dist // last query to leave
}

// MeanLength is the mean session length the model implies, by the
// construction of section 6 step 5.
func (m *SessionModel) MeanLength() float64 {
	p := m.Passive.Mean()
	active := m.FirstQuery.Mean() + (m.Queries.Mean()-1)*m.Interarrival.Mean() + m.AfterLast.Mean()
	return p*m.PassiveDuration.Mean() + (1-p)*active
}

// QueriesPerHour is the mean number of queries the model issues per hour
// a session is online: the active share's queries over the mean length.
func (m *SessionModel) QueriesPerHour() float64 {
	return (1 - m.Passive.Mean()) * m.Queries.Mean() / m.MeanLength() * 3600
}

// QueryModel is query popularity: Distinct queries ranked by a Zipf-like law.
type QueryModel struct {
	Distinct   int
	Exponent   float64
	Popularity Dist // zipf(Exponent, Distinct): a rank
}

// ContentModel is the shared files: a catalog ranked by popularity, which
// also sets how often each file is replicated.
type ContentModel struct {
	Files      int
	Exponent   float64
	Popularity Dist // zipf(Exponent, Files): a rank
	PerNode    Dist // files each servent shares, >= 0
	Size       Dist // bytes
}

// Churn is who is online when, beyond what a session's own length says:
// the arrival process, ultrapeer lifetimes and the short connections that
// [K] cut from its fits.
type Churn struct {
	Name              string
	Arrivals          string // "poisson"
	UltrapeerLifetime Dist   // seconds
	ShortShare        float64
	ShortDuration     Dist // seconds
}

// The default models, built from WORKLOAD-MODEL.md with the source of each
// number beside it. Exported so that a command can print them for editing.
var (
	//go:embed defaults/workload.toml
	DefaultWorkloadTOML []byte
	//go:embed defaults/churn.toml
	DefaultChurnTOML []byte
)

// DefaultWorkload is the default workload model.
func DefaultWorkload() *Workload {
	w, err := ParseWorkload("defaults/workload.toml", DefaultWorkloadTOML)
	if err != nil {
		panic(err) // a test parses it; this cannot happen in a built binary
	}
	return w
}

// DefaultChurn is the default churn model.
func DefaultChurn() *Churn {
	c, err := ParseChurn("defaults/churn.toml", DefaultChurnTOML)
	if err != nil {
		panic(err)
	}
	return c
}

// maxModelFile bounds what LoadWorkload and LoadChurn read: a model is a
// few kilobytes, and a table of MaxTable rows fits well inside this.
const maxModelFile = 4 << 20

// LoadWorkload reads and checks a workload model file.
func LoadWorkload(path string) (*Workload, error) {
	data, err := readModel(path)
	if err != nil {
		return nil, err
	}
	return ParseWorkload(filepath.Base(path), data)
}

// LoadChurn reads and checks a churn model file.
func LoadChurn(path string) (*Churn, error) {
	data, err := readModel(path)
	if err != nil {
		return nil, err
	}
	return ParseChurn(filepath.Base(path), data)
}

func readModel(path string) ([]byte, error) {
	data, err := smallfile.Read(path, maxModelFile)
	if errors.Is(err, smallfile.ErrTooLarge) {
		// Its size is a fault of the model (the error names the file).
		return nil, &ModelError{File: filepath.Base(path), Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return data, nil
}

type workloadFile struct {
	Session *struct {
		Passive         *Spec `toml:"passive"`
		PassiveDuration *Spec `toml:"passive_duration"`
		Queries         *Spec `toml:"queries"`
		FirstQuery      *Spec `toml:"first_query"`
		Interarrival    *Spec `toml:"interarrival"`
		AfterLast       *Spec `toml:"after_last"`
	} `toml:"session"`
	Queries *struct {
		Distinct *int64   `toml:"distinct"`
		Exponent *float64 `toml:"exponent"`
	} `toml:"queries"`
	Content *struct {
		Files    *int64   `toml:"files"`
		Exponent *float64 `toml:"exponent"`
		PerNode  *Spec    `toml:"per_node"`
		Size     *Spec    `toml:"size"`
	} `toml:"content"`
}

type churnFile struct {
	Arrivals *struct {
		Process *string `toml:"process"`
	} `toml:"arrivals"`
	Ultrapeer *struct {
		Lifetime *Spec `toml:"lifetime"`
	} `toml:"ultrapeer"`
	Short *struct {
		Share    *float64 `toml:"share"`
		Duration *Spec    `toml:"duration"`
	} `toml:"short"`
}

// ParseWorkload decodes and checks a workload model; name is used in errors.
func ParseWorkload(name string, data []byte) (*Workload, error) {
	var f workloadFile
	if err := decodeStrict(name, data, &f); err != nil {
		return nil, err
	}
	c := checker{file: name}
	w := &Workload{Name: name}
	if s := f.Session; c.table("session", s != nil) {
		w.Session = SessionModel{
			Passive:         c.dist("session.passive", s.Passive, indicator),
			PassiveDuration: c.dist("session.passive_duration", s.PassiveDuration, duration),
			Queries:         c.dist("session.queries", s.Queries, countFrom1),
			FirstQuery:      c.dist("session.first_query", s.FirstQuery, duration),
			Interarrival:    c.dist("session.interarrival", s.Interarrival, duration),
			AfterLast:       c.dist("session.after_last", s.AfterLast, duration),
		}
	}
	if q := f.Queries; c.table("queries", q != nil) {
		w.Queries.Distinct = c.count("queries.distinct", q.Distinct)
		w.Queries.Exponent = c.exponent("queries.exponent", q.Exponent)
		w.Queries.Popularity = c.zipf("queries", w.Queries.Exponent, w.Queries.Distinct)
	}
	if ct := f.Content; c.table("content", ct != nil) {
		w.Content.Files = c.count("content.files", ct.Files)
		w.Content.Exponent = c.exponent("content.exponent", ct.Exponent)
		if w.Content.Exponent == w.Queries.Exponent && w.Content.Files == w.Queries.Distinct {
			w.Content.Popularity = w.Queries.Popularity // the same table; it is immutable
		} else {
			w.Content.Popularity = c.zipf("content", w.Content.Exponent, w.Content.Files)
		}
		w.Content.PerNode = c.dist("content.per_node", ct.PerNode, countFrom0)
		w.Content.Size = c.dist("content.size", ct.Size, bytesize)
	}
	if c.err != nil {
		return nil, c.err
	}
	return w, nil
}

// ParseChurn decodes and checks a churn model; name is used in errors.
func ParseChurn(name string, data []byte) (*Churn, error) {
	var f churnFile
	if err := decodeStrict(name, data, &f); err != nil {
		return nil, err
	}
	c := checker{file: name}
	ch := &Churn{Name: name}
	if a := f.Arrivals; c.table("arrivals", a != nil) {
		switch {
		case a.Process == nil:
			c.fail("arrivals.process", errors.New(`missing (the one process so far is "poisson")`))
		case *a.Process != "poisson":
			c.fail("arrivals.process", fmt.Errorf(`unknown process %q (the one process so far is "poisson")`, *a.Process))
		default:
			ch.Arrivals = *a.Process
		}
	}
	if u := f.Ultrapeer; c.table("ultrapeer", u != nil) {
		ch.UltrapeerLifetime = c.dist("ultrapeer.lifetime", u.Lifetime, duration)
	}
	if s := f.Short; c.table("short", s != nil) {
		switch {
		case s.Share == nil:
			c.fail("short.share", errors.New("missing"))
		case !(*s.Share >= 0 && *s.Share < 1):
			c.fail("short.share", fmt.Errorf("must be in [0, 1), got %s", num(*s.Share)))
		default:
			ch.ShortShare = *s.Share
		}
		ch.ShortDuration = c.dist("short.duration", s.Duration, duration)
	}
	if c.err != nil {
		return nil, c.err
	}
	return ch, nil
}

// decodeStrict decodes with unknown keys refused, and turns go-toml's
// errors into a ModelError with the key and line it reports.
func decodeStrict(name string, data []byte, v any) error {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) && len(sm.Errors) > 0 {
		e := sm.Errors[0]
		row, _ := e.Position()
		msg := "unknown key"
		if n := len(sm.Errors) - 1; n > 0 {
			msg += fmt.Sprintf(" (and %d more)", n)
		}
		return &ModelError{File: name, Line: row, Key: strings.Join(e.Key(), "."), Err: errors.New(msg)}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		return &ModelError{File: name, Line: row, Key: strings.Join(de.Key(), "."),
			Err: errors.New(strings.TrimPrefix(de.Error(), "toml: "))}
	}
	return &ModelError{File: name, Err: err}
}

// kind is what a model field means, and so which draws it may take.
type kind int

const (
	duration   kind = iota // seconds: >= 0 with a finite mean
	bytesize               // bytes: > 0 with a finite mean
	countFrom0             // an integer >= 0
	countFrom1             // an integer >= 1
	indicator              // 0 or 1
)

// checker collects the first error of a model, so Parse can check every
// field in one straight pass.
type checker struct {
	file string
	err  error
}

func (c *checker) fail(key string, err error) {
	if c.err == nil {
		c.err = &ModelError{File: c.file, Key: key, Err: err}
	}
}

func (c *checker) table(key string, present bool) bool {
	if !present {
		c.fail(key, errors.New("missing table"))
	}
	return present
}

func (c *checker) dist(key string, s *Spec, k kind) Dist {
	if s == nil {
		c.fail(key, errors.New("missing"))
		return nil
	}
	d, err := s.Compile()
	if err != nil {
		c.fail(key, err)
		return nil
	}
	var problem string
	switch k {
	case duration:
		if d.Min() < 0 {
			problem = "is a time in seconds and may not be negative"
		}
	case bytesize:
		if d.Min() < 0 || d.CDF(0) > 0 {
			problem = "is a size in bytes and must be positive"
		}
	case countFrom0, countFrom1:
		lo := float64(k - countFrom0)
		if !d.Discrete() || d.Min() < lo {
			problem = fmt.Sprintf("is a count >= %d: it needs a family that draws integers from %d up (constant, discrete, geometric, zipf)", int(lo), int(lo))
		}
	case indicator:
		if !d.Discrete() || d.Min() < 0 || d.CDF(1) < 1 || d.CDF(0.5) != d.CDF(0) {
			problem = "draws 1 (passive) or 0 (active): use bernoulli"
		}
	}
	if problem == "" && math.IsInf(d.Mean(), 0) {
		problem = "has no finite mean; the session generator needs one (warm-up and Little's law)"
	}
	if problem != "" {
		c.fail(key, fmt.Errorf("%s %s", d, problem))
		return nil
	}
	return d
}

func (c *checker) count(key string, v *int64) int {
	switch {
	case v == nil:
		c.fail(key, errors.New("missing"))
	case *v < 1 || *v > MaxZipfN:
		c.fail(key, fmt.Errorf("must be in 1..%d, got %d", MaxZipfN, *v))
	default:
		return int(*v)
	}
	return 0
}

func (c *checker) exponent(key string, v *float64) float64 {
	switch {
	case v == nil:
		c.fail(key, errors.New("missing"))
	case !(*v > 0) || math.IsInf(*v, 0):
		c.fail(key, fmt.Errorf("must be a finite number > 0, got %s", num(*v)))
	default:
		return *v
	}
	return 0
}

func (c *checker) zipf(key string, s float64, n int) Dist {
	if c.err != nil {
		return nil
	}
	d, err := NewZipf(s, n)
	if err != nil {
		c.fail(key, err)
	}
	return d
}
