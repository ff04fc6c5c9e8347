package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/govent/govent/cmd/internal/p2pmodel"
	"github.com/govent/govent/cmd/internal/p2pnode"
	"github.com/govent/govent/cmd/internal/p2pstats"
	"github.com/govent/govent/cmd/internal/workload"
)

func workloadCommand() *cli.Command {
	return &cli.Command{
		Name:  "workload",
		Usage: "drive the session and query model against one servent and measure what comes back",
		Description: "Runs the workload model's sessions against the servent at --peer, ours or another: each\n" +
			"session a leaf of this build that connects to --peer and to nothing else, sends its\n" +
			"query route table, shares files of the model's catalog and issues its user's queries\n" +
			"at the model's times, each listened to for --window. --sessions is the mean number online;\n" +
			"with the default churn most sessions are short, as measured. So the servent routes\n" +
			"the sessions' queries to one another as an ultrapeer routes its leaves': a query is\n" +
			"findable when another session online shares its file, and hits from the servent's own\n" +
			"network count as answers too. It prints the figures govent netsim prints, for what\n" +
			"came back. On loopback each session dials from its own 127.2.x.y address; for a\n" +
			"servent elsewhere, all from --from, so raise its per-address limits (our servent:\n" +
			"govent run --per-address N).\n" +
			"Exit status: 0 when the run completed and every hit reached the session that searched,\n" +
			"1 otherwise, 2 for usage errors.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "peer", Usage: "`IP:PORT` of the servent under load (required)"},
			&cli.IntFlag{Name: "sessions", Value: workload.DefaultSessions, Usage: "mean number of sessions online"},
			&cli.StringFlag{Name: "model", Value: "default", Usage: "workload model `FILE`, or default", TakesFile: true},
			&cli.StringFlag{Name: "churn", Value: "default", Usage: "churn model `FILE`, default, or none (every session stays)", TakesFile: true},
			&cli.DurationFlag{Name: "duration", Value: workload.DefaultDuration, Usage: "how long to drive it, after a short warm-up"},
			&cli.DurationFlag{Name: "window", Value: p2pnode.DefaultSearchWindow, Usage: "how long each query is listened to (the run goes on that long for the last ones)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the sessions and their queries"},
			&cli.StringFlag{Name: "from", Usage: "local `IP` of the sessions when --peer is not on loopback"},
			&cli.StringFlag{Name: "json", Usage: "write the figures as JSON to `FILE` (- for standard output, instead of the text)", TakesFile: true},
			&cli.StringFlag{Name: "report", Usage: "write an HTML report with plots to `DIR`/index.html", TakesFile: true},
		},
		Action: runWorkload,
	}
}

func runWorkload(ctx context.Context, c *cli.Command) error {
	if err := wantArgs(c, 0, ""); err != nil {
		return err
	}
	err := checkFlags(ctx, c, required("peer"), ipPorts("peer"), intRange("sessions", 1, workload.MaxSessions),
		positiveDuration("duration"), positiveDuration("window"),
		each("from", func(s string) string {
			if _, err := netip.ParseAddr(s); s != "" && err != nil {
				return "want an IP address"
			}
			return ""
		}),
		reportFile("json"), makableDir("report"))
	if err != nil {
		return err
	}
	wl := p2pmodel.DefaultWorkload()
	if m := c.String("model"); m != "default" {
		if wl, err = p2pmodel.LoadWorkload(m); err != nil {
			return usageError(fmt.Errorf("--model: %w", err))
		}
	}
	cfg := workload.Config{Target: netip.MustParseAddrPort(c.String("peer")), Sessions: c.Int("sessions"), Workload: wl,
		Duration: c.Duration("duration"), SearchWindow: c.Duration("window"), Seed: c.Uint64("seed")}
	switch ch := c.String("churn"); ch {
	case "none":
	case "default":
		cfg.Churn = p2pmodel.DefaultChurn()
	default:
		if cfg.Churn, err = p2pmodel.LoadChurn(ch); err != nil {
			return usageError(fmt.Errorf("--churn: %w", err))
		}
	}
	if f := c.String("from"); f != "" {
		cfg.From = netip.MustParseAddr(f)
	}
	// Ctrl-C, SIGTERM, SIGHUP or its output closed end the run, and its
	// sessions' share directories are removed.
	ctx, halt, done := stoppableRun(ctx)
	defer done()
	errOut := stopOnError{c.Root().ErrWriter, halt}
	cfg.Progress = func(s string) { fmt.Fprintf(errOut, "workload: %s\n", s) }
	r, runErr := workload.Run(ctx, cfg)
	if r == nil || errors.Is(runErr, workload.ErrNoLink) {
		return runErr // a target that took no session: no figures to show
	}
	r.Memory.MaxRSSBytes = p2pnode.MaxRSS()
	hint := queriesHint{wl, "--sessions", "--model"}
	interrupted := ctx.Err() != nil
	if interrupted || r.Links.Linked == 0 {
		hint = queriesHint{} // it had no time, or no link, to issue them: no advice
	}
	if err := writeRuns(c, []*p2pstats.Results{r}, hint); err != nil {
		return err
	}
	if interrupted {
		ran := time.Duration(r.Run.RealS * float64(time.Second)).Round(100 * time.Millisecond)
		return fmt.Errorf("workload: interrupted%s after %v: the figures above cover only that", stopCause(ctx), ran)
	}
	if runErr != nil {
		return runErr
	}
	if n := r.ReversePath.DeliveredElsewhere; n > 0 {
		return fmt.Errorf("workload: %d QueryHits reached sessions that had not searched", n)
	}
	return nil
}
