package conform

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/govent/govent/cmd/internal/link"
	"github.com/govent/govent/wire"
)

// DefaultTimeout bounds each wait of a case.
const DefaultTimeout = 5 * time.Second

// caseWaits bounds a whole case in units of the timeout: no case waits
// more than a few times, so one that runs past this is stuck and is cut off.
const caseWaits = 8

// Config is one run of the suite.
type Config struct {
	// Target is the servent under test, host:port. It is the only host
	// the suite connects to.
	Target string
	// Role selects the cases: Both runs every case (skipping those whose
	// role the target does not play); Ultrapeer or Leaf runs that role's
	// cases and the common ones, and fails the role's cases if the target
	// plays the other role.
	Role Role
	// Only and Skip name cases or groups (see Select).
	Only, Skip []string
	// Timeout bounds each wait for an answer. Zero means DefaultTimeout.
	Timeout time.Duration
	// Query holds words of a file the target shares. Cases about QueryHit
	// content, HTTP uploads and Push uploads need one; without it they
	// skip.
	Query string
	// Sources are the local addresses connections come from, in turn.
	// Empty: a fresh address of 127.0.0.0/8 per connection when the
	// target is on IPv4 loopback, the system's choice otherwise.
	Sources []netip.Addr
	// Pace is the least time between two connections from one source
	// address, for targets that ban an address that connects too often
	// (gtk-gnutella needs 30s). Zero: no spacing.
	Pace time.Duration
	// Resolver looks up Target's host when it is a name (nil:
	// net.DefaultResolver). The name is looked up once, and every
	// connection goes to the address it gave.
	Resolver Resolver
	// OnStart, if set, is called once the target answered the role
	// check, before the first case.
	OnStart func(*Report)
	// OnResult, if set, is called after each case, in order.
	OnResult func(Result)
}

// Status is a case's outcome.
type Status int

const (
	Pass Status = iota
	Fail
	Skip
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "PASS"
	case Fail:
		return "FAIL"
	}
	return "SKIP"
}

// Result is one case's outcome with its evidence.
type Result struct {
	Case   *Case
	Status Status
	// Message is the skip reason, the failure in one line, or a note on a
	// pass (what the target chose where the spec allows either).
	Message string
	// Expected and Got are a failure's evidence.
	Expected, Got string
	// Sent is the last few things the case sent, for a failure.
	Sent []string
	// Conns is how many connections the case opened to the target.
	Conns    int
	Duration time.Duration
}

// Report is a whole run.
type Report struct {
	Target string
	// Address is the address Target's name resolved to, which every
	// connection went to ("" when Target is an address).
	Address string
	// TargetRole is the role the target announced when the run started
	// (Both when it could not be told).
	TargetRole Role
	// TargetAgent is its User-Agent.
	TargetAgent string
	// Sources says where the connections came from.
	Sources string
	// Planned is how many connections the selected cases open at most,
	// and Estimate how long pacing alone makes the run at most (zero
	// without --pace).
	Planned  int
	Estimate time.Duration
	Results  []Result
	// Bans are the source addresses the target refused for connecting
	// too often, and why; Gone is why the run stopped early ("" when it
	// did not).
	Bans    []string
	Gone    string
	Elapsed time.Duration

	startSources string // Sources as the run started
}

// Count returns how many results have status s (and, for failures,
// severity sev; pass -1 for any).
func (r *Report) Count(s Status, sev Severity) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == s && (sev < 0 || res.Case.Severity == sev) {
			n++
		}
	}
	return n
}

// OK reports whether every MUST case passed (or skipped).
func (r *Report) OK() bool { return r.Count(Fail, Must) == 0 }

