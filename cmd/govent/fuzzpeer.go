package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/govent/govent/cmd/internal/english"
	"github.com/govent/govent/cmd/internal/interrupt"
	"github.com/govent/govent/fuzz/peer"
)

func fuzzPeerCommand() *cli.Command {
	timeouts := []cli.Flag{
		&cli.DurationFlag{Name: "answer-timeout", Value: peer.DefaultAnswerTimeout, Usage: "how long a case waits for each answer"},
		&cli.DurationFlag{Name: "live-timeout", Value: peer.DefaultLiveTimeout, Usage: "bound on a control check: past it the target is unresponsive"},
		&cli.DurationFlag{Name: "slow", Value: peer.DefaultSlowAfter, Usage: "a control check slower than this is a finding"},
		&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
	}
	return &cli.Command{
		Name:      "fuzz-peer",
		Usage:     "fuzz a live servent over the network and keep reproducers of what breaks it",
		ArgsUsage: "HOST:PORT",
		Description: "Sends structure-aware mutations of valid traffic (our encoders and captured gtk-gnutella\n" +
			"sessions) to HOST:PORT, one fresh connection per case, and checks after every --check-every\n" +
			"cases, on a connection of its own, that the target still handshakes and answers a Ping\n" +
			"(and an HTTP HEAD when http is targeted). A target that stops answering, refuses, is slow\n" +
			"or answers with broken state is a finding: it is minimised by replaying it with parts\n" +
			"removed and saved as a JSON reproducer under --out. It contacts HOST:PORT only and stops\n" +
			"at --duration (or --max-cases). Exit status: 0 no finding, 1 findings (or the target was\n" +
			"down from the start, or the run was interrupted), 2 a usage mistake.\n\n" +
			"Against a loopback target the cases come from many source addresses in 127.1.0.0/22,\n" +
			"so that per-address limits of the target do not stop them.\n" +
			"Only fuzz servents you run or may test.",
		Flags: ownFlags(append([]cli.Flag{
			&cli.DurationFlag{Name: "duration", Value: 10 * time.Minute, Usage: "how long to fuzz"},
			&cli.IntFlag{Name: "max-cases", Usage: "stop after this many cases (0: only --duration)"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the cases; the summary prints it", DefaultText: "random"},
			&cli.StringFlag{Name: "rate", Value: "200/s", Usage: "`RATE` at which cases start, at most: N/s, N/m, or 0 for no bound"},
			&cli.StringFlag{Name: "targets", Value: "all", Usage: "`AREAS` to fuzz: " + areaList()},
			&cli.StringFlag{Name: "out", Value: "fuzz-peer-findings", Usage: "directory `DIR` for reproducers and the journal of unchecked cases (made only when there are findings, or cases left unchecked: a clean run removes the one it made)", TakesFile: true},
			&cli.IntFlag{Name: "check-every", Value: peer.DefaultCheckEvery, Usage: "control check after every N cases"},
			&cli.IntFlag{Name: "parallel", Value: peer.DefaultParallel, Usage: "cases run at once"},
			&cli.DurationFlag{Name: "recover-wait", Value: peer.DefaultRecoverWait, Usage: "how long to wait for a target that went down to come back (never past --duration)"},
			&cli.DurationFlag{Name: "minimise", Value: peer.DefaultMinimiseTime, Usage: "time spent minimising each finding (0: keep them whole)"},
		}, timeouts...)),
		Action: fuzzPeerAction,
		Commands: []*cli.Command{{
			Name:      "replay",
			Usage:     "send a reproducer again and say whether it still reproduces",
			ArgsUsage: "FILE HOST:PORT",
			Description: "Checks that HOST:PORT is live, sends the reproducer's cases in order (each on a fresh\n" +
				"connection, the exact bytes recorded), then runs the control check. FILE may also be the\n" +
				"journal of unchecked cases a killed or interrupted run leaves behind. Exit status 1 when it\n" +
				"reproduces or the replay could not run (FILE missing or not a reproducer, target down),\n" +
				"0 when the target passes, 2 a usage mistake.",
			Flags: append([]cli.Flag{
				&cli.DurationFlag{Name: "recover-wait", Usage: "how long to wait for the target to be live first"},
			}, timeouts...),
			Action: fuzzPeerReplayAction,
		}},
	}
}

// ownFlags marks flags as fuzz-peer's own: urfave/cli would otherwise
// give them to replay too, which lists them as global options and takes
// them without using them (--duration, "how long to fuzz").
func ownFlags(flags []cli.Flag) []cli.Flag {
	for _, f := range flags {
		switch f := f.(type) {
		case *cli.BoolFlag:
			f.Local = true
		case *cli.DurationFlag:
			f.Local = true
		case *cli.IntFlag:
			f.Local = true
		case *cli.Uint64Flag:
			f.Local = true
		case *cli.StringFlag:
			f.Local = true
		default:
			panic(fmt.Sprintf("fuzz-peer: flag %v of a type ownFlags does not know", f.Names()))
		}
	}
	return flags
}

func areaList() string {
	s := make([]string, len(peer.AllAreas))
	for i, a := range peer.AllAreas {
		s[i] = string(a)
	}
	return strings.Join(s, ",")
}

// targetArg checks the HOST:PORT argument at index i.
func targetArg(c *cli.Command, i int) error {
	if why := hostPortProblem(c.Args().Get(i)); why != "" {
		return usageError(fmt.Errorf("%s: %s", c.Args().Get(i), why))
	}
	return nil
}

func fuzzPeerAction(ctx context.Context, c *cli.Command) error {
	if err := wantArgs(c, 1, "HOST:PORT argument"); err != nil {
		return err
	}
	if err := targetArg(c, 0); err != nil {
		return err
	}
	parses := func(flag string, parse func(string) error) flagRule {
		return flagRule{flag, func(c *cli.Command) (string, string) {
			if err := parse(c.String(flag)); err != nil {
				return c.String(flag), err.Error()
			}
			return "", ""
		}}
	}
	err := checkFlags(ctx, c, intRange("max-cases", 0, math.MaxInt), intRange("check-every", 1, math.MaxInt), intRange("parallel", 1, 4096),
		flagRule{"duration", func(c *cli.Command) (string, string) {
			if c.Duration("duration") <= 0 && c.Int("max-cases") == 0 {
				return c.Duration("duration").String(), "must be more than 0 (or give --max-cases)"
			}
			return "", ""
		}},
		parses("targets", func(s string) error { _, err := peer.ParseAreas(s); return err }),
		parses("rate", func(s string) error { _, err := peer.ParseRate(s); return err }),
		positiveDuration("recover-wait"), makableDir("out"))
	if err == nil {
		err = checkFlags(ctx, c, timeoutRules()...)
	}
	if err != nil {
		return err
	}
	areas, _ := peer.ParseAreas(c.String("targets")) // checked above
	rate, _ := peer.ParseRate(c.String("rate"))
	seed := c.Uint64("seed")
	if !c.IsSet("seed") {
		seed = rand.Uint64()
	}
	minimise := c.Duration("minimise")
	if minimise <= 0 {
		minimise = -1
	}
	cfg := peer.Config{
		Target:        c.Args().First(),
		Areas:         areas,
		Seed:          seed,
		Duration:      c.Duration("duration"),
		MaxCases:      c.Int("max-cases"),
		Rate:          rate,
		Parallel:      c.Int("parallel"),
		CheckEvery:    c.Int("check-every"),
		AnswerTimeout: c.Duration("answer-timeout"),
		LiveTimeout:   c.Duration("live-timeout"),
		SlowAfter:     c.Duration("slow"),
		RecoverWait:   c.Duration("recover-wait"),
		MinimiseTime:  minimise,
		OutDir:        c.String("out"),
		Logf: func(format string, args ...any) {
			fmt.Fprintf(c.Root().ErrWriter, "fuzz-peer: "+format+"\n", args...)
		},
	}
	ctx, stop := interrupt.Context(ctx)
	defer stop()
	sum, err := peer.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if err := printJSON(c.Root().Writer, sum); err != nil {
			return err
		}
	} else {
		printFuzzSummary(c.Root().Writer, sum)
	}
	found := ""
	if n := len(sum.Findings); n > 0 {
		found = fmt.Sprintf("%d finding(s) against %s, reproducers under %s", n, cfg.Target, cfg.OutDir)
	}
	if sum.Stopped == peer.StopInterrupted {
		// As get, demo and workload: exit 1, saying the run is partial.
		msg := fmt.Sprintf("fuzz-peer: interrupted%s after %.1fs: the summary above covers %s", stopCause(ctx), sum.Seconds, english.Count(sum.Cases, "case", "cases"))
		if found != "" {
			msg += "; " + found
		}
		if sum.Journal != "" {
			msg += fmt.Sprintf("; %s keeps the cases sent but not yet checked: `govent fuzz-peer replay %s %s` checks them",
				sum.Journal, sum.Journal, cfg.Target)
		}
		return errors.New(msg)
	}
	if found != "" {
		return errors.New("fuzz-peer: " + found)
	}
	return nil
}

