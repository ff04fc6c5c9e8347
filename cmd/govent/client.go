package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/urfave/cli/v3"

	"github.com/govent/govent/cmd/internal/english"
	"github.com/govent/govent/cmd/internal/interrupt"
	"github.com/govent/govent/cmd/internal/top"
	"github.com/govent/govent/servent/control"
)

// The client verbs talk to a running `govent run` through its control API.
// They find it through its data directory: --data, else run's own (from
// $GOVENT_DATA or [run] data in the config file), holds the token and the
// address the daemon listens on; --control overrides the address.

// daemonFlags are the flags every client verb has.
func daemonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data", Usage: "the daemon's data directory `DIR`, with its token (default: run's --data, from $GOVENT_DATA or the config file)", TakesFile: true},
		&cli.StringFlag{Name: "control", Usage: "the daemon's control `ADDR` (default: the address it recorded in its data directory)"},
	}
}

func clientFlags() []cli.Flag {
	return append(daemonFlags(), &cli.BoolFlag{Name: "json", Usage: "print JSON"})
}

// connectDaemon returns a client for the daemon the flags name.
func connectDaemon(ctx context.Context, c *cli.Command, lookupEnv func(string) (string, bool)) (*control.Client, string, error) {
	data := c.String("data")
	if data == "" {
		file, err := openConfig(c, lookupEnv)
		if err != nil {
			return nil, "", err
		}
		if data, _, err = runData(file, lookupEnv); err != nil {
			return nil, "", err
		}
	}
	if data == "" && c.String("control") != "" {
		return nil, "", usageError(errors.New("--data DIR: the token is in the data directory of its govent run (--control gives only the address)"))
	}
	if data == "" {
		return nil, "", usageError(errors.New("--data DIR: which daemon? Give the data directory of its govent run (or set $GOVENT_DATA)"))
	}
	if _, why, _ := notADirectory(data); why != "" {
		// Not "control: token file: lstat DATA/control-token: not a directory".
		return nil, "", usageError(fmt.Errorf("--data %s: %s; want the data directory of its govent run", data, why))
	}
	tok, err := control.ReadToken(data)
	if errors.Is(err, control.ErrNoToken) {
		return nil, "", fmt.Errorf("no daemon has run with --data %s (no %s); start one with govent run --data %s", data, filepath.Join(data, control.TokenFile), data)
	}
	if err != nil {
		return nil, "", err
	}
	addr := c.String("control")
	if addr == "" {
		if addr, err = control.ReadAddr(data); err != nil {
			return nil, "", err
		}
	}
	if addr == "" {
		return nil, "", fmt.Errorf("no daemon runs with --data %s (no %s); start one with govent run --data %s", data, filepath.Join(data, control.AddrFile), data)
	}
	return control.NewClient(addr, tok), data, nil
}

// runData is run's --data as the environment or the config file sets it,
// and where it came from ("" for neither): the data directory of a client
// verb without --data of its own.
func runData(file *configFile, lookupEnv func(string) (string, bool)) (data, from string, err error) {
	run := []cli.Flag{&cli.StringFlag{Name: "data"}}
	sources, err := resolve([]string{"run"}, run, func(string) bool { return false },
		func(_, v string) error { data = v; return nil }, lookupEnv, file)
	return data, sources["data"], err
}

// daemonError says what went wrong in the terms of the command line.
func daemonError(cl *control.Client, data string, err error) error {
	switch {
	case errors.Is(err, control.ErrNoDaemon):
		return fmt.Errorf("no daemon answers at %s: is govent run --data %s running?", cl.Addr(), data)
	case errors.Is(err, control.ErrUnauthorized):
		return fmt.Errorf("the daemon at %s refused the token in %s: it runs with another data directory", cl.Addr(), filepath.Join(data, control.TokenFile))
	}
	return err
}

// clientCommand is a client verb: show runs with a connected client.
func clientCommand(name, usage, desc string, lookupEnv func(string) (string, bool), extra []cli.Flag,
	show func(ctx context.Context, c *cli.Command, cl *control.Client, w io.Writer) error) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, Description: desc,
		Flags: append(clientFlags(), extra...),
		Action: func(ctx context.Context, c *cli.Command) error {
			if err := wantArgs(c, 0, ""); err != nil {
				return err
			}
			cl, data, err := connectDaemon(ctx, c, lookupEnv)
			if err != nil {
				return err
			}
			return daemonError(cl, data, show(ctx, c, cl, c.Root().Writer))
		},
	}
}

