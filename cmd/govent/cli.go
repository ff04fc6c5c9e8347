package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/govent/govent/cmd/internal/interrupt"
	"github.com/govent/govent/servent/gwc"
)

// interruptible are the commands that stop on Ctrl-C (SIGINT) or SIGTERM
// themselves, through interrupt.Context, with a message and an exit
// status of their own. Any other command dies by the signal, as a process
// does by default.
var interruptible = map[string]bool{
	"govent run": true, "govent search": true, "govent get": true, "govent browse": true,
	"govent demo": true, "govent fuzz-peer": true, "govent fuzz-peer replay": true,
	"govent netsim": true, "govent workload": true, "govent top": true,
	"govent conform": true,
}

// prepareCommands gives every command of the tree the same behaviour:
// usage errors in one format, groups that name an unknown subcommand, and
// leaf actions that first take their flags from the environment and the
// config file. A command added to newApp gets all of it without asking.
func prepareCommands(root *cli.Command, e env) {
	walkCommands(root, nil, func(path []string, c *cli.Command) {
		c.OnUsageError = onUsageError
		switch {
		case c == root:
		case len(c.Commands) > 0 && c.Action == nil:
			c.Action = groupAction
		case c.Action != nil: // a leaf, or a command with subcommands of its own (fuzz-peer replay)
			action := c.Action
			c.Action = func(ctx context.Context, c *cli.Command) error {
				interrupt.Enter(interruptible[c.FullName()])
				ctx, err := applySettings(ctx, c, e.lookupEnv)
				if err == nil {
					err = action(ctx, c)
				}
				var ue *usageErr
				if errors.As(err, &ue) && ue.cmd == "" {
					ue.cmd = c.FullName()
				}
				return err
			}
			if len(configFlags(c)) > 0 {
				c.Description = strings.TrimSpace(c.Description) + fmt.Sprintf("\n\n"+
					"Every flag can also be set in the environment as %s<FLAG>, such as\n"+
					"%s, or in the [%s] table of the --config file. The command line\n"+
					"wins, then the environment, then the file.",
					envPrefix(path), envName(path, configFlags(c)[0].Names()[0]), strings.Join(path, "."))
			}
		}
		// The description is indented by 3 on the page.
		c.Description = reflow(c.Description, helpWidth-3)
	})
}

// walkCommands calls fn for c and every command below it, with the path of
// command names from below the root ("wire", "decode").
func walkCommands(c *cli.Command, path []string, fn func(path []string, c *cli.Command)) {
	fn(path, c)
	for _, sub := range c.Commands {
		walkCommands(sub, append(slices.Clip(path), sub.Name), fn)
	}
}

// rootAction runs when no command matched: -v, nothing at all, or a typo.
func rootAction(_ context.Context, c *cli.Command) error {
	if c.Bool("version") {
		return printVersion(c.Root().Writer)
	}
	if c.NArg() == 0 {
		return wantCommand(c) // the command list, not the whole help
	}
	return unknownCommand(c, c.Args().First())
}

// groupAction runs for a command that only holds subcommands (wire,
// capture, config) when none of them was named.
func groupAction(_ context.Context, c *cli.Command) error {
	if c.NArg() == 0 {
		return wantCommand(c)
	}
	return unknownCommand(c, c.Args().First())
}

// commandNames are the names of c's visible subcommands.
func commandNames(c *cli.Command) []string {
	var names []string
	for _, sub := range c.VisibleCommands() {
		names = append(names, sub.Name)
	}
	return names
}

// wantCommand is the usage mistake of c given no subcommand: the list of
// them, on one line, or indented under it when it is longer than the
// 80 columns help pages keep to.
func wantCommand(c *cli.Command) error {
	names := commandNames(c)
	msg := "want a command: " + strings.Join(names, ", ")
	if len(c.FullName())+2+len(msg) > 80 {
		msg = "want a command:"
		line := ""
		for i, n := range names {
			if i < len(names)-1 {
				n += ","
			}
			if line != "" && len(line)+1+len(n) > 78 {
				msg += "\n  " + line
				line = ""
			}
			line = strings.TrimPrefix(line+" "+n, " ")
		}
		msg += "\n  " + line
	}
	return &usageErr{cmd: c.FullName(), err: errors.New(msg)}
}

func unknownCommand(parent *cli.Command, name string) error {
	names := commandNames(parent)
	full := strings.TrimSpace(strings.Join(parent.Path()[1:], " ") + " " + name)
	msg := fmt.Sprintf("unknown command %q", full)
	if s := suggest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return &usageErr{cmd: parent.FullName(), err: errors.New(msg)}
}

