package main

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/urfave/cli/v3"

	"github.com/govent/govent/cmd/internal/english"
	"github.com/govent/govent/cmd/internal/interrupt"
	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/servent/control"
	"github.com/govent/govent/wire"
)

// daemonSearchFlags are search's and get's flags for working through a
// running servent rather than one of their own.
func daemonSearchFlags(what string) []cli.Flag {
	return append([]cli.Flag{&cli.BoolFlag{Name: "daemon", Usage: what}}, daemonFlags()...)
}

// notWithDaemon: flag, given on the command line, is refused with
// --daemon, whose servent does not take it from us (why says what it does
// instead): dropped without a word, it let the user believe it applied
// (search --daemon --download 1 --dir D saved into the daemon's
// directory, not D). A value from the environment or the config file is a
// standing preference for the command's own servent, and left alone.
func notWithDaemon(ctx context.Context, why string, flags ...string) []flagRule {
	var rules []flagRule
	for _, flag := range flags {
		rules = append(rules, flagRule{flag, func(c *cli.Command) (string, string) {
			if !c.Bool("daemon") || !c.IsSet(flag) || sourceOf(ctx, flag) != "" {
				return "", ""
			}
			return "", "not with --daemon: " + why
		}})
	}
	return rules
}

// daemonOwnSettings is why notWithDaemon refuses the flags of the
// command's own servent.
const daemonOwnSettings = "the daemon's own settings (govent run's) apply"

// daemonDownloadDir is why notWithDaemon refuses --dir.
const daemonDownloadDir = "the daemon saves into the downloads directory of its --data"

// searchThroughDaemon is `search --daemon`: the running servent searches,
// and --download N queues result N in it.
func searchThroughDaemon(ctx context.Context, c *cli.Command, lookupEnv func(string) (string, bool)) error {
	cl, data, err := connectDaemon(ctx, c, lookupEnv)
	if err != nil {
		return err
	}
	// Ctrl-C ends the search as it ends the plain one: with its summary.
	ctx, stop := interrupt.Context(ctx)
	defer stop()
	n, what := resultToFetch(c) // --browse is refused with --daemon
	limit, limitFlag := searchLimit(c, n, what)
	w := c.Root().Writer
	enc := newJSONEncoder(w)
	var results []control.SearchResult
	done, err := cl.Search(ctx, control.SearchRequest{Query: c.Args().First(), TimeoutMS: c.Duration("timeout").Milliseconds(), MaxResults: limit},
		func(r control.SearchResult) {
			results = append(results, r)
			if c.Bool("json") {
				_ = enc.Encode(r)
			} else {
				fmt.Fprintln(w, formatResult(r.N, resultOf(r)))
			}
		})
	switch {
	case err != nil && ctx.Err() != nil:
		done = control.SearchDone{Results: len(results), Reason: "interrupted"}
	case err != nil:
		return daemonError(cl, data, err)
	}
	if done.Reason == "shutdown" {
		// Fewer results, maybe, than --timeout would have brought, and
		// no daemon left to queue a --download in.
		return fmt.Errorf("the daemon at %s shut down before the search ended (%s)", cl.Addr(), english.Count(done.Results, "result", "results"))
	}
	switch {
	case c.Bool("json"):
		_ = enc.Encode(searchEnd{Results: done.Results, Reason: done.Reason})
	case done.Results == 0:
		fmt.Fprintln(w, "no results")
	case done.Reason == "max_results":
		fmt.Fprintf(w, "stopped at %s %d\n", limitFlag, limit)
	}
	if n == 0 {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("--download %d: interrupted before it was queued", n)
	}
	if n > len(results) {
		return fmt.Errorf("--download %d: only %s arrived", n, english.Count(len(results), "result", "results"))
	}
	r := results[n-1]
	if r.URN == "" {
		return fmt.Errorf("--download %d: %s has no urn:sha1, which the daemon's queue needs", n, r.Name)
	}
	src := control.SourceRecord{Push: r.Push, ServentGUID: r.ServentGUID, Index: r.Index, Name: r.Name}
	if a := resultOf(r).Addr; a.IsValid() && a.Port() != 0 {
		src.Addr = a.String()
	}
	return queueDownload(ctx, c, cl, data, control.DownloadRequest{URN: r.URN, Name: r.Name, Size: int64(r.Size), Sources: []control.SourceRecord{src}})
}

// getThroughDaemon is `get --daemon`: the download is queued in the
// running servent, which owns it from then on.
// dl is the download as the command line and its magnet link give it; the
// sources of the link come first, then --source (a servent GUID is a
// firewalled source: the daemon pushes to it).
func getThroughDaemon(ctx context.Context, c *cli.Command, lookupEnv func(string) (string, bool), dl httpxfer.Request) error {
	cl, data, err := connectDaemon(ctx, c, lookupEnv)
	if err != nil {
		return err
	}
	req := control.DownloadRequest{URN: dl.SHA1.String(), Name: dl.Name, Size: dl.Size}
	for _, src := range dl.Sources {
		if src.Push {
			req.Sources = append(req.Sources, control.SourceRecord{Push: true, ServentGUID: src.ServentGUID.String()})
			continue
		}
		req.Sources = append(req.Sources, control.SourceRecord{Addr: src.Addr.String(), TLS: src.TLS})
	}
	return queueDownload(ctx, c, cl, data, req)
}

func queueDownload(ctx context.Context, c *cli.Command, cl *control.Client, data string, req control.DownloadRequest) error {
	d, err := cl.AddDownload(ctx, req)
	if err != nil {
		return daemonError(cl, data, err)
	}
	if c.Bool("json") {
		return printJSON(c.Root().Writer, d)
	}
	_, err = fmt.Fprintf(c.Root().Writer, "queued %s as %s in the daemon at %s (govent transfers shows it)\n", d.Name, d.ID, cl.Addr())
	return err
}

// resultOf turns a result the daemon found back into the servent's type,
// so both ways of searching print the same lines.
func resultOf(r control.SearchResult) servent.Result {
	out := servent.Result{Vendor: r.Vendor, Push: r.Push, Busy: r.Busy, Index: r.Index, Name: r.Name, Size: r.Size, Hops: r.Hops, OOB: r.OOB, Speed: r.Speed}
	out.Addr, _ = netip.ParseAddrPort(r.Addr)
	out.Via, _ = netip.ParseAddrPort(r.Via)
	out.ServentGUID, _ = wire.ParseGUID(r.ServentGUID)
	if d, err := wire.ParseURN(r.URN); err == nil {
		out.SHA1, out.HasSHA1 = d, true
	}
	return out
}
