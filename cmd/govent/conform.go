package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/govent/govent/cmd/internal/conform"
	"github.com/govent/govent/cmd/internal/english"
)

func conformCommand() *cli.Command {
	return &cli.Command{
		Name:      "conform",
		Usage:     "run the conformance suite against a servent: numbered cases, text, JSON and JUnit reports",
		ArgsUsage: "HOST:PORT",
		Description: "Plays the numbered cases of cmd/internal/conform/CASES.md against the servent at HOST:PORT,\n" +
			"each from fresh connections (several when it watches forwarding), and prints PASS, FAIL or\n" +
			"SKIP per case, with the evidence of each failure. Only HOST:PORT is contacted; Push cases\n" +
			"listen for its callback on the address that reaches it. Cases about QueryHits, HTTP uploads\n" +
			"and Push uploads need --query: words of a file the servent shares.\n" +
			"Servents limit how often one address may connect (gtk-gnutella bans an address after 2 Gnutella\n" +
			"connections or 5 HTTP requests in a minute). Against a servent on 127.0.0.0/8 each connection\n" +
			"comes from a loopback address of its own, so no such limit triggers. Elsewhere, name your local\n" +
			"addresses with --source and space the connections from each with --pace (30s for gtk-gnutella);\n" +
			"the run then says how long pacing makes it. A case the target refuses for connecting too often is\n" +
			"skipped, not failed, and a target that stops answering handshakes ends the run early. Ctrl-C\n" +
			"(or its output closed) ends it after the cases done so far, with their summary and reports.\n" +
			"Exit status: 0 when every MUST case passed, 1 otherwise (or interrupted), 2 for usage errors.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "role", Value: "both", Usage: "cases to run by `ROLE`: ultrapeer, leaf or both (both skips those of the role the target does not play)"},
			&cli.StringSliceFlag{Name: "only", Usage: "run only these `CASES` or groups (handshake/3,route)"},
			&cli.StringSliceFlag{Name: "skip", Usage: "skip these `CASES` or groups"},
			&cli.StringFlag{Name: "query", Usage: "`WORDS` of a file the target shares"},
			&cli.DurationFlag{Name: "timeout", Value: conform.DefaultTimeout, Usage: "how long each case waits for an answer"},
			&cli.StringSliceFlag{Name: "source", Usage: "local `ADDR` to connect from, each in turn (repeatable; default: a fresh loopback address per connection for a loopback target, else the system's choice)"},
			&cli.DurationFlag{Name: "pace", Usage: "least time between two connections from one source address (gtk-gnutella needs 30s)"},
			&cli.StringFlag{Name: "json", Usage: "write one JSON object per case to `FILE` (- for standard output, instead of the text)", TakesFile: true},
			&cli.StringFlag{Name: "junit", Usage: "write a JUnit XML report to `FILE`", TakesFile: true},
			&cli.BoolFlag{Name: "list", Usage: "list the cases and exit"},
		},
		Action: runConform,
	}
}

func runConform(ctx context.Context, c *cli.Command) error {
	out := c.Root().Writer
	if c.Bool("list") {
		if err := wantArgs(c, 0, ""); err != nil {
			return err
		}
		conform.WriteList(out, conform.Suite())
		return nil
	}
	if err := wantArgs(c, 1, "HOST:PORT argument"); err != nil {
		return err
	}
	if why := hostPortProblem(c.Args().First()); why != "" {
		return usageError(fmt.Errorf("%s: %s", c.Args().First(), why))
	}
	err := checkFlags(ctx, c, oneOf("role", "ultrapeer", "leaf", "both"), flagRule{"timeout", func(c *cli.Command) (string, string) {
		if c.Duration("timeout") <= 0 {
			return c.Duration("timeout").String(), "must be more than 0"
		}
		return "", ""
	}}, flagRule{"pace", func(c *cli.Command) (string, string) {
		if c.Duration("pace") < 0 {
			return c.Duration("pace").String(), "must not be negative"
		}
		return "", ""
	}}, each("source", func(v string) string {
		if _, err := netip.ParseAddr(strings.TrimSpace(v)); err != nil {
			return "want an IP address of this machine, such as 192.0.2.10"
		}
		return ""
	}), reportFile("json"), reportFile("junit"))
	if err != nil {
		return err
	}
	role, err := conform.ParseRole(c.String("role"))
	if err != nil {
		return usageError(err)
	}
	cfg := conform.Config{
		Target:  c.Args().First(),
		Role:    role,
		Only:    c.StringSlice("only"),
		Skip:    c.StringSlice("skip"),
		Timeout: c.Duration("timeout"),
		Query:   c.String("query"),
		Pace:    c.Duration("pace"),
	}
	for _, v := range c.StringSlice("source") {
		cfg.Sources = append(cfg.Sources, netip.MustParseAddr(strings.TrimSpace(v)))
	}
	// Check the selection before connecting to anything.
	selected, err := conform.Select(conform.Suite(), cfg.Only, cfg.Skip, cfg.Role)
	if err != nil {
		return usageError(err)
	}
	// Ctrl-C, SIGTERM, SIGHUP or its output closed (conform | head -1)
	// end the run after the cases done so far, which are summed up and
	// reported: a paced run lasts hours.
	ctx, halt, done := stoppableRun(ctx)
	defer done()
	jsonOut := c.String("json")
	var text io.Writer = stopOnError{out, halt}
	if jsonOut == "-" {
		// Standard output carries the JSON; the human report goes to
		// standard error.
		text = stopOnError{c.Root().ErrWriter, halt}
	}
	cfg.OnStart = func(rep *conform.Report) { conform.WriteStart(text, rep) }
	cfg.OnResult = func(r conform.Result) { conform.WriteText(text, r) }
	rep, err := conform.Run(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("conform: interrupted%s before any case ran", stopCause(ctx))
		}
		return err
	}
	conform.WriteSummary(text, rep)
	if jsonOut != "" {
		if err := writeReport(jsonOut, out, func(w io.Writer) error { return conform.WriteJSON(w, rep) }); err != nil {
			return err
		}
	}
	if f := c.String("junit"); f != "" {
		if err := writeReport(f, out, func(w io.Writer) error { return conform.WriteJUnit(w, rep) }); err != nil {
			return err
		}
	}
	if ctx.Err() != nil && len(rep.Results) == 0 {
		return fmt.Errorf("conform: interrupted%s before any case ran", stopCause(ctx))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("conform: interrupted%s after %d of %d cases: the summary and reports cover only those",
			stopCause(ctx), len(rep.Results), len(selected))
	}
	if !rep.OK() {
		return fmt.Errorf("conform: %s failed", english.Count(rep.Count(conform.Fail, conform.Must), "MUST case", "MUST cases"))
	}
	return nil
}
