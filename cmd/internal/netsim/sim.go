package netsim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/cmd/internal/english"
	"github.com/govent/govent/cmd/internal/p2pmodel"
	"github.com/govent/govent/cmd/internal/p2pnode"
	"github.com/govent/govent/cmd/internal/p2pstats"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/servent/memnet"
)

// Simulate runs one network of real servents as cfg says and returns what
// they did. Without Realtime the network is in memory and the caller runs
// Simulate inside a testing/synctest bubble, where the servents' timers,
// the churn and the users' queries all run on the bubble's virtual clock
// (RunVirtual does this in a child process); with Realtime it runs on
// loopback TCP and the real clock.
//
// The run: a bootstrap ultrapeer (unless cfg.Bootstrap names one), then
// the timeline's initial servents, ultrapeers first, one every Stagger,
// each ultrapeer dialling the ultrapeers its topology picks and each leaf
// the bootstrap node, from whose host cache (X-Try-Ultrapeers, Pongs) it
// learns the rest; Settle later the timeline's time 0, from which
// servents join and leave as the timeline says and users issue their
// queries, for Duration, and SearchWindow more for the last queries'
// results. On error or when ctx ends, the servents are closed and the
// figures so far returned with the error.
func Simulate(ctx context.Context, cfg Config) (*p2pstats.Results, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	run, err := p2pnode.NewRun(p2pmodel.Params{Nodes: cfg.Nodes, Ultrapeers: cfg.Ultrapeers, Duration: cfg.Duration,
		Seed: cfg.Seed, Workload: cfg.Workload, Churn: cfg.Churn},
		p2pstats.Run{Label: string(cfg.Routing), Nodes: cfg.Nodes, Clock: cfg.clock(), Topology: string(cfg.Topology)},
		cfg.Interval, cfg.ShareRoot, MaxSessions)
	if err != nil {
		return nil, fmt.Errorf("netsim: %w", err)
	}
	defer run.Close()
	run.SearchWindow = cfg.SearchWindow
	s := &sim{cfg: cfg, tl: run.Timeline, run: run, nodes: make([]*node, len(run.Timeline.Sessions))}
	if cfg.Realtime {
		s.fab = tcpFabric{bind: cfg.Bind}
	} else {
		s.fab = memFabric{memnet.New()}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.ctx = ctx
	err = s.simulate()
	cancel() // ends the searches still listening (on an error)
	s.closeAll()
	s.run.WaitSearches()
	return run.Stats.Results(), err
}

// sim is one run in progress. Only its scheduling goroutine (simulate)
// starts servents and plans the overlay; queries and closes run on
// goroutines of their own.
type sim struct {
	cfg   Config
	tl    *p2pmodel.Timeline
	run   *p2pnode.Run
	fab   fabric
	ctx   context.Context
	nodes []*node // by session ID; nil until started

	bootstrap  netip.AddrPort
	boot       *servent.Servent // nil when joining an existing network
	bootLinked atomic.Bool      // a servent linked to the network's bootstrap node
	overlay    *overlay
}

// ErrNoBootstrap: no servent could link to the bootstrap node of the
// network joined (Config.Bootstrap).
var ErrNoBootstrap = errors.New("no servent could link to the bootstrap node")

// node is one session's servent.
type node struct {
	id     int
	sv     *servent.Servent
	share  string
	vertex *vertex // ultrapeers: the overlay's vertex
	left   atomic.Bool
}

func (s *sim) simulate() error {
	var initialUPs, initialLeaves []int
	for i := range s.tl.Sessions {
		if s.tl.Sessions[i].Join > 0 {
			break // sorted by Join
		}
		if s.tl.Sessions[i].Role == p2pmodel.Ultrapeer {
			initialUPs = append(initialUPs, i)
		} else {
			initialLeaves = append(initialLeaves, i)
		}
	}
	initial := len(initialUPs) + len(initialLeaves)
	warmup := time.Duration(initial+1)*s.cfg.Stagger + s.cfg.Settle
	s.run.Start = time.Now().Add(warmup)
	if err := s.startBootstrap(); err != nil {
		return err
	}
	s.cfg.Progress(fmt.Sprintf("warm-up: %s (%s), one every %v, then %v to settle; bootstrap node %v",
		english.Count(initial, "servent", "servents"), english.Count(len(initialUPs), "ultrapeer", "ultrapeers"), s.cfg.Stagger, s.cfg.Settle, s.bootstrap))
	for k, id := range slices.Concat(initialUPs, initialLeaves) {
		if err := s.sleep(s.cfg.Stagger); err != nil {
			return err
		}
		if err := s.join(id, k == len(initialUPs)-1, false); err != nil {
			return err
		}
	}
	s.cfg.Progress(fmt.Sprintf("warm-up: %s started", english.Count(initial, "servent", "servents")))
	if err := s.sleepUntil(0); err != nil {
		return err
	}
	if err := s.checkBootstrap(); err != nil {
		return err
	}
	for _, ev := range p2pnode.Schedule(s.tl, s.cfg.Duration, s.cfg.Interval) {
		if err := s.sleepUntil(ev.At); err != nil {
			return err
		}
		if err := s.do(ev); err != nil {
			return err
		}
	}
	if err := s.sleepUntil(s.cfg.Duration); err != nil {
		return err
	}
	s.sample(s.cfg.Duration - 1)
	if line, ok := s.run.Waiting(s.cfg.Duration); ok {
		s.cfg.Progress(line)
	}
	if n := s.run.WaitSearches(); n > 0 {
		return fmt.Errorf("netsim: %s could not be issued", english.Count(int(n), "search", "searches"))
	}
	return nil
}

// checkBootstrap: joining a network (Config.Bootstrap), some servent
// linked to its bootstrap node in the warm-up, or one does now; else the
// run would measure servents that reach nobody, and is an error saying
// why (the node's refusal, or the dial's error).
func (s *sim) checkBootstrap() error {
	if s.boot != nil || s.bootLinked.Load() {
		return nil
	}
	for _, n := range s.nodes {
		if n == nil || n.left.Load() {
			continue
		}
		err := n.sv.Connect(s.bootstrap)
		if err == nil {
			return nil
		}
		return fmt.Errorf("netsim: %w %v: %s", ErrNoBootstrap, s.bootstrap, p2pnode.LinkFailure(err))
	}
	return fmt.Errorf("netsim: %w %v: no servent started", ErrNoBootstrap, s.bootstrap)
}

func (s *sim) do(ev p2pnode.Event) error {
	switch ev.Kind {
	case p2pnode.Join:
		return s.join(ev.Session, false, true)
	case p2pnode.Leave:
		s.leave(ev.Session)
	case p2pnode.Query:
		if n := s.nodes[ev.Session]; n != nil && !n.left.Load() {
			s.run.Search(s.ctx, n.sv, n.id, ev.Query)
		}
	case p2pnode.Sample:
		s.sample(ev.At)
	}
	return nil
}

func (s *sim) sample(at time.Duration) {
	if line, ok := s.run.Sample(at, s.cfg.Interval, "servent", "servents"); ok {
		s.cfg.Progress(line)
	}
}

func (s *sim) sleep(d time.Duration) error { return p2pnode.Sleep(s.ctx, d) }

func (s *sim) sleepUntil(at time.Duration) error { return s.run.SleepUntil(s.ctx, at) }

// serventConfig is what every servent of the run shares.
func (s *sim) serventConfig(k, node int) servent.Config {
	network, listen := s.fab.node(k)
	cfg := servent.Config{
		Listen:          listen,
		Network:         network,
		HashBeforeStart: true,
		AllowPrivate:    true,
		// compress/flate keeps about 800 KiB per compressing link: 5 GiB
		// for a thousand servents' links. Byte figures are descriptor
		// bytes either way.
		NoDeflateIn:    true,
		NoDeflateOut:   true,
		NoQRPFilter:    s.cfg.Routing == Flood,
		NoDynamicQuery: s.cfg.Routing == Flood,
		OnEvent:        s.events(node),
		Logger:         zap.NewNop(),
	}
	if s.cfg.Topology == PowerLaw {
		cfg.MaxPeers = PowerLawMaxPeers
	}
	if s.cfg.Bind.IsValid() {
		// Every servent of a process on one address: the per-address
		// limits would hold the other hosts' servents to a few links.
		cfg.MaxPendingPerIP, cfg.MaxPeersPerIP, cfg.MaxLeavesPerIP = MaxNodes, MaxNodes, MaxNodes
	}
	return cfg
}

// events is the OnEvent of node's servent: the run's, and, joining a
// network, whether it linked to its bootstrap node.
func (s *sim) events(node int) func(servent.Event) {
	events, boot := s.run.Events(node), s.cfg.Bootstrap
	if !boot.IsValid() {
		return events
	}
	return func(e servent.Event) {
		events(e)
		if e.Kind == servent.EventConnected && e.Outgoing && e.Peer == boot {
			s.bootLinked.Store(true)
		}
	}
}

// startBootstrap starts the bootstrap node, or takes the one configured.
func (s *sim) startBootstrap() error {
	if s.cfg.Bootstrap.IsValid() {
		s.bootstrap = s.cfg.Bootstrap
		s.overlay = newOverlay(s.cfg.Topology, s.cfg.Seed, s.bootstrap)
		return nil
	}
	sv, err := servent.New(s.serventConfig(0, len(s.tl.Sessions)))
	if err == nil {
		err = sv.Start(s.ctx)
	}
	if err != nil {
		return fmt.Errorf("netsim: bootstrap node: %w", err)
	}
	s.boot, s.bootstrap = sv, sv.Addr()
	s.overlay = newOverlay(s.cfg.Topology, s.cfg.Seed, s.bootstrap)
	return nil
}

// join starts session id's servent. An ultrapeer dials whom the topology
// picks; a leaf dials the bootstrap node and then hosts it learnt.
func (s *sim) join(id int, closeRing, later bool) error {
	ss := &s.tl.Sessions[id]
	share, err := s.run.Share(id)
	if err != nil {
		return err
	}
	cfg := s.serventConfig(1+id, id)
	cfg.ShareDir = share
	var picks []*vertex
	if ss.Role == p2pmodel.Ultrapeer {
		picks = s.overlay.pick(closeRing, later)
		cfg.Peers = addrs(picks)
		cfg.Connections = len(cfg.Peers)
	} else {
		cfg.Mode = servent.ModeLeaf
		cfg.Peers = []string{s.bootstrap.String()}
		cfg.Connections = servent.DefaultLeafUltrapeers
	}
	sv, err := servent.New(cfg)
	if err == nil {
		err = sv.Start(s.ctx)
	}
	if err != nil {
		os.RemoveAll(share)
		return fmt.Errorf("netsim: session %d (%v): %w", id, ss.Role, err)
	}
	n := &node{id: id, sv: sv, share: share}
	if ss.Role == p2pmodel.Ultrapeer {
		n.vertex = s.overlay.add(sv.Addr(), picks)
	}
	s.nodes[id] = n
	s.run.Joined()
	return nil
}

// leave shuts session id's servent down (Bye 200 to its peers) in the
// background.
func (s *sim) leave(id int) {
	n := s.nodes[id]
	if n == nil || n.left.Swap(true) {
		return
	}
	if n.vertex != nil {
		s.overlay.leave(n.vertex)
	}
	s.run.Gone()
	s.run.Leave(n.sv, n.share)
}

// closeAll shuts down every servent still up, the bootstrap node last,
// and waits for all of them.
func (s *sim) closeAll() {
	for id := range s.nodes {
		s.leave(id)
	}
	s.run.WaitClosed()
	if s.boot != nil {
		s.boot.Close()
	}
}