func statusCommand(lookupEnv func(string) (string, bool)) *cli.Command {
	return clientCommand("status", "show what a running servent is and holds",
		"Asks the govent run of --data for its role, address, GUID, uptime and counts.", lookupEnv, nil,
		func(ctx context.Context, c *cli.Command, cl *control.Client, w io.Writer) error {
			st, err := cl.Status(ctx)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(w, st)
			}
			addr := st.Addr
			if addr == "" {
				addr = "none (dial-only)"
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "role\t%s\n", st.Role)
			fmt.Fprintf(tw, "address\t%s\n", addr)
			switch {
			case st.UDP == "":
				fmt.Fprintf(tw, "udp\tnone: searches get in-band replies only\n")
			case st.UDPReachable:
				fmt.Fprintf(tw, "udp\t%s, reachable: searches ask for out-of-band replies\n", st.UDP)
			default:
				fmt.Fprintf(tw, "udp\t%s, not known to be reachable: searches ask for in-band replies\n", st.UDP)
			}
			fmt.Fprintf(tw, "guid\t%s\n", st.GUID)
			fmt.Fprintf(tw, "agent\t%s\n", st.UserAgent)
			fmt.Fprintf(tw, "uptime\t%s\n", (time.Duration(st.UptimeSec) * time.Second).String())
			fmt.Fprintf(tw, "peers\t%d (%s, %s, %d legacy)\n", st.Peers, english.Count(st.Ultrapeers, "ultrapeer", "ultrapeers"),
				english.Count(st.Leaves, "leaf", "leaves"), st.Legacy)
			fmt.Fprintf(tw, "host cache\t%s\n", english.Count(st.Hosts, "host", "hosts"))
			fmt.Fprintf(tw, "shared\t%s, %d still hashing\n", english.Count(st.Files, "file", "files"), st.Hashing)
			fmt.Fprintf(tw, "downloads\t%s\n", downloadStates(st))
			fmt.Fprintf(tw, "uploads\t%d active\n", st.Uploads)
			return tw.Flush()
		})
}

func peersCommand(lookupEnv func(string) (string, bool)) *cli.Command {
	return clientCommand("peers", "list a running servent's connections",
		"One line per connection: address, role, user agent, age, descriptors and bytes in and\n"+
			"out, the compression ratio of what we send, and drops.", lookupEnv, nil,
		func(ctx context.Context, c *cli.Command, cl *control.Client, w io.Writer) error {
			peers, err := cl.Peers(ctx)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(w, peers)
			}
			if len(peers) == 0 {
				_, err := fmt.Fprintln(w, "no peers")
				return err
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ADDRESS\tROLE\tAGENT\tAGE\tIN\tOUT\tRATIO\tDROPS")
			for _, p := range peers {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d msgs %s\t%d msgs %s\t%.2f\t%s\n", p.Addr, p.Role, p.UserAgent,
					(time.Duration(p.AgeSec) * time.Second).String(),
					sum(p.MessagesIn), humanBytes(int64(sum(p.BytesIn))), sum(p.MessagesOut), humanBytes(int64(sum(p.BytesOut))),
					p.CompressionRatio, dropsText(p.Drops))
			}
			return tw.Flush()
		})
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// dropsText is "3 flow_control, 1 unrouted", or "-".
func dropsText(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func sharesCommand(lookupEnv func(string) (string, bool)) *cli.Command {
	return clientCommand("shares", "list what a running servent shares",
		"The shared files, with how many are still waiting for their SHA-1.", lookupEnv, nil,
		func(ctx context.Context, c *cli.Command, cl *control.Client, w io.Writer) error {
			sh, err := cl.Shares(ctx)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(w, sh)
			}
			fmt.Fprintf(w, "%s, %s; %d hashed, %d waiting to be hashed\n", english.Count(sh.Files, "file", "files"), humanBytes(sh.Bytes), sh.Hashed, sh.Pending)
			for _, f := range sh.List {
				urn := f.URN
				if urn == "" {
					urn = "(hashing)"
				}
				fmt.Fprintf(w, "%5d  %s  %s  %s\n", f.Index, f.Name, humanBytes(f.Size), urn)
			}
			if sh.Truncated {
				fmt.Fprintln(w, "(more files: see --json of a smaller share)")
			}
			return nil
		})
}

