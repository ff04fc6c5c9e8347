// Command soak runs a Gnutella network of Govent servents on loopback TCP
// in one process, under churn and searches, and checks that it stays
// healthy: `make soak` (SOAK_DURATION=2m for a shorter run).
//
// Each servent listens on, and dials from, an address of its own in
// 127.0.0.0/8, so per-address limits see distinct hosts. The network starts
// with -ultrapeers ultrapeers and leaves up to -nodes, every leaf configured
// with three ultrapeers; after a warm-up, every second one node leaves
// (Close) and a new one of the same role joins, configured with three live
// ultrapeers, and a settled node searches for a word some node shares.
// After -duration the churn stops, and the network idles for a while
// (longer than two keepalive periods) before it is measured again.
//
// It reports queries answered among those for which a settled node shared
// a matching file from the query's start to its end (target at least
// -answered), link drops by reason (no drop for lack of keepalives
// allowed), and goroutines, open file descriptors and live heap after the
// warm-up and at the end, and exits 1 when a target is missed. Everything
// is bounded: it stops by itself, or is stopped with exit 1 if it overruns
// its schedule by -grace.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/govent/govent/cmd/internal/english"
	"github.com/govent/govent/servent"
)

// vocabulary are the words shared files are named with: each node shares
// two files with words of its own draw, so each word is online on about
// three nodes at a time.
var vocabulary = strings.Fields(`amber birch cedar delta ember fjord
	garnet harbor indigo juniper kelp lagoon maple nectar onyx pebble quartz
	raven saffron tundra umber violet walnut yarrow zephyr basalt cobalt
	dune estuary fern`)

type options struct {
	duration, warmup, idle, settle, window, grace time.Duration
	nodes, ultrapeers                             int
	answered                                      float64
	seed                                          uint64
	verbose                                       bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the churn and searches last")
	flag.DurationVar(&o.warmup, "warmup", 45*time.Second, "how long the network forms before the first measurement")
	flag.DurationVar(&o.idle, "idle", 75*time.Second, "how long the network idles after the churn, before the last measurement")
	flag.DurationVar(&o.settle, "settle", 40*time.Second, "how long a node must be up to search or count as online (one QRP update and then some)")
	flag.DurationVar(&o.window, "window", 10*time.Second, "how long a search waits for a result")
	flag.DurationVar(&o.grace, "grace", 3*time.Minute, "how far the run may overrun its schedule before it is stopped")
	flag.IntVar(&o.nodes, "nodes", 50, "servents in the network")
	flag.IntVar(&o.ultrapeers, "ultrapeers", 10, "of which ultrapeers")
	flag.Float64Var(&o.answered, "answered", 0.95, "target: share of answerable queries answered")
	flag.Uint64Var(&o.seed, "seed", uint64(time.Now().UnixNano()), "random seed")
	flag.BoolVar(&o.verbose, "v", false, "log the servents' warnings")
	flag.Parse()
	if o.ultrapeers < 3 || o.nodes <= o.ultrapeers {
		fmt.Fprintln(os.Stderr, "soak: need at least 3 ultrapeers and more nodes than ultrapeers")
		os.Exit(2)
	}
	os.Exit(run(o, os.Stdout))
}

func run(o options, out io.Writer) int {
	schedule := o.warmup + o.duration + o.window + o.idle
	watchdog := time.AfterFunc(schedule+o.grace, func() {
		fmt.Fprintf(os.Stderr, "soak: still running %s after its %s schedule: stopped\n", o.grace, schedule)
		os.Exit(1)
	})
	defer watchdog.Stop()
	tmp, err := os.MkdirTemp("", "govent-soak-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	k := &soak{o: o, tmp: tmp, rng: rand.New(rand.NewPCG(o.seed, 0x50a4)), drops: map[string]int{}}
	if o.verbose {
		k.log = zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
			zapcore.Lock(os.Stderr), zapcore.WarnLevel))
	} else {
		k.log = zap.NewNop()
	}
	fmt.Fprintf(out, "soak: %s (%s) on loopback, churn and searches for %s, seed %d\n",
		english.Count(int(o.nodes), "servent", "servents"), english.Count(int(o.ultrapeers), "ultrapeer", "ultrapeers"), o.duration, o.seed)
	for i := range o.nodes {
		if err := k.join(i < o.ultrapeers); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			k.closeAll()
			return 1
		}
	}
	time.Sleep(o.warmup)
	start := k.measure()
	k.counting.Store(true)

	var searches sync.WaitGroup
	tick := time.NewTicker(time.Second)
	for end := time.Now().Add(o.duration); time.Now().Before(end); {
		<-tick.C
		go k.churn()
		searches.Add(1)
		go func() {
			defer searches.Done()
			k.search()
		}()
	}
	tick.Stop()
	searches.Wait()
	k.churning.Wait()
	atEnd := k.measure()
	time.Sleep(o.idle)
	last := k.measure()
	k.counting.Store(false)
	k.closeAll()
	return k.report(out, start, atEnd, last)
}

