package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/govent/govent/cmd/internal/english"
	"github.com/govent/govent/cmd/internal/netsim"
	"github.com/govent/govent/cmd/internal/p2pmodel"
	"github.com/govent/govent/cmd/internal/p2pnode"
	"github.com/govent/govent/cmd/internal/p2pstats"
)

func netsimCommand() *cli.Command {
	return &cli.Command{
		Name:  "netsim",
		Usage: "run a network of real servents with churn and a query workload, and measure it",
		Description: "Starts --nodes servents of this build in one process (a share --ultrapeers of them\n" +
			"ultrapeers), each on an address of its own and sharing files of the workload model's\n" +
			"catalog, joined through a bootstrap node and its host cache like a real network; the\n" +
			"ultrapeers dial each other as --topology says. Servents join and leave as the churn\n" +
			"model says (--churn none: all stay), and their users issue the workload model's queries,\n" +
			"each listened to for --window. Then it prints, per run: queries issued and answered, the\n" +
			"success rate of those that had a matching file online, hits and descriptors per query,\n" +
			"bytes per node per second by message type, time to first hit, connections dropped by\n" +
			"reason, the QueryHits' reverse-path check, memory and the real time taken.\n" +
			"\n" +
			"By default the network is in memory and runs in virtual time (a child process runs it\n" +
			"under testing/synctest): 10 simulated minutes take only the CPU they need, and the\n" +
			"links have no latency. --realtime runs on loopback TCP, each servent on its own\n" +
			"127.x.y.z address, with the real clock. --compare runs the same seed once per routing\n" +
			"(flood: every Query to every neighbour and leaf; qrp+dq: QRP and dynamic querying, as\n" +
			"the servent ships) and reports them side by side; --json FILE and --report DIR write\n" +
			"the figures for machines and a self-contained HTML page with plots.\n" +
			"\n" +
			"A network larger than one machine: run one netsim per host with --realtime and --bind\n" +
			"set to that host's address; the first prints its bootstrap node's address, and the\n" +
			"others join through it with --bootstrap IP:PORT. The servents speak real TCP to each\n" +
			"other; each process reports the figures of its own servents.\n" +
			"\n" +
			"--workload and --churn take a model file, or \"default\" for the built-in ones that\n" +
			"--print-model prints (with the source of every number). Exit status: 0 when the runs\n" +
			"completed and every QueryHit went back on its Query's reverse path, 1 otherwise, 2 for\n" +
			"usage errors.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: netsim.DefaultNodes, Usage: "mean number of servents online"},
			&cli.FloatFlag{Name: "ultrapeers", Value: netsim.DefaultUltrapeers, Usage: "share of the servents that are ultrapeers, in (0, 1]"},
			&cli.StringFlag{Name: "topology", Value: string(netsim.Random), Usage: "`TOPOLOGY` of the ultrapeers' links: random, powerlaw or ring"},
			&cli.DurationFlag{Name: "duration", Value: netsim.DefaultDuration, Usage: "measured run, after the warm-up"},
			&cli.DurationFlag{Name: "window", Value: p2pnode.DefaultSearchWindow, Usage: "how long each query is listened to (the run goes on that long for the last ones)"},
			&cli.DurationFlag{Name: "settle", Value: netsim.DefaultSettle, Usage: "warm-up: how long the first servents have to connect, after the last one started"},
			&cli.StringFlag{Name: "churn", Value: "default", Usage: "churn model `FILE`, default, or none (every servent stays)", TakesFile: true},
			&cli.StringFlag{Name: "workload", Value: "default", Usage: "workload model `FILE`, or default", TakesFile: true},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the timeline and the topology"},
			&cli.StringFlag{Name: "routing", Value: string(netsim.QRPDQ), Usage: "`ROUTING` of a single run: flood or qrp+dq"},
			&cli.StringSliceFlag{Name: "compare", Usage: "run the same seed once per `ROUTING` and report them side by side: flood,qrp+dq"},
			&cli.BoolFlag{Name: "realtime", Usage: "loopback TCP and the real clock instead of virtual time"},
			&cli.StringFlag{Name: "bind", Usage: "--realtime: every servent on `IP` (the bootstrap node on IP:PORT if a port is given), for runs across hosts"},
			&cli.StringFlag{Name: "bootstrap", Usage: "--realtime: join an existing network through `IP:PORT` instead of starting a bootstrap node"},
			&cli.StringFlag{Name: "json", Usage: "write the figures as JSON to `FILE` (- for standard output, instead of the text)", TakesFile: true},
			&cli.StringFlag{Name: "report", Usage: "write an HTML report with plots to `DIR`/index.html", TakesFile: true},
			&cli.StringFlag{Name: "print-model", Usage: "print the default `MODEL` (workload or churn) and exit"},
		},
		Action: runNetsim,
	}
}

