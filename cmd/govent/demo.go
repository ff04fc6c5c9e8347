package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/urfave/cli/v3"
	"go.uber.org/zap"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run a small Gnutella network on loopback that searches and downloads",
		Description: "Starts --nodes servents in this process on 127.0.0.1, each sharing a few generated\n" +
			"files in a temporary directory, connects them into a random overlay, searches from\n" +
			"n00 for a file that only a firewalled node at least three hops away shares, shows the\n" +
			"route the hit took back, then downloads the file through a Push and a GIV and\n" +
			"verifies its SHA-1. Everything is removed afterwards.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: 12, Usage: "number of servents, 8 to 16"},
			&cli.Uint64Flag{Name: "seed", Usage: "overlay seed, printed to replay a run", DefaultText: "random"},
			&cli.BoolFlag{Name: "verbose", Usage: "also print every servent's log"},
		},
		Action: func(ctx context.Context, c *cli.Command) error {
			if err := wantArgs(c, 0, ""); err != nil {
				return err
			}
			if err := checkFlags(ctx, c, intRange("nodes", 8, 16)); err != nil {
				return err
			}
			n := c.Int("nodes")
			seed := c.Uint64("seed")
			if !c.IsSet("seed") {
				seed = rand.Uint64() % 1_000_000
			}
			log := zap.NewNop()
			if c.Bool("verbose") {
				var err error
				if log, err = newLogger(c.Root().ErrWriter, "info", "console"); err != nil {
					return err
				}
			}
			// Ctrl-C (SIGTERM, SIGHUP, or its output closed) stops the
			// demo where it is, and run's defers close the servents and
			// remove what it wrote; a second signal kills.
			catchEPIPE()
			sigCtx, stop := stopContext(ctx)
			defer stop()
			context.AfterFunc(sigCtx, stop)
			stopCtx, halt := context.WithCancelCause(sigCtx)
			defer halt(nil)
			ctx, cancel := context.WithTimeout(stopCtx, 20*time.Second)
			defer cancel()
			d := &demo{w: stopOnError{c.Root().Writer, halt}, log: log, hitc: make(chan struct{}, 1)}
			err := d.run(ctx, n, seed)
			if err != nil && stopCtx.Err() != nil {
				return fmt.Errorf("demo: interrupted (%v); its servents are closed and its files removed", context.Cause(stopCtx))
			}
			return err
		},
	}
}

// demoTarget is the file only the far, firewalled node shares.
const (
	demoTarget     = "aurora borealis timelapse.mkv"
	demoTargetSize = 3 << 20
	demoQuery      = "aurora borealis"
)

var demoWords = []string{
	"morning", "raga", "harbour", "lights", "river", "song", "desert", "blues", "night", "train",
	"winter", "sonata", "city", "rain", "field", "recording", "ocean", "waves", "mountain", "echo",
}

type demo struct {
	w     io.Writer
	log   *zap.Logger
	mu    sync.Mutex
	names map[netip.AddrPort]string
	hits  []hop         // QueryHit relays, for the route
	hitc  chan struct{} // buffered 1: wakes printRoute when a hit event arrives
	start time.Time
}

type hop struct {
	at       string
	from, to string
	hops     uint8
	guid     wire.GUID
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.w, "[%5.2fs] "+format+"\n", append([]any{time.Since(d.start).Seconds()}, args...)...)
}

func (d *demo) name(a netip.AddrPort) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.names[a]; ok {
		return n
	}
	return a.String()
}

// overlay is a ring with random chords: every node has at least two links
// and the graph has cycles, as real overlays do.
func overlay(n int, rng *rand.Rand) [][2]int {
	var edges [][2]int
	has := map[[2]int]bool{}
	add := func(a, b int) {
		if a == b {
			return
		}
		k := [2]int{min(a, b), max(a, b)}
		if !has[k] {
			has[k] = true
			edges = append(edges, k)
		}
	}
	for i := range n {
		add(i, (i+1)%n)
	}
	for range n / 4 {
		add(rng.IntN(n), rng.IntN(n))
	}
	return edges
}

// distances are BFS hop counts from node 0.
func distances(n int, edges [][2]int) []int {
	adj := make([][]int, n)
	for _, e := range edges {
		adj[e[0]] = append(adj[e[0]], e[1])
		adj[e[1]] = append(adj[e[1]], e[0])
	}
	dist := make([]int, n)
	for i := range dist {
		dist[i] = -1
	}
	dist[0] = 0
	queue := []int{0}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, u := range adj[v] {
			if dist[u] < 0 {
				dist[u] = dist[v] + 1
				queue = append(queue, u)
			}
		}
	}
	return dist
}

