package peer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config is one fuzzing run. Zero fields take the defaults below.
type Config struct {
	// Target is the one host:port the run contacts.
	Target string
	// Areas are the target areas to fuzz; empty means all.
	Areas []Area
	// Seed makes the run repeatable: case i is the same for a seed
	// whatever the target answers and however many run at once.
	Seed uint64
	// Duration stops the run; MaxCases too. At least one must be set.
	Duration time.Duration
	MaxCases int
	// Rate bounds the cases started per second; 0 means no bound.
	Rate float64
	// Parallel is how many cases run at once.
	Parallel int
	// CheckEvery is how many finished cases a control check waits for.
	CheckEvery int
	// AnswerTimeout bounds each wait for an answer to a case.
	AnswerTimeout time.Duration
	// LiveTimeout bounds a control check; SlowAfter is the time past which
	// a passing check is still a finding.
	LiveTimeout, SlowAfter time.Duration
	// RecoverWait is how long the run waits for a target that failed a
	// check to answer again before it gives up; never past Duration. A
	// target that fails the first check was never up: the run stops at
	// once (unless Restart can bring it up, or it answered 503: full).
	RecoverWait time.Duration
	// MinimiseTime bounds the minimisation of each finding (negative: do
	// not minimise); MinimiseAttempts bounds its replays.
	MinimiseTime     time.Duration
	MinimiseAttempts int
	// OutDir receives reproducers and the journal of unchecked cases;
	// empty keeps them in memory only.
	OutDir string
	// Restart, if set, restarts a target that is down (tests, or a user's
	// own supervisor); otherwise the run waits RecoverWait for it.
	Restart func(context.Context) error
	// Dial opens connections; nil means TCPDial.
	Dial DialFunc
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

// Defaults for zero Config fields.
const (
	DefaultParallel         = 16
	DefaultCheckEvery       = 1
	DefaultAnswerTimeout    = 250 * time.Millisecond
	DefaultLiveTimeout      = 5 * time.Second
	DefaultSlowAfter        = 2 * time.Second
	DefaultRecoverWait      = 30 * time.Second
	DefaultMinimiseTime     = time.Minute
	DefaultMinimiseAttempts = 300
)

func (c Config) withDefaults() (Config, error) {
	if c.Target == "" {
		return c, errors.New("fuzz-peer: no target")
	}
	if c.Duration <= 0 && c.MaxCases <= 0 {
		return c, errors.New("fuzz-peer: a run needs a duration or a case count")
	}
	if len(c.Areas) == 0 {
		c.Areas = AllAreas
	}
	defaultTimeouts(&c.AnswerTimeout, &c.LiveTimeout, &c.SlowAfter)
	orDefault(&c.RecoverWait, DefaultRecoverWait)
	orDefault(&c.MinimiseTime, DefaultMinimiseTime)
	if c.Parallel <= 0 {
		c.Parallel = DefaultParallel
	}
	if c.CheckEvery <= 0 {
		c.CheckEvery = DefaultCheckEvery
	}
	if c.MinimiseAttempts <= 0 {
		c.MinimiseAttempts = DefaultMinimiseAttempts
	}
	if c.Dial == nil {
		c.Dial = TCPDial
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c, nil
}

func orDefault(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

// defaultTimeouts fills the timeouts a run and a replay share.
func defaultTimeouts(answer, live, slow *time.Duration) {
	orDefault(answer, DefaultAnswerTimeout)
	orDefault(live, DefaultLiveTimeout)
	orDefault(slow, DefaultSlowAfter)
}

// ParseRate reads a rate as the --rate flag takes it: "200/s", "6000/m",
// "200" (per second), or "0" / "unlimited" for no bound.
func ParseRate(s string) (float64, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "unlimited" || s == "" {
		return 0, nil
	}
	num, unit, _ := strings.Cut(s, "/")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, errors.New("want N/s, N/m, N, or 0 for no bound")
	}
	switch unit {
	case "", "s":
	case "m":
		v /= 60
	default:
		return 0, errors.New("the unit is /s or /m")
	}
	return v, nil
}

// Why a run stopped.
const (
	StopDuration    = "duration"
	StopMaxCases    = "max-cases"
	StopInterrupted = "interrupted"
	StopTargetDown  = "target-down"
)

// caseRun is one dispatched case and, once done, its answer.
type caseRun struct {
	index  uint64
	c      Case // set by the worker that generates it
	done   bool
	answer Answer
	seq    uint64 // completion order
}

// runner is one Run.
type runner struct {
	cfg  Config
	exec *executor
	orc  *oracle
	gen  *generator
	min  *minimiser
	jrnl *journal
	sum  *Summary

	mu      sync.Mutex
	cond    *sync.Cond
	pending []*caseRun // dispatched and not yet cleared by a passing check
	// recent are the last cases cleared, at most a window of them: a
	// target may act on a case's bytes after the case ended (one that got
	// no answer ends on a timeout) and after a check passed, so they are
	// suspects too.
	recent     []Case
	inFlight   int
	doneSeq    uint64
	sinceCheck int
	paused     bool
	dispatched bool // the dispatcher has stopped
	stop       string
	keys       map[string]*Finding
}

// Run fuzzes the target until Duration or MaxCases, or ctx ends. The
// summary is returned even when the run stops early; the error says why it
// could not start or had to stop.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &runner{
		cfg:  cfg,
		exec: &executor{dial: cfg.Dial, target: cfg.Target, src: newSources(cfg.Target), timeout: cfg.AnswerTimeout},
		orc:  &oracle{dial: cfg.Dial, target: cfg.Target, live: cfg.LiveTimeout, slow: cfg.SlowAfter, http: hasArea(cfg.Areas, AreaHTTP)},
		sum:  newSummary(cfg),
		keys: map[string]*Finding{},
	}
	r.cond = sync.NewCond(&r.mu)
	r.min = &minimiser{exec: r.exec, orc: r.orc, restart: cfg.Restart, recoverWait: cfg.RecoverWait,
		maxTime: cfg.MinimiseTime, maxAttempts: cfg.MinimiseAttempts, logf: cfg.Logf}
	if r.jrnl, err = openJournal(cfg.OutDir); err != nil {
		return nil, err
	}
	defer func() {
		r.mu.Lock()
		checked := len(r.pending) == 0
		r.mu.Unlock()
		r.sum.Journal = r.jrnl.close(checked)
	}()
	start := time.Now()
	if cfg.Duration > 0 {
		r.min.end = start.Add(cfg.Duration)
	}
	if h, ok := r.firstCheck(ctx); !ok {
		return r.sum, fmt.Errorf("fuzz-peer: %s is not live: %s", cfg.Target, h.Detail) // its Detail says how
	}
	files := discover(ctx, r.exec, cfg)
	r.sum.DiscoveredFiles = len(files)
	r.gen = newGenerator(cfg.Seed, cfg.Areas, files)

	runCtx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	wake := context.AfterFunc(runCtx, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer wake()

	work := make(chan *caseRun)
	var workers sync.WaitGroup
	for range cfg.Parallel {
		workers.Go(func() {
			for cr := range work {
				// Generated here, in parallel: case i depends on the seed
				// and i alone. Recorded before it is sent: a crash of the
				// target or of this process leaves it in the journal.
				c := r.gen.generate(cr.index)
				r.mu.Lock()
				cr.c = c
				r.mu.Unlock()
				r.jrnl.add(&c)
				r.finish(cr, r.exec.run(ctx, &c))
			}
		})
	}
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		r.checker(ctx)
	}()
	r.dispatch(runCtx, ctx, work, start)
	close(work)
	workers.Wait()
	r.mu.Lock()
	r.dispatched = true
	r.cond.Broadcast()
	r.mu.Unlock()
	<-checked
	r.sum.finish(time.Since(start), r.stop)
	return r.sum, nil
}

