package main

import (
	"context"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v3"
)

// helpCommand is `govent help [COMMAND [SUBCOMMAND]]`: the same page as
// `govent COMMAND --help`, and a usage error (exit 2, with a suggestion)
// for a command that does not exist.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Usage:     "show the commands, or one command's arguments and flags",
		ArgsUsage: "[COMMAND [SUBCOMMAND]]",
		Action: func(ctx context.Context, c *cli.Command) error {
			target := c.Root()
			for _, name := range c.Args().Slice() {
				next := target.Command(name)
				if next == nil || next.Hidden {
					return unknownCommand(target, name)
				}
				target = next
			}
			switch {
			case target == c.Root():
				return cli.ShowRootCommandHelp(target)
			case len(target.Commands) > 0:
				return cli.ShowSubcommandHelp(target)
			}
			return cli.ShowCommandHelp(ctx, target.Lineage()[1], target.Name)
		},
	}
}

// helpWidth is the widest line of a help page: an 80-column terminal.
const helpWidth = 80

// Help pages fit helpWidth. urfave/cli aligns the flags' descriptions
// with a tabwriter after its own wrapping, so it cannot wrap them; its
// pages are laid out first and then every line wider than helpWidth is
// broken at words, continuing under the column its text starts in (a
// flag's or command's description, else the line's own indent). A
// repeatable flag shows its names once, not "--peer HOST:PORT [ --peer
// HOST:PORT ]", so that the descriptions' column stays narrow.
func init() {
	stringer := cli.FlagStringer
	cli.FlagStringer = func(f cli.Flag) string { return onceRepeatable(stringer(f)) }
	cli.HelpPrinter = func(w io.Writer, templ string, data any) {
		var b strings.Builder
		cli.DefaultPrintHelp(&b, templ, data)
		_, _ = io.WriteString(w, fitLines(b.String(), helpWidth))
	}
}

// onceRepeatable turns urfave/cli's "--peer HOST:PORT [ --peer HOST:PORT
// ]\tusage" into "--peer HOST:PORT\tusage (repeatable)".
func onceRepeatable(s string) string {
	names, usage, ok := strings.Cut(s, "\t")
	i := strings.Index(names, " [ ")
	if !ok || i < 0 || names[i+3:] != names[:i]+" ]" {
		return s
	}
	if !strings.Contains(usage, "repeatable") {
		usage += " (repeatable)"
	}
	return names[:i] + "\t" + usage
}

// fitLines breaks every line of s wider than width at spaces. The
// continuation lines start in the column of the line's text: after the
// first gap of two spaces or more that follows the line's first word (a
// flag's names, a command's name), when that leaves room, else under the
// line's first character.
func fitLines(s string, width int) string {
	lines := strings.Split(s, "\n")
	var out []string
	for _, line := range lines {
		if utf8.RuneCountInString(line) <= width {
			out = append(out, line)
			continue
		}
		col := textColumn(line, width)
		head, rest := line[:col], strings.Fields(line[col:])
		cur := head
		for i, w := range rest {
			switch {
			case i == 0:
				cur += w
			case utf8.RuneCountInString(cur)+1+utf8.RuneCountInString(w) > width:
				out = append(out, cur)
				cur = strings.Repeat(" ", col) + w
			default:
				cur += " " + w
			}
		}
		out = append(out, cur)
	}
	return strings.Join(out, "\n")
}

// textColumn is the byte offset where the wrapped text of line starts.
func textColumn(line string, width int) int {
	indent := len(line) - len(strings.TrimLeft(line, " "))
	if gap := strings.Index(line[indent:], "  "); gap > 0 {
		col := indent + gap
		for col < len(line) && line[col] == ' ' {
			col++
		}
		if col <= width/2 && col < len(line) {
			return col
		}
	}
	return indent
}

// reflow re-wraps the paragraphs of a description (separated by empty
// lines) to width columns: the source breaks its lines wherever it likes.
func reflow(desc string, width int) string {
	paras := strings.Split(strings.TrimSpace(desc), "\n\n")
	for i, p := range paras {
		var lines []string
		cur := ""
		for _, w := range strings.Fields(p) {
			switch {
			case cur == "":
				cur = w
			case utf8.RuneCountInString(cur)+1+utf8.RuneCountInString(w) > width:
				lines = append(lines, cur)
				cur = w
			default:
				cur += " " + w
			}
		}
		paras[i] = strings.Join(append(lines, cur), "\n")
	}
	return strings.Join(paras, "\n\n")
}
