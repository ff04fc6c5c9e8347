package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"
	"go.uber.org/zap"

	"github.com/govent/govent/cmd/internal/english"
	"github.com/govent/govent/cmd/internal/interrupt"
	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
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
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "how long to wait for results at most"},
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
			ctx, stop := interrupt.Context(ctx)
			defer stop()
			s, err := startClient(ctx, c.StringSlice("peer"), firewall(c, servent.Config{
				Listen:      c.String("listen"),
				DownloadDir: c.String("dir"),
				DefaultTTL:  uint8(c.Int("ttl")),
				NoTLS:       c.Bool("no-tls"),
				Logger:      log,
			}))
			if err != nil {
				return err
			}
			defer s.Close()
			n, what := resultToFetch(c)
			limit, limitFlag := searchLimit(c, n, what)
			results, err := searchAndPrint(ctx, s, c.Args().First(), c.Duration("timeout"), limit,
				printOpts{json: c.Bool("json"), magnet: c.Bool("magnet"), limitFlag: limitFlag}, c.Root().Writer)
			if err != nil || n == 0 {
				return err
			}
			if n > len(results) {
				return fmt.Errorf("%s %d: only %s arrived", what, n, english.Count(len(results), "result", "results"))
			}
			if what == "--browse" {
				return browseResult(ctx, s, results[n-1], c.Bool("json"), c.Root().Writer)
			}
			return downloadResult(ctx, s, results[n-1], c.String("dir"), c.Root().Writer)
		},
	}
}

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

// startClient starts a servent for one command and connects it to peers.
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
		return nil, err
	}
	var errs []error
	var why []string
	for _, p := range peers {
		ap, err := netip.ParseAddrPort(p)
		if err == nil {
			err = s.Connect(ap)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("peer %s: %w", p, err))
			why = append(why, errs[len(errs)-1].Error())
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
	return s, nil
}

// defaultMaxResults is a few screens of results: enough to choose from,
// few enough that a popular query does not scroll for its whole timeout.
const defaultMaxResults = 50

// printOpts says how search prints results.
type printOpts struct {
	json      bool   // JSON lines
	magnet    bool   // a magnet link per result
	limitFlag string // the flag that set the limit, to say why we stopped
}

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
			m := resultJSON(n, r)
			m["magnet"] = resultMagnet(r)
			_ = enc.Encode(m)
		case asJSON:
			_ = enc.Encode(resultJSON(n, r))
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
	switch {
	case asJSON:
		_ = enc.Encode(searchEnd{Results: len(out), Reason: reason})
	case len(out) == 0:
		fmt.Fprintln(w, "no results")
	case len(out) == limit:
		fmt.Fprintf(w, "stopped at %s %d\n", opts.limitFlag, limit)
	}
	return out, nil
}