// firstCheck is the control check before any case. A target that fails it
// was never up: waiting RecoverWait for it would only delay saying so. A
// Restart hook may bring it up, and a full servent (503) may free a slot,
// so those are waited for.
func (r *runner) firstCheck(ctx context.Context) (Health, bool) {
	h := r.min.orc.check(ctx)
	switch {
	case h.OK || h.Effect == EffectSlow:
		return h, true
	case r.cfg.Restart == nil && h.Effect != effectBusy:
		return h, false
	}
	return r.min.ensureLive(ctx)
}

func hasArea(as []Area, a Area) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// window bounds the cases not yet cleared by a check: with one case at a
// time and a check after each, every case is checked before the next.
func (r *runner) window() int { return r.cfg.CheckEvery + r.cfg.Parallel - 1 }

// dispatch hands out case indexes until the run's end.
func (r *runner) dispatch(runCtx, ctx context.Context, work chan<- *caseRun, start time.Time) {
	for i := uint64(0); ; i++ {
		if r.cfg.MaxCases > 0 && i >= uint64(r.cfg.MaxCases) {
			r.setStop(StopMaxCases)
			return
		}
		if r.cfg.Rate > 0 {
			at := start.Add(time.Duration(float64(i) / r.cfg.Rate * float64(time.Second)))
			sleep(runCtx, time.Until(at))
		}
		cr := &caseRun{index: i}
		r.mu.Lock()
		for (len(r.pending) >= r.window() || r.paused) && r.stop == "" && runCtx.Err() == nil {
			r.cond.Wait()
		}
		if r.stop != "" || runCtx.Err() != nil {
			r.mu.Unlock()
			switch {
			case ctx.Err() != nil:
				r.setStop(StopInterrupted)
			case runCtx.Err() != nil:
				r.setStop(StopDuration)
			}
			return
		}
		r.pending = append(r.pending, cr)
		r.inFlight++
		r.mu.Unlock()
		work <- cr
	}
}