// Run plays the selected cases against cfg.Target, one at a time. It fails
// only when the selection is invalid or the target cannot be reached at
// all; everything the target does wrong is in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	cases, err := Select(Suite(), cfg.Only, cfg.Skip, cfg.Role)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	addr, err := resolveTarget(ctx, cfg.Resolver, cfg.Target, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	st := &runState{cfg: &cfg, addr: addr.String(), src: newSources(addr, cfg.Sources, cfg.Pace)}
	rep := &Report{Target: cfg.Target, Sources: st.src.describe()}
	if st.addr != cfg.Target {
		rep.Address = st.addr
	}
	rep.startSources = rep.Sources
	rep.Planned, rep.Estimate = Plan(cases, cfg.Pace, st.src.count())
	rep.TargetRole, rep.TargetAgent, err = st.detectRole(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.OnStart != nil {
		cfg.OnStart(rep)
	}
	for _, c := range cases {
		if ctx.Err() != nil {
			break
		}
		var res Result
		if gone := st.src.goneReason(); gone != "" {
			// Nothing would answer: say why instead of waiting out
			// every case's timeout.
			res = Result{Case: c, Status: Skip, Message: "not run: " + gone}
		} else {
			res = st.runCase(ctx, c, rep.TargetRole)
			if ctx.Err() != nil {
				break // cut short by the caller (Ctrl-C): no verdict, not a failure
			}
		}
		rep.Results = append(rep.Results, res)
		if cfg.OnResult != nil {
			cfg.OnResult(res)
		}
	}
	rep.Bans, rep.Gone, rep.Sources = st.src.bans(), st.src.goneReason(), st.src.describe()
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// runState is what cases of one run share: the config, the connections'
// sources, and the file found by searching for Config.Query.
type runState struct {
	cfg  *Config
	addr string // the target's address: cfg.Target, its name resolved
	src  *sources

	hitOnce sync.Once
	hit     *Hit
	hitErr  error
}

// detectRole connects once as an ultrapeer and reads the target's
// X-Ultrapeer. A target that refuses the handshake is of unknown role (the
// cases will say more); one that cannot be reached at all, or refuses
// every source we have for connecting too often, is an error.
func (st *runState) detectRole(ctx context.Context) (Role, string, error) {
	const id = "the role check"
	var l *link.Link
	var err error
	for attempt := 0; ; attempt++ {
		l, err = st.connect(ctx, nil, id, true, func(local netip.Addr) (*link.Link, error) {
			return link.Dial(ctx, st.addr, link.Options{Ultrapeer: true, Timeout: st.cfg.Timeout, Local: local})
		})
		var gate *gateError
		if errors.As(err, &gate) {
			return Both, "", fmt.Errorf("conform: %s: %s", st.cfg.Target, gate.reason)
		}
		if l == nil && err != nil {
			// link.DialTCP's error is the dial's cause alone
			// (neterr.Cause): not the target again, nor the source
			// address we bound, which tells the user nothing.
			return Both, "", fmt.Errorf("conform: cannot reach %s: %w", st.cfg.Target, err)
		}
		if errors.Is(err, wire.ErrNotServent) {
			// An HTTP server, say: no case would say anything.
			return Both, "", fmt.Errorf("conform: %s: %w", st.cfg.Target, err)
		}
		why := st.src.answered(l, true, id)
		if why == "" {
			break
		}
		if st.src.count() == 0 || attempt+1 >= st.src.count() {
			return Both, "", fmt.Errorf("conform: %s: %s", st.cfg.Target, why)
		}
	}
	if err != nil {
		return Both, "", nil
	}
	defer l.Close()
	agent, _ := l.Answer.Get("User-Agent")
	if up, ok := l.Answer.Get("X-Ultrapeer"); ok && strings.EqualFold(strings.TrimSpace(up), "false") {
		return Leaf, agent, nil
	}
	return Ultrapeer, agent, nil
}

func (st *runState) runCase(ctx context.Context, c *Case, target Role) Result {
	res := Result{Case: c}
	if c.Role != Both && target != Both && target != c.Role {
		if st.cfg.Role == Both {
			res.Status, res.Message = Skip, fmt.Sprintf("the target is a%s %s; the case needs a%s %s",
				article(target), target, article(c.Role), c.Role)
			return res
		}
		res.Status, res.Message = Fail, fmt.Sprintf("--role %s, but the target announces itself as a%s %s",
			st.cfg.Role, article(target), target)
		return res
	}
	t := &T{ctx: ctx, st: st, cfg: st.cfg, id: c.ID, observed: map[*link.Link]bool{}}
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("conform: internal error in %s: %v", c.ID, p)
			}
		}()
		done <- c.Run(t)
	}()
	err := t.wait(done)
	sent := t.sentLines()
	why := t.unjudged()
	res.Conns = t.conns
	t.cleanup()
	res.Duration = time.Since(start)
	var skip *skipError
	var fail *Failure
	switch {
	case why != "":
		// Whatever the case concluded, the target did not let it test
		// what it tests.
		res.Status, res.Message = Skip, why
	case err == nil:
		res.Status, res.Message = Pass, t.note
	case errors.As(err, &skip):
		res.Status, res.Message = Skip, skip.reason
	case errors.As(err, &fail):
		res.Status, res.Message, res.Expected, res.Got, res.Sent = Fail, fail.Error(), fail.Expected, fail.Got, sent
	default:
		res.Status, res.Message, res.Got, res.Sent = Fail, err.Error(), err.Error(), sent
	}
	return res
}