// node is one servent of the soak.
type node struct {
	id      int
	s       *servent.Servent
	up      bool // an ultrapeer
	words   []string
	joined  time.Time
	left    time.Time // zero while online
	leaving bool      // chosen to leave: no longer counted as online
}

type soak struct {
	o   options
	tmp string
	log *zap.Logger

	mu       sync.Mutex
	rng      *rand.Rand
	live     []*node
	nextIP   int
	churning sync.WaitGroup

	counting atomic.Bool
	dropsMu  sync.Mutex
	drops    map[string]int

	answerable, answered, unanswerable, skipped atomic.Int64
	joinFailed                                  atomic.Int64
	misses                                      []string // a few unanswered queries, under mu
}

// ip returns the i-th soak address: 127.0.1.1, 127.0.1.2, ...
func ip(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(1 + i/250/250), byte(1 + i/250%250), byte(1 + i%250)})
}

// join starts a node and adds it to the network.
func (k *soak) join(ultrapeer bool) error {
	k.mu.Lock()
	id := k.nextIP
	k.nextIP++
	words := []string{vocabulary[k.rng.IntN(len(vocabulary))], vocabulary[k.rng.IntN(len(vocabulary))]}
	var peers []string
	for _, i := range k.rng.Perm(len(k.live)) {
		if n := k.live[i]; n.up && !n.leaving && len(peers) < 3 {
			peers = append(peers, n.s.Addr().String())
		}
	}
	k.mu.Unlock()

	share := filepath.Join(k.tmp, fmt.Sprint(id))
	if err := os.MkdirAll(share, 0o755); err != nil {
		return err
	}
	for j, w := range words {
		name := fmt.Sprintf("%s n%dx%d.dat", w, id, j)
		if err := os.WriteFile(filepath.Join(share, name), []byte(name), 0o644); err != nil {
			return err
		}
	}
	a := ip(id)
	mode := servent.ModeLeaf
	if ultrapeer {
		mode = servent.ModeUltrapeer
	}
	cfg := servent.Config{
		Listen:          netip.AddrPortFrom(a, 6346).String(),
		Network:         servent.TCPFrom(a),
		Peers:           peers,
		Connections:     3,
		ShareDir:        share,
		HashBeforeStart: true,
		AllowPrivate:    true,
		Mode:            mode,
		Logger:          k.log.Named(fmt.Sprint("n", id)),
		OnEvent:         k.event,
	}
	s, err := servent.New(cfg)
	if err != nil {
		return fmt.Errorf("node %d: %w", id, err)
	}
	if err := s.Start(context.Background()); err != nil {
		return fmt.Errorf("node %d: %w", id, err)
	}
	k.mu.Lock()
	k.live = append(k.live, &node{id: id, s: s, up: ultrapeer, words: words, joined: time.Now()})
	k.mu.Unlock()
	return nil
}

// churn makes a random node leave and a new one of the same role join.
func (k *soak) churn() {
	k.churning.Add(1)
	defer k.churning.Done()
	k.mu.Lock()
	var n *node
	for range 10 {
		if c := k.live[k.rng.IntN(len(k.live))]; !c.leaving {
			n = c
			break
		}
	}
	if n == nil {
		k.mu.Unlock()
		return
	}
	n.leaving = true
	k.mu.Unlock()
	n.s.Close()
	k.mu.Lock()
	n.left = time.Now()
	k.live = slices.DeleteFunc(k.live, func(c *node) bool { return c == n })
	k.mu.Unlock()
	if err := k.join(n.up); err != nil {
		k.joinFailed.Add(1)
		fmt.Fprintln(os.Stderr, "soak:", err)
	}
}

