package peer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ReproducerFormat is the version of the reproducer files we write.
const ReproducerFormat = 1

// Reproducer is a finding as a file: the exact bytes sent, one case (one
// connection) after another, and what the oracle saw afterwards. Replay
// sends the cases in order, each on a fresh connection, then runs the
// control check.
type Reproducer struct {
	Format   int       `json:"format"`
	Tool     string    `json:"tool"`
	Target   string    `json:"target"`
	Seed     uint64    `json:"seed"`
	Found    time.Time `json:"found"`
	Key      string    `json:"key"`
	Field    string    `json:"field"`
	Effect   Effect    `json:"effect"`
	Observed string    `json:"observed"`
	// Cases are the connections to replay, minimised; Answers what each
	// got when the minimised form last reproduced.
	Cases   []Case   `json:"cases"`
	Answers []Answer `json:"answers,omitempty"`
	// Reproduced: the minimised cases brought the effect back on replay.
	Reproduced bool `json:"reproduced"`
	// Minimisation took Attempts replays; Original are the cases that
	// were unchecked when the check failed, as sent.
	Attempts int    `json:"minimise_attempts"`
	Original []Case `json:"original"`
}

// Bytes is how many bytes the reproducer's cases send.
func (r *Reproducer) Bytes() int { return casesBytes(r.Cases) }

func casesBytes(cs []Case) int {
	n := 0
	for i := range cs {
		n += cs[i].Bytes()
	}
	return n
}

// ReadReproducer reads a reproducer file. A journal of unchecked cases
// (one JSON case per line, what a run leaves behind when it is killed)
// reads as a reproducer with no recorded effect.
func ReadReproducer(path string) (*Reproducer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fuzz-peer: %w", err)
	}
	var rep Reproducer
	if err := json.Unmarshal(b, &rep); err == nil && rep.Format != 0 {
		if rep.Format != ReproducerFormat {
			return nil, fmt.Errorf("fuzz-peer: %s: reproducer format %d, want %d", path, rep.Format, ReproducerFormat)
		}
		if len(rep.Cases) == 0 {
			return nil, fmt.Errorf("fuzz-peer: %s: no cases", path)
		}
		return &rep, nil
	}
	rep = Reproducer{Format: ReproducerFormat}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var c Case
		if err := json.Unmarshal(line, &c); err != nil || len(c.Steps) == 0 {
			return nil, fmt.Errorf("fuzz-peer: %s: neither a reproducer nor a journal of cases", path)
		}
		rep.Cases = append(rep.Cases, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("fuzz-peer: %s: %w", path, err)
	}
	if len(rep.Cases) == 0 {
		return nil, fmt.Errorf("fuzz-peer: %s: no cases", path)
	}
	return &rep, nil
}

// WriteReproducer writes rep as indented JSON. A reproducer is written
// once, under a name of its own, so a plain write is enough.
func WriteReproducer(path string, rep *Reproducer) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("fuzz-peer: encoding reproducer: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("fuzz-peer: writing reproducer: %w", err)
	}
	return nil
}

// findingKey is how findings are de-duplicated: the mutated field and the
// effect it had.
func findingKey(field string, e Effect) string { return field + "/" + string(e) }

