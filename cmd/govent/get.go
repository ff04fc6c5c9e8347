package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"
	"go.uber.org/zap"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

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
			&cli.Int64Flag{Name: "size", Usage: "file size in bytes; 0 means unknown: the sources are asked", DefaultText: "0, or the magnet's xl"},
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
			rules := []flagRule{sources("source"), ipPorts("push-proxy"), ipPorts("peer"), listenAddr("listen"), sourceRule, sizeRule("size")}
			rules = append(rules, notWithDaemon(ctx, "the daemon routes Pushes through its own peers", "peer", "push-proxy")...)
			rules = append(rules, notWithDaemon(ctx, daemonDownloadDir, "dir")...)
			rules = append(rules, notWithDaemon(ctx, daemonOwnSettings, "listen", "no-tls", "firewalled", "no-listen")...)
			rules = append(rules, makableDir("dir"))
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
			// Ctrl-C, SIGTERM, SIGHUP or its output closed (get | head -1)
			// end the download with the .part and its state saved, and
			// the line that says so.
			ctx, halt, done := stoppableRun(ctx)
			defer done()
			out := stopOnError{c.Root().Writer, halt}
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
					// Ctrl-C during the handshakes: as one before any data.
					return newProgress(out).failed(ctx, err, filepath.Join(c.String("dir"), req.Name+".part"))
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
			pr := newProgress(out)
			req.Progress, req.Queued, req.Busy, req.Waiting = pr.update, pr.queued, pr.busyWait, pr.waitAnswer
			res, err := download(ctx, req)
			pr.finish()
			if se, ok := errors.AsType[*httpxfer.SizeError](err); ok && c.IsSet("size") {
				return fmt.Errorf("sources say the file has %s bytes, not --size %d", se.Says(), se.Size)
			}
			if err != nil {
				return pr.failed(ctx, err, filepath.Join(c.String("dir"), req.Name+".part"))
			}
			return reportDownload(out, req, res, pr.rateOf)
		},
	}
}

// sizeRule: a file size is no negative number (--size -5 was taken for
// "ask the sources").
func sizeRule(flag string) flagRule {
	return flagRule{flag, func(c *cli.Command) (string, string) {
		if v := c.Int64(flag); v < 0 {
			return strconv.FormatInt(v, 10), "must be 0 or more"
		}
		return "", ""
	}}
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

// downloadResult is search --download N: result r fetched into dir, with
// get's progress lines and report.
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
	return reportDownload(w, req, res, pr.rateOf)
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