func runNetsim(ctx context.Context, c *cli.Command) error {
	if err := wantArgs(c, 0, ""); err != nil {
		return err
	}
	out := c.Root().Writer
	if m := c.String("print-model"); m != "" {
		switch m {
		case "workload":
			_, err := out.Write(p2pmodel.DefaultWorkloadTOML)
			return err
		case "churn":
			_, err := out.Write(p2pmodel.DefaultChurnTOML)
			return err
		}
		return usageError(fmt.Errorf("--print-model %s: want workload or churn", m))
	}
	err := checkFlags(ctx, c,
		intRange("nodes", 1, netsim.MaxNodes),
		flagRule{"ultrapeers", func(c *cli.Command) (string, string) {
			if v := c.Float("ultrapeers"); !(v > 0 && v <= 1) {
				return fmt.Sprint(v), "want a share above 0 and at most 1"
			}
			return "", ""
		}},
		oneOf("topology", "random", "powerlaw", "ring"),
		positiveDuration("duration"),
		positiveDuration("settle"), positiveDuration("window"),
		oneOf("routing", string(netsim.Flood), string(netsim.QRPDQ)),
		each("compare", func(s string) string {
			if _, err := netsim.ParseRouting(s); err != nil {
				return "want flood or qrp+dq"
			}
			return ""
		}),
		ipPorts("bootstrap"),
		flagRule{"bind", func(c *cli.Command) (string, string) {
			v := c.String("bind")
			if v == "" {
				return "", ""
			}
			if ap, err := netsim.ParseBind(v); err != nil || !ap.Addr().Is4() {
				return v, "want an IPv4 address, optionally with the bootstrap node's port (10.0.0.1 or 10.0.0.1:6346)"
			}
			if !c.Bool("realtime") {
				return v, "needs --realtime"
			}
			return "", ""
		}},
		flagRule{"bootstrap", func(c *cli.Command) (string, string) {
			if c.String("bootstrap") != "" && !c.Bool("realtime") {
				return c.String("bootstrap"), "needs --realtime: an in-memory network reaches no other host"
			}
			return "", ""
		}},
		reportFile("json"), makableDir("report"),
	)
	if err != nil {
		return err
	}
	spec, err := netsimSpec(c)
	if err != nil {
		return err
	}
	routings := []netsim.Routing{netsim.Routing(c.String("routing"))}
	if c.IsSet("compare") {
		routings = nil
		for _, r := range c.StringSlice("compare") {
			routings = append(routings, netsim.Routing(strings.ToLower(r)))
		}
	}
	// Ctrl-C, SIGTERM, SIGHUP or its output closed (netsim 2>&1 | head
	// -1) end the run: the child's too, and its files are removed.
	ctx, halt, done := stoppableRun(ctx)
	defer done()
	errOut := stopOnError{c.Root().ErrWriter, halt}
	progress := func(s string) { fmt.Fprintf(errOut, "netsim: %s\n", s) }
	var runs []*p2pstats.Results
	var runErr error
	for _, r := range routings {
		spec.Routing = r
		progress(fmt.Sprintf("run %s", r))
		res, err := runOne(ctx, c, spec, progress)
		if res != nil {
			runs = append(runs, res)
		}
		if ctx.Err() != nil {
			why := stopCause(ctx)
			if res == nil {
				return fmt.Errorf("netsim: interrupted%s during run %s, before any figures", why, r)
			}
			runErr = fmt.Errorf("netsim: interrupted%s after %v of run %s: the figures above cover only that", why,
				time.Duration(res.Run.RealS*float64(time.Second)).Round(100*time.Millisecond), r)
			break
		}
		if errors.Is(err, netsim.ErrNoBootstrap) {
			return err // no network joined: no figures to show
		}
		if err != nil {
			runErr = fmt.Errorf("run %s: %w", r, err)
			break
		}
	}
	if len(runs) == 0 {
		return runErr
	}
	hint := queriesHint{modelFlag: "--workload", sizeFlag: "--nodes"}
	if ctx.Err() == nil { // else it had no time to issue them: no advice
		hint.workload, _ = p2pmodel.ParseWorkload(spec.Workload.Name, spec.Workload.TOML) // checked by netsimSpec
	}
	if err := writeRuns(c, runs, hint); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	return offPath(runs)
}

