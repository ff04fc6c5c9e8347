package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/govent/govent/cmd/internal/english"
	"github.com/govent/govent/cmd/internal/interrupt"
	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

func browseCommand() *cli.Command {
	return &cli.Command{
		Name:      "browse",
		Usage:     "list the files another servent shares (browse host)",
		ArgsUsage: "IP:PORT",
		Description: "Asks the servent at IP:PORT for \"/\" as a stream of QueryHits (deflated when it\n" +
			"offers) and prints one numbered line per shared file: name, size, urn. The stream\n" +
			"is cut after --timeout, 16 MiB or 10,000 QueryHits, whichever comes first, and what\n" +
			"arrived is printed. A firewalled servent is browsed through a Push: find it with\n" +
			"search and use search --browse N.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON lines"},
			&cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute, Usage: "how long the whole browse may take"},
		},
		Action: func(ctx context.Context, c *cli.Command) error {
			if err := wantArgs(c, 1, "IP:PORT argument"); err != nil {
				return err
			}
			ap, err := netip.ParseAddrPort(c.Args().First())
			if err != nil || ap.Port() == 0 {
				return usageError(fmt.Errorf("%s: want IP:PORT, such as 127.0.0.1:6346", c.Args().First()))
			}
			if err := checkFlags(ctx, c, positiveDuration("timeout")); err != nil {
				return err
			}
			ctx, stop := interrupt.Context(ctx)
			defer stop()
			conn, err := httpxfer.NetDialer{}.DialSource(ctx, httpxfer.Source{Addr: ap})
			if err != nil && ctx.Err() != nil {
				return browseInterrupted(c.Root().Writer, ap.String(), nil, c.Bool("json"))
			}
			if err != nil {
				return fmt.Errorf("browse %s: %w", ap, err) // as a failed browse says it
			}
			opts := httpxfer.BrowseOptions{UserAgent: servent.UserAgent, Timeout: c.Duration("timeout")}
			res, err := httpxfer.Browse(ctx, conn, ap.String(), opts)
			if err != nil && ctx.Err() != nil {
				return browseInterrupted(c.Root().Writer, ap.String(), res, c.Bool("json"))
			}
			return printBrowse(c.Root().Writer, ap.String(), res, err, c.Bool("json"))
		},
	}
}

// browseResult browses the servent of a search result, through a Push
// when it is firewalled.
func browseResult(ctx context.Context, s *servent.Servent, r servent.Result, asJSON bool, w io.Writer) error {
	src := servent.SourceOf(r)
	res, err := s.Browse(ctx, src, httpxfer.BrowseOptions{})
	if err != nil && ctx.Err() != nil {
		return browseInterrupted(w, src.String(), res, asJSON)
	}
	return printBrowse(w, src.String(), res, err, asJSON)
}

// browseInterrupted is the end of a browse that Ctrl-C cut short: what
// arrived, and one line saying so.
func browseInterrupted(w io.Writer, who string, res *httpxfer.BrowseResult, asJSON bool) error {
	if res == nil || len(res.Files) == 0 {
		return fmt.Errorf("browse: interrupted before any file arrived from %s", who)
	}
	_ = printBrowse(w, who, res, nil, asJSON)
	return fmt.Errorf("browse: interrupted after %s from %s: the list above is only those", english.Count(len(res.Files), "file", "files"), who)
}

// printBrowse prints what a browse found, even when it was cut short, and
// then its error. A browse that failed before any file arrived (refused,
// or not a servent) prints only the error.
func printBrowse(w io.Writer, who string, res *httpxfer.BrowseResult, err error, asJSON bool) error {
	if res != nil && (err == nil || len(res.Files) > 0) {
		enc := newJSONEncoder(w)
		// The servent's GUID comes from its QueryHits: one that shares
		// nothing sends none.
		known := res.ServentGUID != (wire.GUID{})
		if !asJSON {
			var about []string
			if res.Server != "" {
				about = append(about, res.Server)
			}
			if known {
				about = append(about, "servent "+res.ServentGUID.String())
			}
			if len(about) > 0 {
				who += " (" + strings.Join(about, ", ") + ")"
			}
			fmt.Fprintf(w, "%s: %s\n", who, english.Count(len(res.Files), "file", "files"))
		}
		for i, f := range res.Files {
			urn := ""
			if f.HasSHA1 {
				urn = f.SHA1.String()
			}
			if asJSON {
				m := map[string]any{"n": i + 1, "index": f.Index, "name": f.Name, "size": f.Size}
				if known {
					m["servent"] = res.ServentGUID.String()
				}
				if urn != "" {
					m["urn"] = urn
				}
				_ = enc.Encode(m)
				continue
			}
			fmt.Fprintf(w, "%4d. %s  %s  %s\n", i+1, f.Name, humanBytes(int64(f.Size)), urn)
		}
	}
	return err // it names the browse and its host
}