func printFuzzSummary(w io.Writer, s *peer.Summary) {
	fmt.Fprintf(w, "fuzz-peer %s: %s in %.1fs (%.0f cases/s), seed %d, stopped: %s\n",
		s.Target, english.Count(s.Cases, "case", "cases"), s.Seconds, s.CasesPerSecond, s.Seed, s.Stopped)
	areas := make([]string, 0, len(s.PerArea))
	for _, a := range s.Areas {
		areas = append(areas, fmt.Sprintf("%s %d", a, s.PerArea[a]))
	}
	fmt.Fprintf(w, "cases per area: %s\n", strings.Join(areas, ", "))
	fmt.Fprintf(w, "answers: %s\n", countList(s.Answers))
	for _, a := range s.Areas {
		if m := s.AnswersByArea[a]; len(m) > 0 {
			fmt.Fprintf(w, "  %-10s %s\n", a, countList(m))
		}
	}
	fmt.Fprintf(w, "control checks: %d, failed %d, transient %d; shared files found for HTTP cases: %d\n",
		s.Checks, s.FailedChecks, len(s.Transient), s.DiscoveredFiles)
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	fmt.Fprintf(w, "findings: %d\n", len(s.Findings))
	for _, f := range s.Findings {
		fmt.Fprintf(w, "  %s: %s\n", f.Key, f.Detail)
		fmt.Fprintf(w, "    %d case(s), %d bytes (from %d, %d bytes), reproduced %v, seen %d time(s)\n",
			f.Cases, f.Bytes, f.OriginalCases, f.OriginalBytes, f.Reproduced, f.Seen)
		if f.File != "" {
			fmt.Fprintf(w, "    %s\n", f.File)
		}
	}
}