// positiveDuration: the value is more than 0.
func positiveDuration(flag string) flagRule {
	return flagRule{flag, func(c *cli.Command) (string, string) {
		if d := c.Duration(flag); d <= 0 {
			return d.String(), "must be more than 0"
		}
		return "", ""
	}}
}

// netsimSpec reads the models and the flags into a run.
func netsimSpec(c *cli.Command) (netsim.Spec, error) {
	w, err := netsim.LoadModel(c.String("workload"), p2pmodel.DefaultWorkloadTOML, "defaults/workload.toml")
	if err == nil {
		_, err = p2pmodel.ParseWorkload(w.Name, w.TOML)
	}
	if err != nil {
		return netsim.Spec{}, usageError(fmt.Errorf("--workload: %w", err))
	}
	spec := netsim.Spec{Nodes: c.Int("nodes"), Ultrapeers: c.Float("ultrapeers"), Topology: netsim.Topology(c.String("topology")),
		Duration: c.Duration("duration"), Settle: c.Duration("settle"), SearchWindow: c.Duration("window"),
		Workload: w, Seed: c.Uint64("seed")}
	if ch := c.String("churn"); ch != "none" {
		m, err := netsim.LoadModel(ch, p2pmodel.DefaultChurnTOML, "defaults/churn.toml")
		if err == nil {
			_, err = p2pmodel.ParseChurn(m.Name, m.TOML)
		}
		if err != nil {
			return netsim.Spec{}, usageError(fmt.Errorf("--churn: %w", err))
		}
		spec.Churn = &m
	}
	// The timeline is generated here too, so that a model too large for
	// memory is a usage error before anything starts.
	cfg, err := spec.Config()
	if err == nil {
		_, err = p2pmodel.Generate(p2pmodel.Params{Nodes: cfg.Nodes, Ultrapeers: cfg.Ultrapeers, Duration: time.Second,
			Seed: cfg.Seed, Workload: cfg.Workload, Churn: cfg.Churn})
	}
	if err != nil {
		return netsim.Spec{}, usageError(err)
	}
	return spec, nil
}

// runOne runs one routing, virtual or real.
func runOne(ctx context.Context, c *cli.Command, spec netsim.Spec, progress func(string)) (*p2pstats.Results, error) {
	if !c.Bool("realtime") {
		return netsim.RunVirtual(ctx, spec, progress)
	}
	cfg, err := spec.Config()
	if err != nil {
		return nil, err
	}
	cfg.Progress = progress
	if b := c.String("bind"); b != "" {
		cfg.Bind, _ = netsim.ParseBind(b)
	}
	if b := c.String("bootstrap"); b != "" {
		cfg.Bootstrap = netip.MustParseAddrPort(b) // checked by ipPorts
	}
	return netsim.RunRealtime(ctx, cfg)
}

