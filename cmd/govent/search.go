package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v3"
	"go.uber.org/zap"

	"github.com/govent/govent/cmd/internal/english"

	"github.com/govent/govent/servent"
	"github.com/govent/govent/servent/control"
)

func searchCommand(lookupEnv func(string) (string, bool)) *cli.Command {
	return &cli.Command{
		Name:      "search",
		Usage:     "search the network through one or more peers and print the results",
		ArgsUsage: "QUERY",
		Description: "Starts a short-lived servent, connects to the --peer hosts, sends QUERY (keywords,\n" +
			"or urn:sha1:<base32>) and prints numbered results as they arrive, one a line: name,\n" +
			"size, the responder's address and vendor, how many hops the hit travelled (or \"out of\n" +
			"band\": over UDP from the responder itself), urn. It stops when --max-results arrived\n" +
			"or --timeout passed, whichever is first. With --download N it downloads result N\n" +
			"(through a Push if the source is firewalled) into --dir under the result's name,\n" +
			"verifies its SHA-1 and lists the sources it used, best first by what each delivered\n" +
			"(queue place, measured throughput). With --browse N it lists what result N's servent\n" +
			"shares, as govent browse does.\n\n" +
			"With --daemon, the running govent run of --data searches instead (no --peer), and\n" +
			"--download N queues result N in its download queue.",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "peer", Usage: "`IP:PORT` of a servent to search through (repeatable; required)"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "how long to wait at most, the handshakes with the --peer hosts included"},
			&cli.IntFlag{Name: "max-results", Value: defaultMaxResults, Usage: "stop once this many results arrived"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON lines"},
			&cli.BoolFlag{Name: "magnet", Usage: "print a magnet link under each result (a \"magnet\" field with --json)"},
			&cli.IntFlag{Name: "download", Usage: "download result number `N` (1-based) and exit"},
			&cli.IntFlag{Name: "browse", Usage: "list the files of result `N`'s servent (through a Push if firewalled) and exit"},
			&cli.StringFlag{Name: "dir", Value: ".", Usage: "directory `DIR` for --download", TakesFile: true},
			&cli.StringFlag{Name: "listen", Value: ":0", Usage: "our listening `ADDR` (GIVs for Pushes arrive there)"},
			&cli.IntFlag{Name: "ttl", Value: servent.DefaultTTL, Usage: "TTL of the query (1-7)"},
			noTLSFlag(),
		}, append(firewallFlags(), append(daemonSearchFlags("search through the running servent of --data (no --peer)"), logFlags("warn")...)...)...),
		Action: func(ctx context.Context, c *cli.Command) error {
			if err := wantArgs(c, 1, "QUERY argument (quote several words)"); err != nil {
				return err
			}
			if err := servent.CheckQuery(c.Args().First()); err != nil {
				// Said before a peer or the daemon is reached (Search
				// would say it only once connected).
				return usageError(fmt.Errorf("QUERY %q: %w", c.Args().First(), err))
			}
			rules := append([]flagRule{
				peerUnlessDaemon("peer"), ipPorts("peer"), listenAddr("listen"),
				intRange("ttl", 1, 7), intRange("max-results", 1, math.MaxInt), intRange("download", 0, math.MaxInt),
				intRange("browse", 0, math.MaxInt),
				{"download", func(c *cli.Command) (string, string) {
					if n, limit := c.Int("download"), c.Int("max-results"); n > limit {
						return strconv.Itoa(n), fmt.Sprintf("past --max-results %d", limit)
					}
					return "", ""
				}},
				{"timeout", func(c *cli.Command) (string, string) {
					if c.Duration("timeout") <= 0 {
						return c.Duration("timeout").String(), "must be more than 0"
					}
					return "", ""
				}},
			}, logRules()...)
			rules = append(rules, notWithDaemon(ctx, "the daemon searches through its own peers", "peer")...)
			rules = append(rules, notWithDaemon(ctx, daemonDownloadDir, "dir")...)
			rules = append(rules, notWithDaemon(ctx, daemonOwnSettings, "ttl", "listen", "no-tls", "firewalled", "no-listen")...)
			if c.Int("download") > 0 {
				rules = append(rules, makableDir("dir")) // else unused: search in a directory we may not write in
			}
			if err := checkFlags(ctx, c, rules...); err != nil {
				return err
			}
			if c.Int("download") > 0 && c.Int("browse") > 0 {
				return usageError(errors.New("--download and --browse: one at a time"))
			}
			if c.Bool("daemon") {
				if c.Int("browse") > 0 {
					return usageError(errors.New("--browse: not with --daemon; govent browse lists a servent's files"))
				}
				return searchThroughDaemon(ctx, c, lookupEnv)
			}
			log, err := logger(c)
			if err != nil {
				return usageError(err)
			}
			// Ctrl-C, SIGTERM, SIGHUP or its output closed (search | head -1)
			// end the search, and a --download with its .part saved.
			ctx, halt, done := stoppableRun(ctx)
			defer done()
			out := stopOnError{c.Root().Writer, halt}
			// --timeout bounds the whole wait: the handshakes, then the results.
			timeout := c.Duration("timeout")
			deadline := time.Now().Add(timeout)
			s, err := startClient(ctx, c.StringSlice("peer"), firewall(c, servent.Config{
				Listen:           c.String("listen"),
				DownloadDir:      c.String("dir"),
				DefaultTTL:       uint8(c.Int("ttl")),
				NoTLS:            c.Bool("no-tls"),
				Logger:           log,
				HandshakeTimeout: min(timeout, servent.DefaultHandshakeTimeout),
			}))
			if err != nil && ctx.Err() != nil {
				// Ctrl-C during the handshakes: as one before any result.
				printSearchEnd(out, 0, -1, "interrupted", printOpts{json: c.Bool("json")})
				if n, what := resultToFetch(c); n > 0 {
					return fmt.Errorf("%s %d: interrupted before any result arrived", what, n)
				}
				return nil
			}
			if err != nil {
				return err
			}
			defer s.Close()
			if !s.ReachesFirewalled() {
				fmt.Fprintln(c.Root().ErrWriter, "search: "+noRelayNote)
			}
			n, what := resultToFetch(c)
			limit, limitFlag := searchLimit(c, n, what)
			results, err := searchAndPrint(ctx, s, c.Args().First(), time.Until(deadline), limit,
				printOpts{json: c.Bool("json"), magnet: c.Bool("magnet"), limitFlag: limitFlag}, out)
			if err != nil || n == 0 {
				return err
			}
			if n > len(results) {
				why := ""
				if !s.ReachesFirewalled() {
					why = " (firewalled hosts cannot answer us without a relay)"
				}
				if len(results) == 0 {
					// After the "no results" line, not "only 0 results arrived".
					return fmt.Errorf("%s %d: no result to fetch%s", what, n, why)
				}
				return fmt.Errorf("%s %d: only %s arrived%s", what, n, english.Count(len(results), "result", "results"), why)
			}
			if what == "--browse" {
				return browseResult(ctx, s, results[n-1], c.Bool("json"), out)
			}
			return downloadResult(ctx, s, results[n-1], c.String("dir"), out)
		},
	}
}