// record turns a confirmed failure into a finding: it isolates the case
// (or cases) that cause it, files it under its key, minimises a new one
// and writes its reproducer.
func (r *runner) record(ctx context.Context, h Health, suspects []Case) {
	rep := &Reproducer{
		Format: ReproducerFormat, Tool: "govent fuzz-peer", Target: r.cfg.Target, Seed: r.cfg.Seed,
		Found: time.Now().UTC(), Effect: h.Effect, Observed: h.Detail,
		Original: suspects, Cases: suspects,
	}
	var budget *minimiseBudget
	if r.cfg.MinimiseTime > 0 {
		budget = r.min.budget()
		rep.Cases = r.min.isolate(ctx, budget, suspects, h.Effect)
	}
	rep.Field = mainField(rep.Cases)
	rep.Key = findingKey(rep.Field, h.Effect)
	r.mu.Lock()
	f, dup := r.keys[rep.Key]
	if dup {
		f.Seen++
	}
	r.mu.Unlock()
	if dup {
		r.cfg.Logf("finding %s seen again (case %d)", rep.Key, lastIndex(suspects))
		return
	}
	if budget != nil {
		rep.Cases = r.min.shrink(ctx, budget, rep.Cases, h.Effect)
		rep.Attempts = budget.attempts
		rep.Reproduced = budget.reproduced
		rep.Answers = budget.answers
	}
	f = &Finding{
		Key: rep.Key, Field: rep.Field, Effect: h.Effect, Detail: h.Detail,
		Cases: len(rep.Cases), Bytes: rep.Bytes(), OriginalCases: len(suspects), OriginalBytes: casesBytes(suspects),
		Reproduced: rep.Reproduced, Seen: 1,
	}
	if r.cfg.OutDir != "" {
		f.File = filepath.Join(r.cfg.OutDir, reproducerName(rep))
		if err := WriteReproducer(f.File, rep); err != nil {
			r.cfg.Logf("%v", err)
			f.File = ""
		}
	}
	r.mu.Lock()
	r.keys[rep.Key] = f
	r.mu.Unlock()
	r.sum.addFinding(f)
	r.cfg.Logf("finding %s: %d case(s), %d bytes (from %d, %d bytes), reproduced %v, file %s",
		f.Key, f.Cases, f.Bytes, f.OriginalCases, f.OriginalBytes, f.Reproduced, f.File)
}

// mainField is the field a set of cases is filed under: that of the last
// case, the one sent closest to the failure.
func mainField(cs []Case) string {
	if len(cs) == 0 {
		return "none"
	}
	return cs[len(cs)-1].Field()
}

// reproducerName is a file name from the key and the case index.
func reproducerName(rep *Reproducer) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, rep.Key)
	return fmt.Sprintf("%s-case%d.json", name, lastIndex(rep.Original))
}

// journal keeps the cases that no passing check has cleared yet, written
// before they are sent, so that a run that dies (or a target that takes the
// machine down) leaves them replayable: `fuzz-peer replay` reads it.
type journal struct {
	mu      sync.Mutex
	f       *os.File
	dir     string
	created bool // the run made dir: an empty one goes again at the end
}

// JournalName is the journal's file name under the output directory.
const JournalName = "unchecked.jsonl"

func openJournal(dir string) (*journal, error) {
	if dir == "" {
		return &journal{}, nil
	}
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fuzz-peer: output directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, JournalName), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("fuzz-peer: journal: %w", err)
	}
	return &journal{f: f, dir: dir, created: errors.Is(statErr, os.ErrNotExist)}, nil
}

// add appends one case. Errors only cost the crash safety net, so they are
// not fatal to the run.
func (j *journal) add(c *Case) {
	if j.f == nil {
		return
	}
	b, err := json.Marshal(c)
	if err != nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	_, _ = j.f.Write(append(b, '\n'))
}

// rewriteLocked replaces the journal with the cases still unchecked; j.mu
// is held.
func (j *journal) rewriteLocked(cs []Case) {
	if j.f == nil {
		return
	}
	if err := j.f.Truncate(0); err != nil {
		return
	}
	if _, err := j.f.Seek(0, 0); err != nil {
		return
	}
	var b []byte
	for i := range cs {
		line, err := json.Marshal(&cs[i])
		if err != nil {
			continue
		}
		b = append(append(b, line...), '\n')
	}
	_, _ = j.f.Write(b)
}

// close closes the journal, and removes it when every case it held was
// checked (an interrupted run keeps what it did not get to check). It
// returns the journal's path when it stays, else "".
func (j *journal) close(checked bool) string {
	if j.f == nil {
		return ""
	}
	name := j.f.Name()
	j.f.Close()
	if !checked {
		return name
	}
	_ = os.Remove(name)
	if j.created {
		_ = os.Remove(j.dir) // only goes when empty: no finding was written
	}
	return ""
}
