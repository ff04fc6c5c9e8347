package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v3"
	"go.uber.org/zap"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

func searchCommand() *cli.Command {
	return &cli.Command{
		Name:      "search",
		Usage:     "search the network through one or more peers and print the results",
		ArgsUsage: "QUERY",
		Description: "Starts a short-lived servent, connects to the --peer hosts, sends QUERY (keywords,\n" +
			"or urn:sha1:<base32>) and prints numbered results as they arrive until --timeout.\n" +
			"With --download N it downloads result N (through a Push if the source is firewalled)\n" +
			"into --dir and verifies its SHA-1.",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "peer", Usage: "`IP:PORT` of a servent to search through (repeatable; required)"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "how long to collect results"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON lines"},
			&cli.IntFlag{Name: "download", Usage: "download result number `N` (1-based) and exit"},
			&cli.StringFlag{Name: "dir", Value: ".", Usage: "directory `DIR` for --download", TakesFile: true},
			&cli.StringFlag{Name: "listen", Value: ":0", Usage: "our listening `ADDR` (GIVs for Pushes arrive there)"},
			&cli.IntFlag{Name: "ttl", Value: servent.DefaultTTL, Usage: "TTL of the query (1-7)"},
		}, logFlags()...),
		Action: func(ctx context.Context, c *cli.Command) error {
			if err := wantArgs(c, 1, "QUERY argument (quote several words)"); err != nil {
				return err
			}
			rules := append([]flagRule{
				required("peer"), ipPorts("peer"), listenAddr("listen"),
				intRange("ttl", 1, 7), intRange("download", 0, math.MaxInt),
			}, logRules()...)
			if err := checkFlags(ctx, c, rules...); err != nil {
				return err
			}
			log, err := logger(c)
			if err != nil {
				return usageError(err)
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			s, err := startClient(ctx, c.StringSlice("peer"), servent.Config{
				Listen:      c.String("listen"),
				DownloadDir: c.String("dir"),
				DefaultTTL:  uint8(c.Int("ttl")),
				Logger:      log,
			})
			if err != nil {
				return err
			}
			defer s.Close()
			results := printResults(ctx, s, c.Args().First(), c.Duration("timeout"), c.Int("download"), c.Bool("json"), c.Root().Writer)
			n := c.Int("download")
			if n == 0 {
				return nil
			}
			if n < 1 || n > len(results) {
				return fmt.Errorf("--download %d: only %d results arrived", n, len(results))
			}
			return downloadResult(ctx, s, results[n-1], c.Root().Writer)
		},
	}
}

// startClient starts a servent for one command and connects it to peers.
func startClient(ctx context.Context, peers []string, cfg servent.Config) (*servent.Servent, error) {
	cfg.MaxPeers = max(len(peers), 1)
	cfg.AllowPrivate = true // the user named these hosts
	s, err := servent.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	var errs []error
	for _, p := range peers {
		ap, err := netip.ParseAddrPort(p)
		if err == nil {
			err = s.Connect(ap)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("peer %s: %w", p, err))
		}
	}
	if len(errs) == len(peers) {
		s.Close()
		return nil, errors.Join(append([]error{errors.New("no peer could be reached")}, errs...)...)
	}
	for _, err := range errs {
		cfg.Logger.Warn("peer not connected", zap.Error(err))
	}
	return s, nil
}

// printResults prints results as they arrive, numbered, until the timeout
// or, with stopAt > 0, until result stopAt arrived.
func printResults(ctx context.Context, s *servent.Servent, query string, timeout time.Duration, stopAt int, asJSON bool, w io.Writer) []servent.Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sr, err := s.Search(ctx, query)
	if err != nil {
		fmt.Fprintf(w, "search: %v\n", err)
		return nil
	}
	var out []servent.Result
	enc := json.NewEncoder(w)
	for r := range sr.Results {
		out = append(out, r)
		if asJSON {
			_ = enc.Encode(resultJSON(len(out), r))
		} else {
			fmt.Fprintln(w, formatResult(len(out), r))
		}
		if stopAt > 0 && len(out) >= stopAt {
			break
		}
	}
	if !asJSON && len(out) == 0 {
		fmt.Fprintln(w, "no results")
	}
	return out
}