// wait returns the case's result, cutting it off once it runs past its
// time limit (caseWaits timeouts, plus the time it spent waiting for
// the pace).
func (t *T) wait(done <-chan error) error {
	limit := time.NewTimer(caseWaits * t.cfg.Timeout)
	defer limit.Stop()
	var extended time.Duration
	for {
		select {
		case err := <-done:
			return err
		case <-limit.C:
			t.mu.Lock()
			more := t.paced - extended
			t.mu.Unlock()
			if more > 0 {
				extended += more
				limit.Reset(more)
				continue
			}
			// Cut the case's connections so its waits end, then report it.
			t.abort()
			<-done
			return &Failure{Expected: fmt.Sprintf("the case to finish within %s", caseWaits*t.cfg.Timeout),
				Got: "it was still waiting; its connections were cut"}
		}
	}
}

func article(r Role) string {
	if r == Ultrapeer {
		return "n"
	}
	return ""
}

// T is a case's view of the run: its connections, the timeout, the shared
// file, and the ways to end (Skipf, Failf, a note on success).
type T struct {
	ctx context.Context
	st  *runState
	cfg *Config
	id  string

	mu        sync.Mutex
	links     []*link.Link
	standard  map[*link.Link]bool // opened by Dial: our own well-formed CONNECT
	observed  map[*link.Link]bool // links whose greeting the sources have seen
	listeners []*link.Listener
	note      string
	conns     int           // connections opened to the target
	paced     time.Duration // time spent waiting for the pace
	gated     string        // why a connection was not opened
	why       string        // why the case cannot be judged
}

// Timeout bounds each wait.
func (t *T) Timeout() time.Duration { return t.cfg.Timeout }

// Ultrapeer connects as an ultrapeer, with extra headers.
func (t *T) Ultrapeer(headers ...wire.HandshakeHeader) (*link.Link, error) {
	return t.Dial(link.Options{Ultrapeer: true, Headers: headers})
}

// Leaf connects as a leaf. It offers to read a compressed stream, as
// deployed leaves do: gtk-gnutella refuses a leaf that does not ("403 Gnet
// connection not compressed", src/core/nodes.c, prefer_compressed_gnet).
func (t *T) Leaf(headers ...wire.HandshakeHeader) (*link.Link, error) {
	return t.Dial(link.Options{Headers: headers, AcceptDeflate: true})
}

// Ultrapeers opens n ultrapeer links and waits until the target reads
// every one of them (see Sync).
func (t *T) Ultrapeers(n int) ([]*link.Link, error) {
	out := make([]*link.Link, n)
	for i := range out {
		l, err := t.Ultrapeer()
		if err != nil {
			return nil, fmt.Errorf("link %d of %d: %w", i+1, n, err)
		}
		out[i] = l
	}
	return out, t.Sync(out...)
}

// Sync waits until the target has registered every link. Our side of a
// handshake ends when we have sent the final 200, but the target may still
// be reading it: a Query sent on one link then would not be forwarded to
// a link the target does not know yet. The target answers a Ping on a link
// only once it reads that link, so a Pong on each proves it knows them all.
func (t *T) Sync(ls ...*link.Link) error {
	if len(ls) < 2 {
		return nil
	}
	for _, l := range ls {
		if err := alive(t, l); err != nil {
			return err
		}
	}
	return nil
}

// Notef records a note shown with a pass.
func (t *T) Notef(format string, args ...any) { t.note = fmt.Sprintf(format, args...) }

// Skipf ends the case as not applicable: return its result from Run.
func (t *T) Skipf(format string, args ...any) error {
	return &skipError{reason: fmt.Sprintf(format, args...)}
}

// Failf ends the case as failed with its evidence.
func (t *T) Failf(expected, gotFormat string, args ...any) error {
	return &Failure{Expected: expected, Got: fmt.Sprintf(gotFormat, args...)}
}

