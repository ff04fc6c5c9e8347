package peer

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Summary is what a run did: the cases per area, the answers by kind, the
// checks and the findings.
type Summary struct {
	Target          string                  `json:"target"`
	Seed            uint64                  `json:"seed"`
	Areas           []Area                  `json:"areas"`
	Seconds         float64                 `json:"seconds"`
	Stopped         string                  `json:"stopped"`
	Cases           int                     `json:"cases"`
	CasesPerSecond  float64                 `json:"cases_per_second"`
	PerArea         map[Area]int            `json:"cases_per_area"`
	Answers         map[string]int          `json:"answers"`
	AnswersByArea   map[Area]map[string]int `json:"answers_by_area"`
	Checks          int                     `json:"checks"`
	FailedChecks    int                     `json:"failed_checks"`
	Transient       []Health                `json:"transient,omitempty"`
	DiscoveredFiles int                     `json:"discovered_files"`
	Findings        []*Finding              `json:"findings"`
	// Journal is the journal of the cases sent but never checked, left
	// when the run ended before their control check (interrupted).
	Journal string `json:"journal,omitempty"`
	// Warnings say what made the run worth less than its case count.
	Warnings []string `json:"warnings,omitempty"`
	parallel int
	mu       sync.Mutex
}

// maxTransient bounds the transient failures a summary lists.
const maxTransient = 20

func newSummary(cfg Config) *Summary {
	return &Summary{
		Target:        cfg.Target,
		Seed:          cfg.Seed,
		Areas:         cfg.Areas,
		PerArea:       map[Area]int{},
		Answers:       map[string]int{},
		AnswersByArea: map[Area]map[string]int{},
		Findings:      []*Finding{},
		parallel:      cfg.Parallel,
	}
}

// fullShare is the share of cases refused with a handshake 503 past which
// a run warns that they were wasted.
const fullShare = 0.1

func (s *Summary) count(c *Case, a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Cases++
	s.PerArea[c.Area]++
	k := a.Key()
	s.Answers[k]++
	m := s.AnswersByArea[c.Area]
	if m == nil {
		m = map[string]int{}
		s.AnswersByArea[c.Area] = m
	}
	m[k]++
}

func (s *Summary) addCheck(h Health) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Checks++
	if !h.OK {
		s.FailedChecks++
	}
}

func (s *Summary) addTransient(h Health) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.Transient) < maxTransient {
		s.Transient = append(s.Transient, h)
	}
}

func (s *Summary) addFinding(f *Finding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Findings = append(s.Findings, f)
}

func (s *Summary) finish(elapsed time.Duration, stop string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Seconds = elapsed.Seconds()
	s.Stopped = stop
	if s.Seconds > 0 {
		s.CasesPerSecond = float64(s.Cases) / s.Seconds
	}
	sort.SliceStable(s.Findings, func(i, j int) bool { return s.Findings[i].Key < s.Findings[j].Key })
	if full := s.Answers[string(AnswerHandshake)+" 503"]; full > 0 && float64(full) >= fullShare*float64(s.Cases) {
		s.Warnings = append(s.Warnings, fmt.Sprintf("%d of %d cases (%.0f%%) were refused with a handshake 503 (the target's connection slots full) "+
			"and tested nothing past it: run with --parallel below the target's free slots (now %d), or give the target more (govent run --max-peers)",
			full, s.Cases, 100*float64(full)/float64(s.Cases), s.parallel))
	}
}

// Finding is one de-duplicated finding: the mutated field and the effect
// it had, and the reproducer file that shows it.
type Finding struct {
	Key    string `json:"key"` // field/effect
	Field  string `json:"field"`
	Effect Effect `json:"effect"`
	Detail string `json:"detail"`
	File   string `json:"file,omitempty"`
	// Cases and Bytes are the reproducer's size after minimisation;
	// OriginalCases and OriginalBytes before.
	Cases         int  `json:"cases"`
	Bytes         int  `json:"bytes"`
	OriginalCases int  `json:"original_cases"`
	OriginalBytes int  `json:"original_bytes"`
	Reproduced    bool `json:"reproduced"`
	// Seen counts how often the run hit this key.
	Seen int `json:"seen"`
}
