// Package workload is govent workload: the session and query model of
// p2pmodel driven against one real servent, ours or another, through
// many client connections, and what came back measured with p2pnode and
// p2pstats.
//
// Each session of the timeline is a leaf (this build's servent in leaf
// mode) that connects to the target and nothing else, sends it its query
// route table, shares its catalog files and issues its user's queries at
// their times; it leaves when its session ends. So the target routes the
// sessions' queries to one another, as an ultrapeer routes its leaves':
// a query is findable when another session connected at the time shares
// the file, and hits from the target's own network count as answers too.
// Runs are bounded in sessions (MaxSessions) and in time (Duration and a
// search window).
package workload

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/cmd/internal/english"
	"github.com/govent/govent/cmd/internal/p2pmodel"
	"github.com/govent/govent/cmd/internal/p2pnode"
	"github.com/govent/govent/cmd/internal/p2pstats"
	"github.com/govent/govent/servent"
)

// Defaults and bounds.
const (
	DefaultSessions = 50
	DefaultDuration = 2 * time.Minute
	// MaxSessions bounds the sessions one run starts, the short churned
	// ones included: each is a servent and a connection to the target.
	MaxSessions = 20000
	// stagger spaces the initial sessions' starts; settle gives their
	// tables time to reach the target before time 0.
	stagger = 20 * time.Millisecond
	settle  = 5 * time.Second
	// redial is how long a session waits to dial the target again after
	// a refusal or a lost link.
	redial = 5 * time.Second
)

// Config is one run against one servent.
type Config struct {
	Target   netip.AddrPort
	Sessions int // mean number online
	Workload *p2pmodel.Workload
	Churn    *p2pmodel.Churn // nil: every session stays for the run
	Duration time.Duration
	Seed     uint64
	// SearchWindow is how long each query is listened to (zero:
	// p2pnode.DefaultSearchWindow).
	SearchWindow time.Duration
	// Network is how session k listens and dials, and the address it
	// listens on. Nil: the operating system's TCP, each session on its
	// own 127.2.x.y when the target is on loopback (so the target's
	// per-address limits see many hosts), else all on From.
	Network func(k int) (servent.Network, string)
	// From is the local address for a target off loopback (zero: the one
	// the system picks, the sessions listening on every interface).
	From netip.Addr
	// ShareRoot is where the share directories go; empty means
	// os.TempDir().
	ShareRoot string
	Interval  time.Duration // of the time series; zero: Duration/100, at least a second
	Progress  func(string)
}

func (c Config) withDefaults() (Config, error) {
	c.Sessions = cmp.Or(c.Sessions, DefaultSessions)
	c.Duration = cmp.Or(c.Duration, DefaultDuration)
	if c.Workload == nil {
		c.Workload = p2pmodel.DefaultWorkload()
	}
	if c.Interval == 0 {
		c.Interval = max(time.Second, (c.Duration / 100).Round(time.Second))
	}
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
	switch {
	case !c.Target.IsValid():
		return c, errors.New("workload: no target")
	case c.Sessions < 1 || c.Sessions > MaxSessions:
		return c, fmt.Errorf("workload: sessions must be 1 to %d, got %d", MaxSessions, c.Sessions)
	case c.Duration < 0 || c.SearchWindow < 0 || c.Interval < 0:
		return c, errors.New("workload: durations must not be negative")
	}
	if c.Network == nil {
		loopback := c.Target.Addr().IsLoopback()
		from := c.From
		c.Network = func(k int) (servent.Network, string) {
			ip := from
			if loopback {
				v := uint32(127<<24|2<<16) + 1 + uint32(k)
				ip = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
			}
			if !ip.IsValid() {
				return nil, ":0" // the system's TCP, its choice of source address
			}
			return servent.TCPFrom(ip), netip.AddrPortFrom(ip, 0).String()
		}
	}
	return c, nil
}