func formatResult(n int, r servent.Result) string {
	urn := "(no urn)"
	if r.HasSHA1 {
		urn = r.SHA1.String()
	}
	flags := ""
	if r.Push {
		flags += " [push]"
	}
	if r.Busy {
		flags += " [busy]"
	}
	return fmt.Sprintf("%3d. %s  %s  %s  index %d  %s  %s %s, %d hops%s",
		n, r.Name, humanBytes(int64(r.Size)), r.Addr, r.Index, urn, r.Vendor, r.ServentGUID, r.Hops, flags)
}

func resultJSON(n int, r servent.Result) map[string]any {
	m := map[string]any{
		"n": n, "name": r.Name, "size": r.Size, "addr": r.Addr.String(), "index": r.Index,
		"servent_guid": r.ServentGUID.String(), "vendor": r.Vendor, "push": r.Push, "busy": r.Busy,
		"hops": r.Hops, "via": r.Via.String(),
	}
	if r.HasSHA1 {
		m["urn"] = r.SHA1.String()
	}
	return m
}

func downloadResult(ctx context.Context, s *servent.Servent, r servent.Result, w io.Writer) error {
	req := httpxfer.Request{Name: r.Name, Size: int64(r.Size), Sources: []httpxfer.Source{servent.SourceOf(r)}}
	if r.HasSHA1 {
		req.SHA1 = r.SHA1
	}
	fmt.Fprintf(w, "downloading %s (%s) from %s\n", r.Name, humanBytes(int64(r.Size)), r.Addr)
	pr := newProgress(w)
	req.Progress = pr.update
	res, err := s.Download(ctx, req)
	pr.finish()
	if err != nil {
		return fmt.Errorf("download %s: %w", r.Name, err)
	}
	return reportDownload(w, res)
}

func reportDownload(w io.Writer, res httpxfer.Result) error {
	verified := "not verified (no urn:sha1)"
	if res.SHA1 != (wire.SHA1{}) {
		verified = "SHA-1 verified " + res.SHA1.String()
	}
	_, err := fmt.Fprintf(w, "saved %s (%s, %s)\n", res.Path, humanBytes(res.Size), verified)
	return err
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

func getCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "download a file by urn:sha1 from one or more sources",
		ArgsUsage: "urn:sha1:<base32>",
		Description: "Fetches the file from the --source hosts in parallel chunks, resuming a previous\n" +
			"attempt from its .part file, and verifies its SHA-1 before renaming it into --dir.",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "source", Usage: "`IP:PORT` serving the file (repeatable; required)"},
			&cli.StringFlag{Name: "name", Usage: "file `NAME` to save as (default: the urn's base32)"},
			&cli.Int64Flag{Name: "size", Usage: "file size in bytes (default: ask the sources)"},
			&cli.StringFlag{Name: "dir", Value: ".", Usage: "download directory `DIR`", TakesFile: true},
		}, logFlags()...),
		Action: func(ctx context.Context, c *cli.Command) error {
			if err := wantArgs(c, 1, "urn:sha1 argument"); err != nil {
				return err
			}
			if err := checkFlags(ctx, c, required("source"), ipPorts("source")); err != nil {
				return err
			}
			d, err := wire.ParseURN(c.Args().First())
			if err != nil {
				return usageError(err)
			}
			req := httpxfer.Request{Name: c.String("name"), Size: c.Int64("size"), SHA1: d}
			if req.Name == "" {
				req.Name = d.Base32()
			}
			for _, src := range c.StringSlice("source") {
				req.Sources = append(req.Sources, httpxfer.Source{Addr: netip.MustParseAddrPort(src)}) // checked by ipPorts
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			dl := httpxfer.NewDownloader(httpxfer.DownloaderConfig{Dir: c.String("dir"), UserAgent: servent.UserAgent})
			pr := newProgress(c.Root().Writer)
			req.Progress = pr.update
			res, err := dl.Download(ctx, req)
			pr.finish()
			if err != nil {
				return fmt.Errorf("download: %w", err)
			}
			return reportDownload(c.Root().Writer, res)
		},
	}
}