// settled returns the online nodes up since before t-settle, not leaving.
func (k *soak) settled(t time.Time) []*node {
	var out []*node
	for _, n := range k.live {
		if !n.leaving && !n.joined.After(t.Add(-k.o.settle)) {
			out = append(out, n)
		}
	}
	return out
}

// search has a settled node search for a vocabulary word for one window,
// and counts the query as answerable if a settled node other than the
// querier shared the word throughout.
func (k *soak) search() {
	begin := time.Now()
	k.mu.Lock()
	cands := k.settled(begin)
	if len(cands) == 0 {
		k.mu.Unlock()
		return
	}
	q := cands[k.rng.IntN(len(cands))]
	word := vocabulary[k.rng.IntN(len(vocabulary))]
	var sharers []*node
	for _, n := range cands {
		if n != q && slices.Contains(n.words, word) {
			sharers = append(sharers, n)
		}
	}
	k.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), k.o.window)
	defer cancel()
	found := false
	if sr, err := q.s.Search(ctx, word); err == nil {
		for r := range sr.Results {
			if strings.HasPrefix(r.Name, word+" ") {
				found = true
				cancel()
			}
		}
	}
	k.mu.Lock()
	querierStayed := !q.leaving
	stayed := 0
	for _, n := range sharers {
		if !n.leaving {
			stayed++
		}
	}
	k.mu.Unlock()
	switch {
	case !querierStayed:
		k.skipped.Add(1)
	case stayed == 0:
		k.unanswerable.Add(1)
	default:
		k.answerable.Add(1)
		if found {
			k.answered.Add(1)
			return
		}
		k.mu.Lock()
		if len(k.misses) < 10 {
			desc := func(n *node) string {
				role := "leaf"
				if n.up {
					role = "ultrapeer"
				}
				return fmt.Sprintf("%s n%d (%d links, up %s)", role, n.id, len(n.s.Peers()), time.Since(n.joined).Round(time.Second))
			}
			m := fmt.Sprintf("%q from %s; shared by", word, desc(q))
			for _, n := range sharers {
				if !n.leaving {
					m += " " + desc(n)
				}
			}
			k.misses = append(k.misses, m)
		}
		k.mu.Unlock()
	}
}

// event counts link drops by reason while the soak measures.
func (k *soak) event(e servent.Event) {
	if e.Kind != servent.EventDisconnected || !k.counting.Load() {
		return
	}
	k.dropsMu.Lock()
	k.drops[dropReason(e)]++
	k.dropsMu.Unlock()
}

// dropReason names why a link ended, from one end.
func dropReason(e servent.Event) string {
	switch {
	case e.ByeSent == 405 || e.ByeReceived == 405 || e.ByeSent == 406 || e.ByeReceived == 406:
		return fmt.Sprintf("keepalive (Bye %d)", max(e.ByeSent, e.ByeReceived))
	case e.ByeSent != 0:
		return fmt.Sprintf("sent Bye %d", e.ByeSent)
	case e.ByeReceived != 0:
		return fmt.Sprintf("received Bye %d", e.ByeReceived)
	case e.Detail == "":
		return "closed without Bye"
	case strings.Contains(e.Detail, "reset"):
		return "reset"
	case strings.Contains(e.Detail, "timeout"):
		return "timeout"
	}
	return "error: " + e.Detail
}

// usage is a measurement of the whole process.
type usage struct {
	nodes, linkEnds, goroutines, fds int
	heap                             uint64
	// leafUPs counts the leaves by their ultrapeers (3 or more in the
	// last); lonelyUPs the ultrapeers without an ultrapeer neighbour.
	leafUPs   [4]int
	lonelyUPs int
}

func (k *soak) measure() usage {
	k.mu.Lock()
	var u usage
	for _, n := range k.live {
		u.nodes++
		peers := n.s.Peers()
		u.linkEnds += len(peers)
		ups := 0
		for _, p := range peers {
			if p.Ultrapeer && !p.Leaf {
				ups++
			}
		}
		switch {
		case !n.up:
			u.leafUPs[min(ups, 3)]++
		case ups == 0:
			u.lonelyUPs++
		}
	}
	k.mu.Unlock()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u.heap = ms.HeapAlloc
	u.goroutines = runtime.NumGoroutine()
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		u.fds = len(fds)
	}
	return u
}