// Run drives cfg's sessions against its target and returns what came
// back. On error or when ctx ends, the sessions leave and the figures so
// far come back with the error.
func Run(ctx context.Context, cfg Config) (*p2pstats.Results, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	run, err := p2pnode.NewRun(p2pmodel.Params{Nodes: cfg.Sessions, Duration: cfg.Duration, Seed: cfg.Seed,
		Workload: cfg.Workload, Churn: cfg.Churn},
		p2pstats.Run{Label: "workload", Nodes: cfg.Sessions, Clock: "real", Target: cfg.Target.String()},
		cfg.Interval, cfg.ShareRoot, MaxSessions)
	if err != nil {
		return nil, fmt.Errorf("workload: %w (fewer sessions or a shorter run)", err)
	}
	defer run.Close()
	run.SearchWindow = cfg.SearchWindow
	d := &driver{cfg: cfg, tl: run.Timeline, run: run, sessions: make([]*session, len(run.Timeline.Sessions))}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.ctx = ctx
	start := time.Now()
	err = d.drive()
	cancel()
	d.leaveAll()
	r := run.Stats.Results()
	r.Run.RealS = time.Since(start).Seconds()
	return r, err
}

type driver struct {
	cfg      Config
	tl       *p2pmodel.Timeline
	run      *p2pnode.Run
	ctx      context.Context
	sessions []*session

	running sync.WaitGroup // the sessions' dialling goroutines
}

// session is one session's leaf and its link to the target. It is online
// while linked.
type session struct {
	id                 int
	sv                 *servent.Servent
	share              string
	stop               context.CancelFunc
	left               atomic.Bool
	linked, linkedOnce atomic.Bool
}

// ErrNoLink: no session could link to the target.
var ErrNoLink = errors.New("no session could link to")

// noLink is ErrNoLink for the run's target, with why the dials failed
// (the commonest reason), or nil when a session linked.
func (d *driver) noLink() error {
	r := d.run.Stats.Results()
	if r.Links.Linked > 0 {
		return nil
	}
	why, most := "", int64(0)
	for _, f := range r.Links.Failed {
		if f.N > most {
			why, most = f.Reason, f.N
		}
	}
	if why == "" {
		return fmt.Errorf("workload: %w %v: no dial completed", ErrNoLink, d.cfg.Target)
	}
	return fmt.Errorf("workload: %w %v: %s", ErrNoLink, d.cfg.Target, why)
}

// linkEvent follows session s's link to the target: it is online from
// its handshake to its end.
func (d *driver) linkEvent(s *session, e servent.Event) {
	if !e.Outgoing {
		return
	}
	switch e.Kind {
	case servent.EventConnected:
		if !s.linked.Swap(true) {
			d.run.Joined()
		}
		if !s.linkedOnce.Swap(true) {
			d.run.Stats.Linked()
		}
	case servent.EventDisconnected:
		d.unlink(s)
	}
}

func (d *driver) unlink(s *session) {
	if s.linked.Swap(false) {
		d.run.Gone()
	}
}