// noRelayNote is why a firewalled search without a relay hears no
// firewalled host, and the fix.
const noRelayNote = "we are firewalled and no --peer relays: firewalled hosts cannot answer, as neither side can connect to the other; " +
	"use a --peer that runs govent run --relay, or a listening port"

// noTLSFlag turns TLS off for search and get, as run's --no-tls does.
func noTLSFlag() cli.Flag {
	return &cli.BoolFlag{Name: "no-tls", Usage: "no TLS: dial every source plain, even one that says it takes TLS, and take no TLS on our port"}
}

// firewallFlags say that the user cannot be connected to, as run's do.
func firewallFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "firewalled", Usage: "we cannot accept incoming connections: firewalled sources are reached through a relay"},
		&cli.BoolFlag{Name: "no-listen", Usage: "no listening port at all (implies --firewalled)"},
	}
}

// firewall applies the firewall flags to cfg. A firewalled client runs as a
// leaf: its ultrapeers are its push proxies and, if they relay, its relay
// (which serves only its own leaves).
func firewall(c *cli.Command, cfg servent.Config) servent.Config {
	cfg.Firewalled, cfg.NoListen = c.Bool("firewalled"), c.Bool("no-listen")
	if cfg.Firewalled || cfg.NoListen {
		cfg.Mode = servent.ModeLeaf
	}
	return cfg
}

// peerUnlessDaemon: --peer is required unless --daemon searches.
func peerUnlessDaemon(flag string) flagRule {
	return flagRule{flag, func(c *cli.Command) (string, string) {
		if !c.Bool("daemon") && !c.IsSet(flag) {
			return "", "required (or --daemon)"
		}
		return "", ""
	}}
}