func printJSON(w io.Writer, v any) error {
	enc := newJSONEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// countList prints counts largest first, ties by name.
func countList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// timeoutRules check the timeouts that fuzz-peer and its replay share:
// peer.Config reads 0 as "the default", so a 0 said on the command line
// ran with the default, without a word.
func timeoutRules() []flagRule {
	return []flagRule{positiveDuration("answer-timeout"), positiveDuration("live-timeout"), positiveDuration("slow")}
}

func fuzzPeerReplayAction(ctx context.Context, c *cli.Command) error {
	if c.NArg() != 2 {
		return usageError(fmt.Errorf("want FILE and HOST:PORT arguments, got %s", english.Count(c.NArg(), "argument", "arguments")))
	}
	if err := targetArg(c, 1); err != nil {
		return err
	}
	rules := append(timeoutRules(), flagRule{"recover-wait", func(c *cli.Command) (string, string) {
		if d := c.Duration("recover-wait"); d < 0 {
			return d.String(), "must not be negative"
		}
		return "", ""
	}})
	if err := checkFlags(ctx, c, rules...); err != nil {
		return err
	}
	rep, err := peer.ReadReproducer(c.Args().Get(0))
	if err != nil {
		return err // the replay could not run: exit 1, its line names FILE
	}
	ctx, stop := interrupt.Context(ctx)
	defer stop()
	res, err := peer.Replay(ctx, rep, peer.ReplayConfig{
		Target:        c.Args().Get(1),
		AnswerTimeout: c.Duration("answer-timeout"),
		LiveTimeout:   c.Duration("live-timeout"),
		SlowAfter:     c.Duration("slow"),
		RecoverWait:   c.Duration("recover-wait"),
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if err := printJSON(c.Root().Writer, res); err != nil {
			return err
		}
	} else {
		for i, a := range res.Answers {
			fmt.Fprintf(c.Root().Writer, "case %d (%s, %s): %s\n", rep.Cases[i].Index, rep.Cases[i].Area, rep.Cases[i].Field(), a.Key())
		}
		want := "any failure"
		if rep.Effect != "" {
			want = string(rep.Effect)
		}
		switch {
		case res.Reproduced:
			fmt.Fprintf(c.Root().Writer, "REPRODUCED: %s %s (recorded: %s)\n", res.Health.Effect, res.Health.Detail, want)
		case res.Health.OK:
			fmt.Fprintf(c.Root().Writer, "not reproduced: the target passed the control check (recorded: %s)\n", want)
		default:
			fmt.Fprintf(c.Root().Writer, "not reproduced: the target failed otherwise: %s %s (recorded: %s)\n", res.Health.Effect, res.Health.Detail, want)
		}
	}
	if res.Reproduced {
		return fmt.Errorf("fuzz-peer replay: %s still reproduces against %s", c.Args().Get(0), c.Args().Get(1))
	}
	return nil
}