// demoSearchWait bounds the wait for the first search result.
const demoSearchWait = 30 * time.Second

func (d *demo) run(ctx context.Context, n int, seed uint64) error {
	d.start = time.Now()
	d.names = map[netip.AddrPort]string{}
	rng := rand.New(rand.NewPCG(seed, 0x60e7))
	edges := overlay(n, rng)
	dist := distances(n, edges)
	target := 0
	for i, di := range dist {
		if di > dist[target] {
			target = i
		}
	}
	if dist[target] < 3 {
		return fmt.Errorf("seed %d gave an overlay with no node three hops from n00; try another --seed", seed)
	}
	ttl := uint8(dist[target] + 1)

	tmp, err := os.MkdirTemp("", "govent-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(tmp)
	d.say("govent demo: %d servents on 127.0.0.1, overlay seed %d, files in %s", n, seed, tmp)

	want, err := d.makeShares(ctx, tmp, n, target, rng)
	if err != nil {
		return err
	}
	nodes := make([]*servent.Servent, n)
	defer func() {
		for _, s := range nodes {
			if s != nil {
				s.Close()
			}
		}
	}()
	for i := range n {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		cfg := servent.Config{
			Listen:          "127.0.0.1:0",
			ShareDir:        filepath.Join(tmp, nodeName(i), "share"),
			DataDir:         filepath.Join(tmp, nodeName(i), "data"),
			MaxPeers:        16,
			Firewalled:      i == target,
			AllowPrivate:    true,
			HashBeforeStart: true,
			DefaultTTL:      ttl,
			NoBootstrap:     true, // the demo's nodes know each other, and nobody else
			// The demo shows a hit routed back along the Query's reverse
			// path and a Push routed along it: an out-of-band reply (the
			// firewalled node has push proxies) would come over UDP and
			// skip both.
			NoUDP:   true,
			Logger:  d.log.Named(nodeName(i)),
			OnEvent: func(e servent.Event) { d.event(i, e) },

			// Every node dials from 127.0.0.1: lift the per-address share.
			MaxPeersPerIP: 16,
		}
		s, err := servent.New(cfg)
		if err != nil {
			return fmt.Errorf("demo: %s: %w", nodeName(i), err)
		}
		if err := s.Start(ctx); err != nil {
			return fmt.Errorf("demo: %s: %w", nodeName(i), err)
		}
		nodes[i] = s
		d.mu.Lock()
		d.names[s.Addr()] = nodeName(i)
		d.mu.Unlock()
	}
	d.say("started %d servents; %s shares %q and is firewalled, %s from n00 by the shortest path", n, nodeName(target), demoTarget, hopsText(uint8(dist[target])))

	for _, e := range edges {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		a, b := e[0], e[1]
		if b == target {
			// A firewalled node cannot be dialled: it dials out.
			a, b = b, a
		}
		if err := nodes[a].Connect(nodes[b].Addr()); err != nil {
			return fmt.Errorf("demo: connecting %s to %s: %w", nodeName(a), nodeName(b), err)
		}
		d.say("%s -> %s connected (0.6 handshake)", nodeName(a), nodeName(b))
	}

	d.say("n00 searches for %q with TTL %d", demoQuery, ttl)
	// The first hit comes back within a second on an idle machine; the
	// wait is long so that a loaded one (a race build, a busy CI runner)
	// still shows the whole story rather than a timeout.
	sctx, scancel := context.WithTimeout(ctx, demoSearchWait)
	defer scancel()
	sr, err := nodes[0].Search(sctx, demoQuery)
	if err != nil {
		return err
	}
	var result servent.Result
	select {
	case r, ok := <-sr.Results:
		if !ok {
			return fmt.Errorf("demo: no result arrived within %v", demoSearchWait)
		}
		result = r
	case <-ctx.Done():
		return errors.New("demo: timed out waiting for a result")
	}
	scancel()
	reach := "reachable directly (its QueryHit's push flag is clear)"
	if result.Push {
		reach = "firewalled (its QueryHit's push flag is set)"
	}
	d.say("hit: %q, %s, from %s (servent %s), %s, %s", result.Name, humanBytes(int64(result.Size)),
		d.name(result.Addr), result.ServentGUID, reach, hopsText(result.Hops))
	d.printRoute(sr.GUID, target, result.Hops)

	if !result.HasSHA1 || result.SHA1 != want {
		return fmt.Errorf("demo: the hit's urn %s is not the file's %s", result.SHA1, wire.SHA1(want))
	}
	d.say("n00 downloads it: %s is firewalled, so n00 routes a Push to servent %s", d.name(result.Addr), result.ServentGUID)
	res, err := nodes[0].Download(ctx, httpxfer.Request{
		Name: result.Name, Size: int64(result.Size), SHA1: result.SHA1,
		Sources: []httpxfer.Source{servent.SourceOf(result)},
	})
	if err != nil {
		return fmt.Errorf("demo: download: %w", err)
	}
	got, err := fileSHA1(res.Path)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("demo: downloaded file's SHA-1 %s, want %s", got, want)
	}
	d.say("downloaded %s (%s) and verified SHA-1 %s", filepath.Base(res.Path), humanBytes(res.Size), got)
	d.say("done in %.1fs; cleaning up", time.Since(d.start).Seconds())
	return nil
}