// writeRuns prints the figures and writes --json and --report (netsim,
// workload).
func writeRuns(c *cli.Command, runs []*p2pstats.Results, hint queriesHint) error {
	out := c.Root().Writer
	jsonOut := c.String("json")
	text := out
	if jsonOut == "-" {
		text = c.Root().ErrWriter
	}
	writeFigures(text, runs)
	hint.noQueries(text, runs)
	if jsonOut != "" {
		err := writeReport(jsonOut, out, func(w io.Writer) error {
			enc := newJSONEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				Runs []*p2pstats.Results `json:"runs"`
			}{runs})
		})
		if err != nil {
			return err
		}
	}
	if dir := c.String("report"); dir != "" {
		path, err := p2pstats.WriteReport(dir, runs...)
		if err != nil {
			return err
		}
		fmt.Fprintf(text, "report: %s\n", path)
	}
	return nil
}

// queriesHint says, for a run that issued no query, why and which flags
// change that: without it every figure is n/a and nothing says why.
type queriesHint struct {
	workload            *p2pmodel.Workload // nil: no hint (an interrupted run)
	sizeFlag, modelFlag string             // --nodes/--sessions, --workload/--model
}

func (h queriesHint) noQueries(w io.Writer, runs []*p2pstats.Results) {
	if h.workload == nil {
		return
	}
	for _, r := range runs {
		if r.Queries.Issued > 0 {
			return
		}
	}
	s := &h.workload.Session
	fmt.Fprintf(w, "0 queries issued: the workload model %s issues about %.2g queries per session-hour "+
		"(an active session's first about %.0f s after it joins); raise %s or --duration, or give %s a busier model\n",
		h.workload.Name, s.QueriesPerHour(), s.FirstQuery.Mean(), h.sizeFlag, h.modelFlag)
}

// writeFigures prints what ran and the figures, one column per run.
func writeFigures(w io.Writer, runs []*p2pstats.Results) {
	r := runs[0].Run
	what := "nodes"
	if r.Target != "" {
		what = "sessions"
	}
	fmt.Fprintf(w, "%s clock, %d %s, %s, churn %s, workload %s, seed %d\n",
		r.Clock, r.Nodes, what, time.Duration(r.DurationS*float64(time.Second)), r.Churn, r.Workload, r.Seed)
	if r.Topology != "" {
		fmt.Fprintf(w, "topology %s\n", r.Topology)
	}
	if r.Target != "" {
		fmt.Fprintf(w, "target %s\n", r.Target)
	}
	figs := p2pstats.Figures(runs...)
	nameW, valW := 0, 8
	for _, f := range figs {
		nameW = max(nameW, len(f.Name))
		for _, v := range f.Values {
			valW = max(valW, len(v))
		}
	}
	for _, run := range runs {
		valW = max(valW, len(run.Run.Label))
	}
	line := func(name string, values []string) {
		fmt.Fprintf(w, "%-*s", nameW, name)
		for _, v := range values {
			fmt.Fprintf(w, "  %*s", valW, v)
		}
		fmt.Fprintln(w)
	}
	var labels []string
	for _, run := range runs {
		labels = append(labels, run.Run.Label)
	}
	line("", labels)
	for _, f := range figs {
		line(f.Name, f.Values)
	}
}

// offPath is an error when a run's QueryHits strayed from their reverse
// paths.
func offPath(runs []*p2pstats.Results) error {
	var errs []error
	for _, r := range runs {
		if rp := r.ReversePath; rp.OffPath+rp.DeliveredElsewhere > 0 {
			errs = append(errs, fmt.Errorf("%s: %s forwarded off their reverse path and %d delivered to a servent that did not search (%s)",
				r.Run.Label, english.Count(int(rp.OffPath), "QueryHit", "QueryHits"), rp.DeliveredElsewhere, english.Count(int(rp.QueriesOffPath), "query", "queries")))
		}
	}
	return errors.Join(errs...)
}

// netsimChild is the process netsim.RunVirtual starts: one test, run by
// testing.Main, which exits.
func netsimChild() {
	os.Args = []string{os.Args[0], "-test.run=^" + netsim.ChildTest + "$", "-test.timeout=0"}
	results := os.NewFile(3, "netsim results")
	testing.Main(func(pat, name string) (bool, error) { return name == netsim.ChildTest, nil },
		[]testing.InternalTest{{Name: netsim.ChildTest, F: netsim.RunChild(os.Stdin, results, os.Stderr)}}, nil, nil)
}