func (r *runner) setStop(why string) {
	r.mu.Lock()
	if r.stop == "" {
		r.stop = why
	}
	r.cond.Broadcast()
	r.mu.Unlock()
}

func (r *runner) finish(cr *caseRun, a Answer) {
	r.sum.count(&cr.c, a)
	r.mu.Lock()
	cr.done, cr.answer = true, a
	r.doneSeq++
	cr.seq = r.doneSeq
	r.inFlight--
	r.sinceCheck++
	r.cond.Broadcast()
	r.mu.Unlock()
}

// checker runs a control check after every CheckEvery finished cases, and
// a last one when the run ends.
func (r *runner) checker(ctx context.Context) {
	for {
		r.mu.Lock()
		for r.sinceCheck < r.cfg.CheckEvery && !(r.dispatched && r.inFlight == 0) {
			r.cond.Wait()
		}
		final := r.dispatched && r.inFlight == 0
		if final && len(r.pending) == 0 {
			r.mu.Unlock()
			return
		}
		mark := r.doneSeq
		r.sinceCheck = 0
		r.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		h := r.orc.check(ctx)
		if ctx.Err() != nil {
			return
		}
		r.sum.addCheck(h)
		if h.OK {
			r.clear(func(cr *caseRun) bool { return cr.done && cr.seq <= mark })
			continue
		}
		r.failure(ctx, h)
	}
}

// clear drops the pending cases that drop says a check has cleared.
func (r *runner) clear(drop func(*caseRun) bool) {
	// The journal is held across, so that no case is added between the
	// list of those left and the rewrite.
	r.jrnl.mu.Lock()
	defer r.jrnl.mu.Unlock()
	r.mu.Lock()
	kept := r.pending[:0]
	for _, cr := range r.pending {
		if !drop(cr) {
			kept = append(kept, cr)
		} else if len(cr.c.Steps) > 0 {
			r.recent = append(r.recent, cr.c)
		}
	}
	if n := len(r.recent) - r.window(); n > 0 {
		r.recent = append(r.recent[:0], r.recent[n:]...)
	}
	clear(r.pending[len(kept):])
	r.pending = kept
	rest := make([]Case, 0, len(kept))
	for _, cr := range kept {
		if len(cr.c.Steps) > 0 { // not generated yet: its worker adds it
			rest = append(rest, cr.c)
		}
	}
	r.cond.Broadcast()
	r.mu.Unlock()
	r.jrnl.rewriteLocked(rest)
}

// failure handles a failed check: it stops new cases, lets those in flight
// end, confirms, and turns what it confirms into a finding.
func (r *runner) failure(ctx context.Context, h Health) {
	r.mu.Lock()
	r.paused = true
	for r.inFlight > 0 {
		r.cond.Wait()
	}
	suspects := append([]Case(nil), r.recent...)
	for _, cr := range r.pending {
		suspects = append(suspects, cr.c)
	}
	r.mu.Unlock()
	defer func() {
		r.clear(func(*caseRun) bool { return true })
		r.mu.Lock()
		r.recent = nil // dealt with
		r.paused = false
		r.cond.Broadcast()
		r.mu.Unlock()
	}()

	confirm := r.orc.settled(ctx)
	switch {
	case h.Effect == effectBusy:
		// A full servent is no bug while case connections are open.
		if confirm.OK {
			r.sum.addTransient(h)
			return
		}
		h = confirm
	case !confirm.OK && !sameEffect(confirm.Effect, h.Effect):
		// Caught going down, a target can fail a check one way and
		// settle another: a control connection queued on its listener as
		// it closed goes unanswered, then connections are refused. Every
		// replay ends on a settled check, so the finding is what that
		// check saw: the first effect may be no case's own, and no
		// suspect would bring it back.
		h = Health{Effect: confirm.Effect, Elapsed: confirm.Elapsed,
			Detail: fmt.Sprintf("%s; the check that failed before it saw %s: %s", confirm.Detail, h.Effect, h.Detail)}
	}
	if confirm.OK && h.Effect != EffectCorrupt {
		// It came back by itself. Slowness on a loaded machine is no
		// finding unless replaying the cases brings it back.
		if ok, _ := r.min.reproduces(ctx, suspects, h.Effect); !ok {
			r.sum.addTransient(h)
			r.cfg.Logf("transient %s after case %d (%s): did not reproduce", h.Effect, lastIndex(suspects), h.Detail)
			return
		}
	}
	r.cfg.Logf("finding: %s after case %d: %s", h.Effect, lastIndex(suspects), h.Detail)
	r.record(ctx, h, suspects)
	if _, ok := r.min.ensureLive(ctx); !ok {
		r.cfg.Logf("%s did not come back within %v: stopping", r.cfg.Target, r.cfg.RecoverWait)
		r.setStop(StopTargetDown)
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func lastIndex(cs []Case) uint64 {
	if len(cs) == 0 {
		return 0
	}
	return cs[len(cs)-1].Index
}