// startClient starts a servent for one command and connects it to peers,
// all at once, each handshake bounded by cfg.HandshakeTimeout and cut
// short when ctx ends (Ctrl-C: then it returns ctx.Err()).
// It is Transient: its port lives as long as the command, so its peers
// are not told to keep it as a host.
func startClient(ctx context.Context, peers []string, cfg servent.Config) (*servent.Servent, error) {
	cfg.MaxPeers = max(len(peers), 1)
	cfg.AllowPrivate = true // the user named these hosts
	cfg.Transient = true
	s, err := servent.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		return nil, addrInUse(err, "listen", cfg.Listen)
	}
	failed := make([]error, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() {
			ap, err := netip.ParseAddrPort(p)
			if err != nil {
				failed[i] = fmt.Errorf("peer %q: %w", p, err)
				return
			}
			// Its errors name the address ("handshake with A: ...").
			failed[i] = s.ConnectContext(ctx, ap)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		s.Close()
		return nil, ctx.Err() // the command says it was interrupted
	}
	var errs []error
	var why []string
	for _, err := range failed {
		if err != nil {
			errs = append(errs, err)
			why = append(why, err.Error())
		}
	}
	if len(peers) > 0 && len(errs) == len(peers) {
		s.Close()
		// One line, each peer with its reason.
		return nil, fmt.Errorf("no peer could be reached: %s", strings.Join(why, "; "))
	}
	for _, err := range errs {
		cfg.Logger.Warn("peer not connected", zap.Error(err))
	}
	// From now on they are retried as run retries its --peer: a peer
	// that drops us (Bye 202, making room for another leaf) or that
	// was down is joined again once it takes us.
	if len(peers) > 0 {
		if err := s.KeepConnected(peers); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// defaultMaxResults is a few screens of results: enough to choose from,
// few enough that a popular query does not scroll for its whole timeout.
const defaultMaxResults = 50

// resultToFetch is the result the user asked search to fetch: N of
// --browse or --download, and the flag (n 0: none).
func resultToFetch(c *cli.Command) (n int, flag string) {
	if b := c.Int("browse"); b > 0 {
		return b, "--browse"
	}
	return c.Int("download"), "--download"
}

// searchLimit is how many results a search waits for, and the flag that
// says so: result n of flag is all it needs, else --max-results.
func searchLimit(c *cli.Command, n int, flag string) (int, string) {
	if n > 0 {
		return n, flag
	}
	return c.Int("max-results"), "--max-results"
}

// searchAndPrint sends query and prints the results as they arrive, until
// limit arrived or the timeout passed.
func searchAndPrint(ctx context.Context, s *servent.Servent, query string, timeout time.Duration, limit int, opts printOpts, w io.Writer) ([]servent.Result, error) {
	asJSON := opts.json
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sr, err := s.Search(ctx, query)
	if err != nil {
		return nil, usageError(fmt.Errorf("QUERY %q: %w", query, err))
	}
	enc := newJSONEncoder(w)
	out := collectResults(ctx, sr.Results, timeout, limit, func(n int, r servent.Result) {
		switch {
		case asJSON && opts.magnet:
			_ = enc.Encode(struct {
				control.SearchResult
				Magnet string `json:"magnet"`
			}{control.NewSearchResult(n, r), resultMagnet(r)})
		case asJSON:
			_ = enc.Encode(control.NewSearchResult(n, r))
		case opts.magnet:
			fmt.Fprintln(w, formatResult(n, r))
			fmt.Fprintln(w, "     "+resultMagnet(r))
		default:
			fmt.Fprintln(w, formatResult(n, r))
		}
	})
	if len(out) > 1 {
		// The best sources first: a free slot, no Push needed, the speed
		// advertised, the fewest hops (servent.Rank).
		rank := servent.Rank(out)
		for i := range rank {
			rank[i]++
		}
		if asJSON {
			_ = enc.Encode(map[string]any{"ranking": rank})
		} else {
			fmt.Fprintf(w, "best first (free slot, direct, advertised speed, hops): %s\n", strings.Trim(fmt.Sprint(rank), "[]"))
		}
	}
	reason := "timeout"
	switch {
	case len(out) == limit:
		reason = "max_results"
	case ctx.Err() != nil:
		reason = "interrupted"
	}
	printSearchEnd(w, len(out), limit, reason, opts)
	return out, nil
}

// printSearchEnd is a search's last line: {"results":N,"reason":R} with
// --json, else "no results" or that the limit stopped it.
func printSearchEnd(w io.Writer, n, limit int, reason string, opts printOpts) {
	switch {
	case opts.json:
		_ = newJSONEncoder(w).Encode(searchEnd{Results: n, Reason: reason})
	case n == 0:
		fmt.Fprintln(w, "no results")
	case n == limit:
		fmt.Fprintf(w, "stopped at %s %d\n", opts.limitFlag, limit)
	}
}

// collectResults reads results until limit arrived, the timeout passed or
// ctx ended, whichever is first, and hands each to emit as it arrives.
func collectResults(ctx context.Context, results <-chan servent.Result, timeout time.Duration, limit int, emit func(n int, r servent.Result)) []servent.Result {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var out []servent.Result
	for len(out) < limit {
		select {
		case r, ok := <-results:
			if !ok {
				return out
			}
			out = append(out, r)
			emit(len(out), r)
		case <-timer.C:
			return out
		case <-ctx.Done():
			return out
		}
	}
	return out
}