// The three errors urfave/cli's parser makes; their texts are all it gives.
var (
	invalidValue = regexp.MustCompile(`(?s)^invalid value "(.*)" for flag -(\S+): (.*)$`)
	notDefined   = "flag provided but not defined: -"
	needsValue   = "flag needs an argument: "
)

// onUsageError rewrites urfave/cli's parse errors into one line that names
// the flag as it is typed (--max-peers, never -max-peers).
func onUsageError(_ context.Context, c *cli.Command, err error, _ bool) error {
	msg := err.Error()
	if c.Root() == c && c.NArg() > 0 && c.Command(c.Args().First()) == nil {
		// `govent serach --peer x`: the flag is unknown because the
		// command is.
		return unknownCommand(c, c.Args().First())
	}
	switch {
	case invalidValue.MatchString(msg):
		m := invalidValue.FindStringSubmatch(msg)
		err = fmt.Errorf("%s %q: %s", dashed(m[2]), m[1], wantFor(findFlag(c, m[2]), m[3]))
	case strings.HasPrefix(msg, notDefined):
		name := strings.TrimPrefix(msg, notDefined)
		msg = "unknown flag " + dashed(name)
		var names []string
		for _, f := range visibleFlags(c) {
			names = append(names, f.Names()...)
		}
		if s := suggest(name, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", dashed(s))
		}
		err = errors.New(msg)
	case strings.HasPrefix(msg, needsValue):
		err = fmt.Errorf("%s needs a value", strings.TrimPrefix(msg, needsValue))
	}
	return &usageErr{cmd: c.FullName(), err: err}
}

// visibleFlags are the flags c accepts: its own and its ancestors'
// persistent ones (--config).
func visibleFlags(c *cli.Command) []cli.Flag {
	var out []cli.Flag
	for _, p := range c.Lineage() {
		for _, f := range p.Flags {
			if lf, ok := f.(cli.LocalFlag); p == c || !ok || !lf.IsLocal() {
				out = append(out, f)
			}
		}
	}
	return out
}