// searchEnd is the last line of search --json, with or without results:
// how many arrived and why the search stopped (max_results, timeout,
// interrupted; through a daemon also idle, as its stream says).
type searchEnd struct {
	Results int    `json:"results"`
	Reason  string `json:"reason"`
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

// formatResult is one result line: the responding servent by its address
// (its GUID is in --json), and the links the hit travelled.
func formatResult(n int, r servent.Result) string {
	urn := "(no urn)"
	if r.HasSHA1 {
		urn = r.SHA1.String()
	}
	from := r.Addr.String()
	if !r.Addr.IsValid() || r.Addr.Port() == 0 {
		from = "servent " + r.ServentGUID.String() // dial-only: no address to give
	}
	about := hopsText(r.Hops)
	if r.OOB {
		// Over UDP from the responder itself: how far it is, nobody says.
		about = "out of band"
	}
	if r.Vendor != "" {
		about = r.Vendor + ", " + about
	}
	line := fmt.Sprintf("%3d. %s  %s  from %s (%s)  %s", n, r.Name, humanBytes(int64(r.Size)), from, about, urn)
	if r.Push {
		line += " [push]"
	}
	if r.Busy {
		line += " [busy]"
	}
	return line
}

func hopsText(hops uint8) string {
	return english.Count(int(hops), "hop", "hops")
}

func resultJSON(n int, r servent.Result) map[string]any {
	m := map[string]any{
		"n": n, "name": r.Name, "size": r.Size, "addr": r.Addr.String(), "index": r.Index,
		"servent_guid": r.ServentGUID.String(), "vendor": r.Vendor, "push": r.Push, "busy": r.Busy,
		"hops": r.Hops, "via": r.Via.String(), "speed_kbps": r.Speed, "oob": r.OOB,
	}
	if r.HasSHA1 {
		m["urn"] = r.SHA1.String()
	}
	if len(r.Proxies) > 0 {
		var proxies []string
		for _, p := range r.Proxies {
			proxies = append(proxies, p.String())
		}
		m["push_proxies"] = proxies
	}
	if r.HasTTH {
		m["tth"] = r.TTH.String()
	}
	return m
}

func downloadResult(ctx context.Context, s *servent.Servent, r servent.Result, dir string, w io.Writer) error {
	req := servent.RequestOf(r)
	req.Name = saveName(req.SHA1, r.Name)
	fmt.Fprintf(w, "downloading %s (%s) from %s\n", r.Name, humanBytes(int64(r.Size)), r.Addr)
	pr := newProgress(w)
	req.Progress, req.Queued, req.Busy, req.Waiting = pr.update, pr.queued, pr.busyWait, pr.waitAnswer
	res, err := s.Download(ctx, req)
	pr.finish()
	if err != nil {
		return pr.failed(ctx, err, filepath.Join(dir, req.Name+".part"))
	}
	return reportDownload(w, res, pr.rateOf)
}

// reportDownload says where the file is and which sources were dropped
// on the way, and why. (When a download fails, its error lists them.)
func reportDownload(w io.Writer, res httpxfer.Result, rateOf func(bytes int64) float64) error {
	for _, f := range res.Dropped {
		fmt.Fprintf(w, "dropped source %s\n", f)
	}
	verified := "not verified (no urn:sha1)"
	if res.SHA1 != (wire.SHA1{}) {
		verified = "SHA-1 verified " + res.SHA1.String()
	}
	if res.TreeVerified {
		verified += ", every chunk checked against its Tiger tree"
	}
	saved := "saved"
	if res.AlreadyComplete {
		// The file was there: its sources were asked only for its size.
		saved = "already complete, not downloaded again:"
	} else {
		reportSources(w, res.Sources, rateOf)
	}
	_, err := fmt.Fprintf(w, "%s %s (%s, %s)\n", saved, res.Path, humanBytes(res.Size), verified)
	return err
}

// reportSources prints the download's sources in the order it ranked
// them at its end (httpxfer.SourceStats), with what the rank rests on;
// a rate is rateOf the source's bytes, the progress lines' own measure.
func reportSources(w io.Writer, srcs []httpxfer.SourceStats, rateOf func(bytes int64) float64) {
	if len(srcs) == 0 {
		return
	}
	fmt.Fprintln(w, "sources, best first (free slot before queue place, measured throughput else advertised speed, direct before Push):")
	for i, st := range srcs {
		var what []string
		switch {
		case st.Bytes > 0:
			what = append(what, humanBytes(int64(rateOf(st.Bytes)))+"/s measured")
		case st.Source.Speed > 0:
			what = append(what, fmt.Sprintf("%d kbit/s advertised", st.Source.Speed))
		default:
			what = append(what, "not measured")
		}
		what = append(what, humanBytes(st.Bytes)+" received")
		if q := st.Queue; q.Position > 0 {
			what = append(what, fmt.Sprintf("queued at %d of %d", q.Position, q.Length))
		}
		if st.Source.Push {
			what = append(what, "through a Push")
		}
		if st.Dropped {
			what = append(what, "dropped")
		}
		fmt.Fprintf(w, "  %d. %s: %s\n", i+1, st.Source, strings.Join(what, ", "))
	}
}

// saveName is the file name a download is saved under: the first of names
// (--name, the search result's name, a magnet's dn: in that order) of which
// a usable file name is left, else the urn's base32, else "download".
func saveName(urn wire.SHA1, names ...string) string {
	for _, n := range names {
		if s := httpxfer.SafeName(n); s != "" {
			return s
		}
	}
	if urn != (wire.SHA1{}) {
		return urn.Base32()
	}
	return "download"
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func getCommand(lookupEnv func(string) (string, bool)) *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "download a file by urn:sha1 or magnet link from one or more sources",
		ArgsUsage: "urn:sha1:<base32> | 'magnet:?xt=urn:sha1:...&dn=...&xl=...&xs=...'",
		Description: "Fetches the file from the --source hosts in parallel chunks, resuming a previous\n" +
			"attempt from its .part file, and verifies its SHA-1 before renaming it into --dir\n" +
			"as --name (extension included; default: the urn's base32). An existing file of that\n" +
			"name is kept: the new one becomes \"name (1).ext\", unless it is this very file (same\n" +
			"SHA-1): then get says so and downloads nothing. A second get of the same name into\n" +
			"the same --dir while one runs is refused. A failed get says why, per source.\n" +
			"A magnet link gives the urn (urn:sha1, or urn:bitprint: then every chunk is checked\n" +
			"against the file's Tiger tree as it arrives), dn the name, xl the size and xs/as\n" +
			"the sources (http://IP:PORT/... URLs, push://GUID:PROXY.../... for a firewalled one:\n" +
			"a Push through those push proxies, else routed through --peer); --source, --name\n" +
			"and --size add to it.\n" +
			"A firewalled source is named by its servent GUID (32 hex digits, as search prints\n" +
			"it): get asks its --push-proxy hosts to send it a Push and, with --peer, routes one\n" +
			"through those peers; with --firewalled or --no-listen it goes through a relaying\n" +
			"--peer instead (govent run --relay).\n" +
			"A source named tls:IP:PORT is dialled with TLS first, as one that said tls/1.0 in\n" +
			"X-Features is, falling back to plain once if the TLS handshake fails; --no-tls\n" +
			"dials every source plain.\n\n" +
			"With --daemon, the download is queued in the running govent run of --data, which\n" +
			"fetches it into its download directory, and resumes it after a restart; govent\n" +
			"transfers shows its progress.",
		// No log flags: the downloader does not log; what it does is
		// printed (progress, the result).
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "source", Usage: "`IP:PORT` serving the file (tls:IP:PORT: it takes TLS), or the servent GUID of a firewalled one (repeatable; required)"},
			&cli.StringFlag{Name: "name", Usage: "file `NAME` to save as, extension included (default: the urn's base32)"},
			&cli.Int64Flag{Name: "size", Usage: "file size in bytes", DefaultText: "ask the sources"},
			&cli.StringFlag{Name: "dir", Value: ".", Usage: "download directory `DIR` (made if missing)", TakesFile: true},
			&cli.StringSliceFlag{Name: "push-proxy", Usage: "`IP:PORT` of a push proxy of the firewalled sources (repeatable)"},
			&cli.StringSliceFlag{Name: "peer", Usage: "`IP:PORT` of an ultrapeer to join for Pushes and relays (repeatable)"},
			&cli.StringFlag{Name: "listen", Value: ":0", Usage: "our listening `ADDR`, where GIVs arrive (with --peer or a firewalled source)"},
			&cli.BoolFlag{Name: "json", Usage: "with --daemon: print the queued download as JSON"},
			noTLSFlag(),
		}, append(firewallFlags(), daemonSearchFlags("queue the download in the running servent of --data")...)...),
		Action: func(ctx context.Context, c *cli.Command) (err error) {
			if err := wantArgs(c, 1, "urn:sha1 argument or magnet link"); err != nil {
				return err
			}
			req, sourceRule, err := getRequest(c)
			if err != nil {
				return usageError(err)
			}
			rules := []flagRule{sources("source"), ipPorts("push-proxy"), ipPorts("peer"), listenAddr("listen"), sourceRule}
			if err := checkFlags(ctx, c, rules...); err != nil {
				return err
			}
			for _, src := range c.StringSlice("source") {
				if g, err := wire.ParseGUID(src); err == nil {
					req.Sources = append(req.Sources, httpxfer.Source{Push: true, ServentGUID: g})
					continue
				}
				addr, tls := strings.CutPrefix(src, tlsSourcePrefix)
				req.Sources = append(req.Sources, httpxfer.Source{Addr: netip.MustParseAddrPort(addr), TLS: tls}) // checked by sources
			}
			if c.Bool("daemon") {
				// The daemon pushes to firewalled sources itself.
				return getThroughDaemon(ctx, c, lookupEnv, req)
			}
			// Firewalled sources: --source GUIDs and the link's push://.
			var firewalled []wire.GUID
			unproxied := false
			for _, src := range req.Sources {
				if src.Push {
					firewalled = append(firewalled, src.ServentGUID)
					unproxied = unproxied || len(src.Proxies) == 0
				}
			}
			viaServent := len(firewalled) > 0 || c.IsSet("peer") || c.Bool("firewalled") || c.Bool("no-listen")
			if unproxied && !c.IsSet("push-proxy") && !c.IsSet("peer") {
				return usageError(errors.New("--source: a firewalled source (a servent GUID) needs --push-proxy or --peer"))
			}
			ctx, stop := interrupt.Context(ctx)
			defer stop()
			dialer, tlsHosts := httpxfer.NetDialer{}, httpxfer.NewTLSHosts()
			if !c.Bool("no-tls") {
				dialer.TLS, dialer.Hosts = httpxfer.NewClientTLSConfig(), tlsHosts
			}
			// --dir is made if missing, as a servent's downloads make it;
			// a failed get removes what it made if that is still empty.
			unmake, err := makeDir(c.String("dir"))
			if err != nil {
				return fmt.Errorf("--dir: %w", err)
			}
			defer func() { unmake(err) }()
			download := httpxfer.NewDownloader(httpxfer.DownloaderConfig{Dir: c.String("dir"), UserAgent: servent.UserAgent, Dialer: dialer, TLSHosts: tlsHosts}).Download
			if viaServent {
				// Pushes and relays need a servent: GIVs arrive at its
				// port, Pushes leave through its links.
				s, err := startClient(ctx, c.StringSlice("peer"), firewall(c, servent.Config{
					Listen: c.String("listen"), DownloadDir: c.String("dir"), NoTLS: c.Bool("no-tls"), Logger: zap.NewNop(),
				}))
				if err != nil {
					return err
				}
				defer s.Close()
				var proxies []netip.AddrPort
				for _, p := range c.StringSlice("push-proxy") {
					proxies = append(proxies, netip.MustParseAddrPort(p)) // checked by ipPorts
				}
				for _, g := range firewalled {
					s.LearnPushProxies(g, proxies)
				}
				download = s.Download
			}
			pr := newProgress(c.Root().Writer)
			req.Progress, req.Queued, req.Busy, req.Waiting = pr.update, pr.queued, pr.busyWait, pr.waitAnswer
			res, err := download(ctx, req)
			pr.finish()
			if err != nil {
				return pr.failed(ctx, err, filepath.Join(c.String("dir"), req.Name+".part"))
			}
			return reportDownload(c.Root().Writer, res, pr.rateOf)
		},
	}
}

// tlsSourcePrefix marks a --source that takes TLS.
const tlsSourcePrefix = "tls:"

// sources: every value is a literal IP:PORT (tls:IP:PORT for one that
// takes TLS) or a servent GUID (32 hex).
func sources(flag string) flagRule {
	return each(flag, func(s string) string {
		if _, err := wire.ParseGUID(s); err == nil {
			return ""
		}
		if ap, err := netip.ParseAddrPort(strings.TrimPrefix(s, tlsSourcePrefix)); err != nil || ap.Port() == 0 {
			return "want IP:PORT, such as 127.0.0.1:6346 (tls:IP:PORT for one that takes TLS), or a servent GUID (32 hex digits)"
		}
		return ""
	})
}