func (t *T) sentLines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for i, l := range t.links {
		for _, line := range l.Transcript() {
			if strings.HasPrefix(line, "->") {
				out = append(out, fmt.Sprintf("link %d %s", i+1, line))
			}
		}
	}
	if len(out) > maxSentLines {
		out = append([]string{fmt.Sprintf("(%d earlier lines)", len(out)-maxSentLines)}, out[len(out)-maxSentLines:]...)
	}
	return out
}

// maxSentLines bounds the "sent" evidence of a failure.
const maxSentLines = 6

// abort cuts every connection of the case.
func (t *T) abort() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range t.links {
		l.Conn.Close()
	}
	for _, ln := range t.listeners {
		ln.Close()
	}
}

// cleanup closes the case's links (politely, all at once) and listeners.
func (t *T) cleanup() {
	t.mu.Lock()
	links, lns := t.links, t.listeners
	t.links, t.listeners = nil, nil
	t.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Close()
		}()
	}
	wg.Wait()
	for _, ln := range lns {
		ln.Close()
	}
}

// skipError ends a case that does not apply.
type skipError struct{ reason string }

func (e *skipError) Error() string { return "skipped: " + e.reason }

// Failure is a case's failure: what was expected, and what came back.
type Failure struct {
	Expected string
	Got      string
}

func (f *Failure) Error() string { return "expected " + f.Expected + "; got " + f.Got }

// Hit is the shared file the suite found by searching the target for
// Config.Query: the first result of the first QueryHit the target itself
// sent (hops 0).
type Hit struct {
	Index       uint32
	Name        string
	Size        uint32
	SHA1        wire.SHA1
	HasSHA1     bool
	ServentGUID wire.GUID
	Push        bool // the hit's QHD says the target is firewalled
	Addr        netip.AddrPort
}

// Hit returns the target's file matching Config.Query, searching once per
// run on a connection of its own. Without a match the case skips.
func (t *T) Hit() (*Hit, error) {
	st := t.st
	st.hitOnce.Do(func() { st.hit, st.hitErr = st.discover(t.ctx) })
	if st.hitErr != nil {
		return nil, st.hitErr
	}
	h := *st.hit
	return &h, nil
}

func (st *runState) discover(ctx context.Context) (*Hit, error) {
	if strings.TrimSpace(st.cfg.Query) == "" {
		return nil, &skipError{reason: "no --query given: name words of a file the target shares"}
	}
	const id = "the search for --query"
	l, err := st.connect(ctx, nil, id, true, func(local netip.Addr) (*link.Link, error) {
		return link.Dial(ctx, st.addr, link.Options{Ultrapeer: true, Timeout: st.cfg.Timeout, Local: local})
	})
	if l != nil {
		if why := st.src.answered(l, true, id); why != "" {
			err = errors.New(why)
		}
	}
	if err != nil {
		if l != nil {
			l.Close()
		}
		return nil, &skipError{reason: fmt.Sprintf("searching for --query %q: %v", st.cfg.Query, err)}
	}
	defer l.Close()
	q := newQuery(st.cfg.Query, 1, 0, true)
	if err := l.Send(q); err != nil {
		return nil, &skipError{reason: fmt.Sprintf("searching for --query %q: %v", st.cfg.Query, err)}
	}
	deadline := time.Now().Add(st.cfg.Timeout)
	for {
		r, err := l.Next(time.Until(deadline))
		if err != nil {
			return nil, &skipError{reason: fmt.Sprintf("no QueryHit for --query %q within %s (%v)", st.cfg.Query, st.cfg.Timeout, err)}
		}
		m := r.Msg
		if r.Err != nil || m.Header.Type != wire.TypeQueryHit || m.Header.GUID != q.Header.GUID ||
			m.Header.Hops != 0 || len(m.QueryHit.Results) == 0 {
			continue
		}
		qh := &m.QueryHit
		res := qh.Results[0]
		h := &Hit{Index: res.Index, Name: string(res.Name), Size: res.Size, ServentGUID: qh.ServentGUID, Addr: qh.AddrPort()}
		h.SHA1, h.HasSHA1 = res.Ext.SHA1()
		if qh.HasQHD {
			h.Push, _ = qh.QHD.Push()
		}
		return h, nil
	}
}