func findFlag(c *cli.Command, name string) cli.Flag {
	for _, f := range visibleFlags(c) {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// dashed spells a flag name as it is typed.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// wantFor says what kind of value a flag takes, for a value that did not
// parse; detail is the parser's own message, used for other kinds.
func wantFor(f cli.Flag, detail string) string {
	switch valueKind(f) {
	case kindInt:
		return "want a whole number"
	case kindUint:
		return "want a whole number, 0 or more"
	case kindDuration:
		return "want a duration such as 500ms, 5s or 1m30s"
	case kindBool:
		return "want true or false"
	case kindFloat:
		return "want a number such as 0.1"
	}
	return detail
}

// The kinds of flag value, for messages and the config file's types.
const (
	kindOther = iota
	kindString
	kindBool
	kindInt
	kindUint
	kindDuration
	kindStrings
	kindFloat
)

func valueKind(f cli.Flag) int {
	g, ok := f.(interface{ Get() any })
	if !ok {
		return kindOther
	}
	v := g.Get()
	if _, ok := v.(time.Duration); ok {
		return kindDuration
	}
	if _, ok := v.([]string); ok {
		return kindStrings
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.String:
		return kindString
	case reflect.Bool:
		return kindBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return kindInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return kindUint
	case reflect.Float32, reflect.Float64:
		return kindFloat
	}
	return kindOther
}

// suggest returns the choice nearest to word when it is near enough to be
// a typo (an edit distance of at most a third of the word), else "".
func suggest(word string, choices []string) string {
	best, bestD := "", max(1, len(word)/3)+1
	for _, c := range choices {
		if d := editDistance(word, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// A flagRule checks one flag's final value, after the command line, the
// environment and the config file had their say. Commands list their
// rules at the top of their action (checkFlags); the value and why it is
// wrong become a usage error naming the flag and where the value came from.
type flagRule struct {
	flag  string
	check func(c *cli.Command) (value, why string) // why is "" when the value is fine
}

func checkFlags(ctx context.Context, c *cli.Command, rules ...flagRule) error {
	for _, r := range rules {
		v, why := r.check(c)
		if why == "" {
			continue
		}
		msg := dashed(r.flag)
		if v != "" {
			msg += " " + v
		}
		msg += ": " + why
		if src := sourceOf(ctx, r.flag); src != "" {
			msg += " (from " + src + ")"
		}
		return usageError(errors.New(msg))
	}
	return nil
}

// required: the flag must have a value.
func required(flag string) flagRule {
	return flagRule{flag, func(c *cli.Command) (string, string) {
		if !c.IsSet(flag) {
			return "", "required"
		}
		return "", ""
	}}
}

// intRange: lo <= value <= hi (hi math.MaxInt for no upper bound).
func intRange(flag string, lo, hi int) flagRule {
	return flagRule{flag, func(c *cli.Command) (string, string) {
		v := c.Int(flag)
		switch {
		case v >= lo && v <= hi:
			return "", ""
		case hi == math.MaxInt:
			return strconv.Itoa(v), fmt.Sprintf("must be %d or more", lo)
		}
		return strconv.Itoa(v), fmt.Sprintf("want %d to %d", lo, hi)
	}}
}

// oneOf: the value is one of values.
func oneOf(flag string, values ...string) flagRule {
	return flagRule{flag, func(c *cli.Command) (string, string) {
		v := c.String(flag)
		if slices.Contains(values, v) {
			return "", ""
		}
		return v, "want " + orList(values)
	}}
}

// each applies test to every value of a string or string-slice flag.
func each(flag string, test func(string) string) flagRule {
	return flagRule{flag, func(c *cli.Command) (string, string) {
		vals := c.StringSlice(flag)
		if _, ok := c.Value(flag).(string); ok {
			vals = []string{c.String(flag)}
		}
		for _, v := range vals {
			if why := test(v); why != "" {
				return v, why
			}
		}
		return "", ""
	}}
}

// hostPorts: every value is HOST:PORT with a port from 1 to 65535.
func hostPorts(flag string) flagRule { return each(flag, hostPortProblem) }

func hostPortProblem(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return "want HOST:PORT, such as 127.0.0.1:6346"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "want a port from 1 to 65535"
	}
	return ""
}

// cacheURLs: every value is a GWebCache URL (http or https, with a host).
func cacheURLs(flag string) flagRule {
	return each(flag, func(s string) string {
		if _, err := gwc.CheckURL(s); err != nil {
			return "want an http:// or https:// URL, such as http://cache.example/gwc.php"
		}
		return ""
	})
}

// readablePath: the value is empty or names a file or directory that
// exists and that we may read (a typo in --share, or a directory of
// another user's, is said at once, not found later in the log).
func readablePath(flag string) flagRule {
	return each(flag, func(s string) string {
		if s == "" {
			return ""
		}
		f, err := os.Open(s)
		if err == nil {
			if fi, serr := f.Stat(); serr == nil && fi.IsDir() {
				if _, err = f.ReadDir(1); errors.Is(err, io.EOF) {
					err = nil // empty
				}
			}
			f.Close()
		}
		switch {
		case err == nil:
			return ""
		case errors.Is(err, fs.ErrNotExist):
			return "no such file or directory"
		case errors.Is(err, fs.ErrPermission):
			return "cannot read it: permission denied"
		}
		return err.Error()
	})
}

// listenAddr: [IP]:PORT, port 0 picking a free one. The IP is literal:
// a host name would be looked up, and nothing resolves one the user did
// not configure as a host to reach (a listen address is no such host).
func listenAddr(flag string) flagRule {
	return each(flag, func(s string) string {
		return bindAddrProblem(s, "want [IP]:PORT, such as :6346 or 127.0.0.1:0")
	})
}

// bindAddrProblem is why s is no address to listen on, [IP]:PORT with a
// port from 0 to 65535 (want if it is not that form at all), or "".
func bindAddrProblem(s, want string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return want
	}
	if _, err := netip.ParseAddr(host); host != "" && err != nil {
		return want + " (an IP, not a host name)"
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "want a port from 0 to 65535"
	}
	return ""
}

// ipPorts: every value is empty or a literal IP:PORT (no name to resolve).
func ipPorts(flag string) flagRule {
	return each(flag, func(s string) string {
		if s == "" {
			return ""
		}
		if ap, err := netip.ParseAddrPort(s); err != nil || ap.Port() == 0 {
			return "want IP:PORT, such as 127.0.0.1:6346"
		}
		return ""
	})
}

func orList(values []string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

// wantArgs checks the number of arguments.
func wantArgs(c *cli.Command, n int, what string) error {
	if c.NArg() == n {
		return nil
	}
	if n == 0 {
		return usageError(fmt.Errorf("takes no arguments, got %q", c.Args().Slice()))
	}
	return usageError(fmt.Errorf("want one %s, got %d arguments", what, c.NArg()))
}

// newJSONEncoder is the encoder of every command's --json output: names
// and magnet links keep their & < > as typed, where encoding/json would
// write \u0026 for an HTML page.
func newJSONEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}