func nodeName(i int) string { return fmt.Sprintf("n%02d", i) }

// makeShares writes each node's files and returns the target's SHA-1.
func (d *demo) makeShares(ctx context.Context, tmp string, n, target int, rng *rand.Rand) (wire.SHA1, error) {
	var want wire.SHA1
	for i := range n {
		if err := ctx.Err(); err != nil {
			return want, fmt.Errorf("demo: %w", err)
		}
		dir := filepath.Join(tmp, nodeName(i), "share")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return want, fmt.Errorf("demo: %w", err)
		}
		for j := range 3 {
			name := fmt.Sprintf("%s %s %s.ogg", nodeName(i), demoWords[rng.IntN(len(demoWords))], demoWords[rng.IntN(len(demoWords))])
			if err := writeRandom(filepath.Join(dir, name), 4<<10+j*1024, rng); err != nil {
				return want, err
			}
		}
		if i == target {
			path := filepath.Join(dir, demoTarget)
			if err := writeRandom(path, demoTargetSize, rng); err != nil {
				return want, err
			}
			sum, err := fileSHA1(path)
			if err != nil {
				return want, err
			}
			want = sum
		}
	}
	return want, nil
}

func writeRandom(path string, size int, rng *rand.Rand) error {
	b := make([]byte, size)
	for i := 0; i < size; i += 8 {
		v := rng.Uint64()
		for k := 0; k < 8 && i+k < size; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

func fileSHA1(path string) (wire.SHA1, error) {
	f, err := os.Open(path)
	if err != nil {
		return wire.SHA1{}, err
	}
	defer f.Close()
	h := sha1.New()
	if _, err := io.Copy(h, f); err != nil {
		return wire.SHA1{}, err
	}
	return wire.SHA1(h.Sum(nil)), nil
}

// event records what the servents report; hit relays make up the route.
func (d *demo) event(node int, e servent.Event) {
	switch e.Kind {
	case servent.EventQueryHit:
		d.mu.Lock()
		d.hits = append(d.hits, hop{at: nodeName(node), from: e.Peer.String(), to: e.To.String(), hops: e.Hops, guid: e.GUID})
		select {
		case d.hitc <- struct{}{}:
		default:
		}
		d.mu.Unlock()
	case servent.EventPush:
		d.say("%s got the Push and opens a connection to %s with a GIV", nodeName(node), d.name(e.Peer))
	}
}

// routeWait bounds how long printRoute waits for relays' events.
const routeWait = 2 * time.Second

// printRoute shows the path the QueryHit took back: each relay, in order.
// A hit that came n links has n-1 relays; each servent reports on its own
// goroutine, so a relay's event may come after the delivery at n00, and
// the route waits for them (at most routeWait).
func (d *demo) printRoute(guid wire.GUID, target int, links uint8) {
	deadline := time.After(routeWait)
	var hops []hop
	for {
		d.mu.Lock()
		hops = hops[:0]
		relays := 0
		for _, h := range d.hits {
			if h.guid == guid {
				hops = append(hops, h)
				if h.to != (netip.AddrPort{}).String() {
					relays++
				}
			}
		}
		d.mu.Unlock()
		if relays+1 >= int(links) {
			break
		}
		select {
		case <-d.hitc:
			continue
		case <-deadline:
		}
		break
	}
	sort.SliceStable(hops, func(i, j int) bool { return hops[i].hops < hops[j].hops })
	path := []string{nodeName(target)}
	for _, h := range hops {
		if h.to == (netip.AddrPort{}).String() {
			continue // the delivery at n00, added last
		}
		path = append(path, h.at)
	}
	path = append(path, "n00")
	path = slices.Compact(path)
	var buf bytes.Buffer
	for i, p := range path {
		if i > 0 {
			buf.WriteString(" -> ")
		}
		buf.WriteString(p)
	}
	d.say("the hit came back along the query's reverse path: %s", buf.String())
}