func transfersCommand(lookupEnv func(string) (string, bool)) *cli.Command {
	return clientCommand("transfers", "list, pause, resume or cancel a running servent's transfers",
		"Lists the downloads the daemon owns (queued with get --daemon or search --daemon\n"+
			"--download) with their progress, and the uploads in progress. --pause, --resume and\n"+
			"--cancel ID act on one download first: a paused download keeps its .part and waits;\n"+
			"a cancelled one is forgotten and its .part removed.", lookupEnv,
		[]cli.Flag{
			&cli.StringFlag{Name: "pause", Usage: "pause the download `ID`"},
			&cli.StringFlag{Name: "resume", Usage: "resume the paused or failed download `ID`"},
			&cli.StringFlag{Name: "cancel", Usage: "cancel the download `ID`"},
		},
		func(ctx context.Context, c *cli.Command, cl *control.Client, w io.Writer) error {
			for _, op := range []struct {
				flag string
				do   func(context.Context, string) (control.Download, error)
				// already are the states the verb would lead to; only
				// says which states it acts on.
				already []string
				only    string
			}{
				{"pause", cl.PauseDownload, []string{control.StatePaused}, "only a queued or running one can be paused"},
				{"resume", cl.ResumeDownload, []string{control.StateQueued, control.StateRunning}, "only a paused or failed one can be resumed"},
				{"cancel", cl.CancelDownload, nil, ""},
			} {
				id := c.String(op.flag)
				if id == "" {
					continue
				}
				d, err := op.do(ctx, id)
				switch {
				case errors.Is(err, control.ErrNotFound):
					return fmt.Errorf("--%s %s: no transfer %s (govent transfers lists them)", op.flag, id, id)
				case errors.Is(err, control.ErrBadState) && slices.Contains(op.already, d.State):
					return fmt.Errorf("--%s %s: the download is %s already", op.flag, id, d.State)
				case errors.Is(err, control.ErrBadState) && d.State != "":
					return fmt.Errorf("--%s %s: the download is %s; %s", op.flag, id, d.State, op.only)
				case err != nil:
					return fmt.Errorf("--%s %s: %w", op.flag, id, err)
				}
				if !c.Bool("json") {
					// Said, so that a download that fails again at once
					// (listed failed below) was visibly resumed.
					fmt.Fprintf(w, "%s %s: now %s\n", op.flag, id, d.State)
				}
			}
			tr, err := cl.Transfers(ctx)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(w, tr)
			}
			if len(tr.Downloads) == 0 {
				fmt.Fprintln(w, "no downloads")
			}
			for _, d := range tr.Downloads {
				fmt.Fprintln(w, downloadLine(d))
			}
			for _, u := range tr.Uploads {
				fmt.Fprintf(w, "upload  %s  %s of %s of %s  to %s\n", u.Name, humanBytes(u.Sent), humanBytes(u.Length), humanBytes(u.Size), u.Remote)
			}
			_, err = fmt.Fprintf(w, "uploads: %d active\n", tr.UploadsActive)
			return err
		})
}

// downloadLine is "ID  state  name  done of total (pct)", and the error of
// a failed one.
func downloadLine(d control.Download) string {
	progress := humanBytes(d.Done)
	if d.Total > 0 {
		progress = fmt.Sprintf("%s of %s (%d%%)", humanBytes(d.Done), humanBytes(d.Total), 100*d.Done/d.Total)
	}
	line := fmt.Sprintf("%s  %-7s  %s  %s", d.ID, d.State, d.Name, progress)
	if d.Path != "" {
		line += "  " + d.Path
	}
	if d.Error != "" {
		line += "  " + d.Error
	}
	for _, p := range d.Queued {
		line += "  " + queueText(p)
	}
	return line
}

func topCommand(e env) *cli.Command {
	return clientCommand("top", "a live view of a running servent",
		"Peers with their rates, the mix of descriptors in and out, drops, and transfers with\n"+
			"progress bars, refreshed every --interval; q quits. When standard output is no\n"+
			"terminal it prints the same view as plain text each --interval, --count times (0:\n"+
			"until interrupted); --json prints each snapshot as a line of JSON.", e.lookupEnv,
		[]cli.Flag{
			&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "time between refreshes"},
			&cli.IntFlag{Name: "count", Usage: "without a terminal: refreshes to print before exiting (0: until interrupted)"},
		},
		func(ctx context.Context, c *cli.Command, cl *control.Client, w io.Writer) error {
			if err := checkFlags(ctx, c, intRange("count", 0, math.MaxInt), flagRule{"interval", func(c *cli.Command) (string, string) {
				if c.Duration("interval") < 100*time.Millisecond {
					return c.Duration("interval").String(), "want 100ms or more"
				}
				return "", ""
			}}); err != nil {
				return err
			}
			ctx, stop := interrupt.Context(ctx)
			defer stop()
			if f, ok := w.(*os.File); ok && term.IsTerminal(f.Fd()) && !c.Bool("json") {
				return top.Run(ctx, cl, e.stdin, f, c.Duration("interval"))
			}
			return top.Plain(ctx, cl, w, c.Duration("interval"), c.Int("count"), c.Bool("json"))
		})
}

// queueText is "queued 3 of 12 at HOST:PORT".
func queueText(p control.QueuePlace) string {
	of := ""
	if p.Length > 0 {
		of = fmt.Sprintf(" of %d", p.Length)
	}
	return fmt.Sprintf("queued %d%s at %s", p.Position, of, p.Source)
}

// downloadStates reads "2 done, 1 running", or "none".
func downloadStates(st control.Status) string {
	var parts []string
	for _, state := range control.QueueStates {
		if n := st.DownloadStates[state]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, state))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