func (k *soak) closeAll() {
	k.mu.Lock()
	nodes := slices.Clone(k.live)
	k.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() { n.s.Close() })
	}
	wg.Wait()
}

// grownTooMuch checks end against start, scaled by the links (each holds
// goroutines, sockets and buffers of its own): within 10% plus a constant
// for goroutines and descriptors, 25% plus 32 MiB for the heap (route
// tables and host caches fill up during the run).
func grownTooMuch(start, end usage) []string {
	scale := 1.0
	if start.linkEnds > 0 {
		scale = max(1, float64(end.linkEnds)/float64(start.linkEnds))
	}
	var out []string
	check := func(what string, s, e float64, factor, extra float64) {
		if limit := s*scale*factor + extra; e > limit {
			out = append(out, fmt.Sprintf("%s grew from %.0f to %.0f (limit %.0f)", what, s, e, limit))
		}
	}
	check("goroutines", float64(start.goroutines), float64(end.goroutines), 1.10, 25)
	check("file descriptors", float64(start.fds), float64(end.fds), 1.10, 25)
	check("heap bytes", float64(start.heap), float64(end.heap), 1.25, 32<<20)
	return out
}

func (k *soak) report(out io.Writer, start, atEnd, last usage) int {
	answerable, answered := k.answerable.Load(), k.answered.Load()
	fmt.Fprintf(out, "\nqueries: %d answerable, %d answered", answerable, answered)
	share := 0.0
	if answerable > 0 {
		share = float64(answered) / float64(answerable)
		fmt.Fprintf(out, " (%.1f%%)", 100*share)
	}
	fmt.Fprintf(out, "; %d with no settled sharer online, %d whose querier left\n", k.unanswerable.Load(), k.skipped.Load())
	fmt.Fprintln(out, "link drops by reason (counted at each end):")
	keepalive := 0
	reasons := make([]string, 0, len(k.drops))
	for r := range k.drops {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		fmt.Fprintf(out, "  %-28s %6d\n", r, k.drops[r])
		if strings.HasPrefix(r, "keepalive") {
			keepalive += k.drops[r]
		}
	}
	fmt.Fprintf(out, "%-22s %10s %10s %10s %14s %8s\n", "", "nodes", "link ends", "goroutines", "heap", "fds")
	for _, row := range []struct {
		name string
		u    usage
	}{{"after warm-up", start}, {"when churn stopped", atEnd}, {"after idling", last}} {
		fmt.Fprintf(out, "%-22s %10d %10d %10d %11.1f MiB %8d   leaves with 0/1/2/3 ultrapeers: %v, lonely ultrapeers: %d\n",
			row.name, row.u.nodes, row.u.linkEnds, row.u.goroutines, float64(row.u.heap)/(1<<20), row.u.fds,
			row.u.leafUPs, row.u.lonelyUPs)
	}
	if len(k.misses) > 0 {
		fmt.Fprintln(out, "some answerable queries that got nothing (links of the querier; of the sharers):")
		for _, m := range k.misses {
			fmt.Fprintln(out, "  "+m)
		}
	}

	var failed []string
	if share < k.o.answered {
		failed = append(failed, fmt.Sprintf("%.1f%% of answerable queries answered, target %.0f%%", 100*share, 100*k.o.answered))
	}
	if minQueries := int64(k.o.duration / time.Second / 4); answerable < minQueries {
		failed = append(failed, fmt.Sprintf("only %d answerable queries, fewer than %d to judge by", answerable, minQueries))
	}
	if keepalive > 0 {
		failed = append(failed, english.Count(int(keepalive), "link", "links")+" dropped for lack of keepalives")
	}
	if n := k.joinFailed.Load(); n > 0 {
		failed = append(failed, english.Count(int(n), "node", "nodes")+" failed to join")
	}
	failed = append(failed, grownTooMuch(start, last)...)
	if len(failed) > 0 {
		fmt.Fprintln(out, "\nFAIL")
		for _, f := range failed {
			fmt.Fprintln(out, "  "+f)
		}
		return 1
	}
	fmt.Fprintln(out, "\nPASS")
	return 0
}