func (d *driver) drive() error {
	var initial []int
	for id := range d.tl.Sessions {
		if d.tl.Sessions[id].Join > 0 {
			break
		}
		initial = append(initial, id)
	}
	d.run.Start = time.Now().Add(time.Duration(len(initial)+1)*stagger + settle)
	d.cfg.Progress(fmt.Sprintf("warm-up: %s connect to %v, one every %v, then %v to settle",
		english.Count(len(initial), "session", "sessions"), d.cfg.Target, stagger, settle))
	for _, id := range initial {
		if err := p2pnode.Sleep(d.ctx, stagger); err != nil {
			return err
		}
		if err := d.join(id); err != nil {
			return err
		}
	}
	if err := d.run.SleepUntil(d.ctx, 0); err != nil {
		return err
	}
	r := d.run.Stats.Results()
	if r.Links.Linked == 0 && len(r.Links.Failed) > 0 {
		return d.noLink() // nothing answered, or it refused every session: no run to measure
	}
	var failed int64
	for _, f := range r.Links.Failed {
		failed += f.N
	}
	d.cfg.Progress(fmt.Sprintf("warm-up: %d of %s linked to %v, %s failed", r.Links.Linked,
		english.Count(len(initial), "session", "sessions"), d.cfg.Target, english.Count(int(failed), "dial", "dials")))
	for _, ev := range p2pnode.Schedule(d.tl, d.cfg.Duration, d.cfg.Interval) {
		if err := d.run.SleepUntil(d.ctx, ev.At); err != nil {
			return err
		}
		switch ev.Kind {
		case p2pnode.Join:
			if err := d.join(ev.Session); err != nil {
				return err
			}
		case p2pnode.Leave:
			d.leave(ev.Session)
		case p2pnode.Query:
			d.query(ev)
		case p2pnode.Sample:
			if line, ok := d.run.Sample(ev.At, d.cfg.Interval, "session", "sessions"); ok {
				d.cfg.Progress(line)
			}
		}
	}
	if err := d.run.SleepUntil(d.ctx, d.cfg.Duration); err != nil {
		return err
	}
	if line, ok := d.run.Waiting(d.cfg.Duration); ok {
		d.cfg.Progress(line)
	}
	if n := d.run.WaitSearches(); n > 0 {
		return fmt.Errorf("workload: %s could not be issued", english.Count(int(n), "search", "searches"))
	}
	return d.noLink()
}

// join starts session id's leaf and keeps it connected to the target,
// and to nothing else, until it leaves.
func (d *driver) join(id int) error {
	share, err := d.run.Share(id)
	if err != nil {
		return err
	}
	network, listen := d.cfg.Network(id)
	s := &session{id: id, share: share}
	events := d.run.Events(id)
	sv, err := servent.New(servent.Config{
		Listen: listen, Network: network, ShareDir: share, HashBeforeStart: true,
		Mode: servent.ModeLeaf, LeafUltrapeers: 1, AllowPrivate: true,
		OnEvent: func(e servent.Event) { events(e); d.linkEvent(s, e) }, Logger: zap.NewNop(),
	})
	if err == nil {
		err = sv.Start(d.ctx)
	}
	if err != nil {
		os.RemoveAll(share)
		return fmt.Errorf("workload: session %d: %w", id, err)
	}
	ctx, stop := context.WithCancel(d.ctx)
	s.sv, s.stop = sv, stop
	d.sessions[id] = s
	d.running.Add(1)
	go func() {
		defer d.running.Done()
		d.keepLinked(ctx, s)
	}()
	return nil
}

// keepLinked dials the target whenever the session has no link to it,
// and counts the dials that fail by why: a refusal is the target's
// answer, and the session tries again. (Config.Peers would also dial
// hosts the target names: the target must be the only servent this tool
// talks to.)
func (d *driver) keepLinked(ctx context.Context, s *session) {
	for ctx.Err() == nil {
		if len(s.sv.Peers()) == 0 {
			if err := s.sv.Connect(d.cfg.Target); err != nil && ctx.Err() == nil {
				d.run.Stats.LinkFailed(p2pnode.LinkFailure(err))
			}
		}
		if p2pnode.Sleep(ctx, redial) != nil {
			return
		}
	}
}

// query issues a session's query, if it is linked: a query of a
// session without a link would reach nobody, and measure nothing of the
// target.
func (d *driver) query(ev p2pnode.Event) {
	s := d.sessions[ev.Session]
	switch {
	case s == nil || s.left.Load():
	case !s.linked.Load():
		d.run.Stats.Unlinked()
	default:
		d.run.Search(d.ctx, s.sv, s.id, ev.Query)
	}
}

// leave ends a session: Bye 200 to the target.
func (d *driver) leave(id int) {
	s := d.sessions[id]
	if s == nil || s.left.Swap(true) {
		return
	}
	s.stop()
	d.unlink(s)
	d.run.Leave(s.sv, s.share)
}

func (d *driver) leaveAll() {
	for id := range d.sessions {
		d.leave(id)
	}
	d.run.WaitClosed()
	d.running.Wait()
	d.run.WaitSearches()
}
