package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v3"

	"github.com/govent/govent/servent"
)

// shareFiles starts a servent on loopback that shares files (name to
// contents), hashed before it answers.
func shareFiles(t *testing.T, files map[string]string) *servent.Servent {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	s, err := servent.New(servent.Config{Listen: "127.0.0.1:0", ShareDir: dir, HashBeforeStart: true, AllowPrivate: true})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(func() { s.Close() })
	return s
}

// streamFile writes the Pong and Bye of main_test.go as a raw descriptor
// stream and returns its path.
func streamFile(t *testing.T) string {
	t.Helper()
	b, err := hex.DecodeString(pongHex + byeHex)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "stream.bin")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

// jsonLines asserts that out is one JSON object per line and returns them.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "not a JSON line: %q", sc.Text())
		objs = append(objs, m)
	}
	require.NotEmpty(t, objs, "no JSON lines in %q", out)
	return objs
}

// Flags go anywhere, as the README writes them: after the arguments too.
func TestFlagsAfterArguments(t *testing.T) {
	s := shareFiles(t, map[string]string{"penguin parade.ogg": strings.Repeat("penguin ", 1000)})
	peer := s.Addr().String()
	urn := s.Library().All()[0].SHA1.String()
	stream := streamFile(t)
	const pcap = "../../testdata/leaf-deflate.pcap"

	t.Run("search QUERY --peer", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "search", "penguin", "--peer", peer, "--listen", "127.0.0.1:0", "--timeout", "1s")
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "  1. penguin parade.ogg")
	})
	t.Run("search --flag=value between arguments", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "search", "--listen=127.0.0.1:0", "penguin", "--peer="+peer, "--timeout=1s", "--json")
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, "penguin parade.ogg", jsonLines(t, out)[0]["name"])
	})
	t.Run("get URN --source", func(t *testing.T) {
		dir := t.TempDir()
		code, out, errOut := runCLI(t, "", "get", urn, "--source", peer, "--dir", dir, "--name", "p.ogg")
		require.Equal(t, 0, code, "%s\n%s", out, errOut)
		assert.FileExists(t, filepath.Join(dir, "p.ogg"))
	})
	t.Run("conform HOST:PORT --only", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "conform", peer, "--only", "handshake/1,hit/1", "--timeout", "3s", "--query", "penguin")
		require.Equal(t, 0, code, "%s\n%s", out, errOut)
		assert.Contains(t, out, "PASS  handshake/1 ")
		assert.Contains(t, out, "PASS  hit/1 ", "--query after the argument was read")
	})
	t.Run("capture decode FILE --json", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "capture", "decode", pcap, "--json")
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, "handshake", jsonLines(t, out)[0]["kind"])
	})
	t.Run("wire decode FILE --json", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "wire", "decode", stream, "--json")
		require.Equal(t, 0, code, errOut)
		lines := jsonLines(t, out)
		require.Len(t, lines, 2)
		assert.Equal(t, "PONG", lines[0]["type"])
	})
	t.Run("a bool flag does not swallow the next argument", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "wire", "decode", "--json", stream)
		require.Equal(t, 0, code, errOut)
		assert.Len(t, jsonLines(t, out), 2)
		code, out, errOut = runCLI(t, "", "wire", "decode", "--json=false", stream)
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "PONG ")
	})
	t.Run("- is standard input, wherever it stands", func(t *testing.T) {
		b, err := os.ReadFile(stream)
		require.NoError(t, err)
		code, out, errOut := runCLI(t, string(b), "wire", "decode", "-", "--json")
		require.Equal(t, 0, code, errOut)
		assert.Len(t, jsonLines(t, out), 2)
	})
	t.Run("-- ends the flags", func(t *testing.T) {
		dir := t.TempDir()
		b, err := os.ReadFile(stream)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "--json"), b, 0o644))
		t.Chdir(dir)
		code, out, errOut := runCLI(t, "", "wire", "decode", "--", "--json")
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "PONG ", "read the file named --json, as text")
	})
}

var versionLine = regexp.MustCompile(`^govent \S+ \(go\S+, \w+/\w+\)\n$`)

func TestVersionIsOneFormat(t *testing.T) {
	var outs []string
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		code, out, errOut := runCLI(t, "", args...)
		require.Equal(t, 0, code, "%v: %s", args, errOut)
		assert.Regexp(t, versionLine, out, "%v", args)
		outs = append(outs, out)
	}
	assert.Equal(t, outs[0], outs[1])
	assert.Equal(t, outs[0], outs[2])
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, errOut := runCLI(t, "", args...)
		require.Equal(t, 0, code, "%v: %s", args, errOut)
		for _, cmd := range []string{"run", "search", "get", "demo", "wire", "capture", "conform", "config", "help", "version"} {
			assert.Regexp(t, `(?m)^\s+`+cmd+`\b`, out, "%v lists %s", args, cmd)
		}
		assert.Empty(t, errOut)
	}
	for _, args := range [][]string{{"help", "run"}, {"run", "--help"}, {"run", "-h"}, {"help", "search"}} {
		cmd := args[0]
		if cmd == "help" {
			cmd = args[1]
		}
		code, out, errOut := runCLI(t, "", args...)
		require.Equal(t, 0, code, "%v: %s", args, errOut)
		assert.Contains(t, out, "govent "+cmd, "%v", args)
		assert.Contains(t, out, "--peer", "%v shows the flags", args)
		assert.NotContains(t, out, "No help topic")
	}
	code, out, errOut := runCLI(t, "", "help", "wire", "decode")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "--max-payload")
	code, out, errOut = runCLI(t, "", "wire", "decode", "--help")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "--max-payload")
	code, out, _ = runCLI(t, "", "help", "wire")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "decode")

	code, _, errOut = runCLI(t, "", "help", "serach")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "serach"`)
	assert.Contains(t, errOut, `"search"`)
}

func TestUnknownCommand(t *testing.T) {
	code, out, errOut := runCLI(t, "", "serach", "penguin")
	assert.Equal(t, 2, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, `unknown command "serach"`)
	assert.Contains(t, errOut, `did you mean "search"?`)
	assert.NotContains(t, errOut, "No help topic")
	assert.LessOrEqual(t, strings.Count(errOut, "\n"), 2, "a short message, not the help page:\n%s", errOut)

	code, _, errOut = runCLI(t, "", "wire", "decod", "-")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "wire decod"`)
	assert.Contains(t, errOut, `did you mean "decode"?`)

	code, out, errOut = runCLI(t, "")
	assert.Equal(t, 2, code, "no command is a usage error")
	assert.Empty(t, out)
	assert.Regexp(t, `^govent: want a command:\n  run, search, get, [a-z, -]+,\n  [a-z, -]+, version\nRun 'govent --help' for usage\.\n$`, errOut,
		"the command list, not the whole help as well")
}

// Every usage mistake exits 2 with a short message naming the flag as it
// is typed and pointing to --help; every failure exits 1.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // in the error output
	}{
		{"negative max-peers", []string{"run", "--max-peers", "-3"}, []string{"--max-peers -3: ", "1 or more"}},
		// The servent took 0 for its default, 8: --max-peers 0 ran with 8.
		{"zero max-peers", []string{"run", "--max-peers", "0"}, []string{"--max-peers 0: must be 1 or more"}},
		{"non-numeric max-peers", []string{"run", "--max-peers", "abc"}, []string{"--max-peers", `"abc"`, "whole number"}},
		{"non-numeric ttl", []string{"search", "xyz", "--peer", "127.0.0.1:1", "--ttl", "seven"}, []string{"--ttl", `"seven"`}},
		{"ttl out of range", []string{"search", "xyz", "--peer", "127.0.0.1:1", "--ttl", "9"}, []string{"--ttl 9: ", "1 to 7"}},
		{"bad duration", []string{"search", "xyz", "--peer", "127.0.0.1:1", "--timeout", "soon"}, []string{"--timeout", `"soon"`, "duration"}},
		{"negative connections", []string{"run", "--connections", "-1"}, []string{"--connections -1: "}},
		{"unknown mode", []string{"run", "--mode", "hub"}, []string{"--mode hub: ", "ultrapeer, leaf or auto"}},
		{"bad advertise", []string{"run", "--advertise", "somewhere"}, []string{"--advertise somewhere: "}},
		// A listen address is an IP: foo:1 was looked up in DNS.
		{"listen on a host name", []string{"run", "--listen", "foo:1"}, []string{"--listen foo:1: want [IP]:PORT", "not a host name"}},
		{"search listen on a host name", []string{"search", "xyz", "--peer", "127.0.0.1:1", "--listen", "localhost:0"}, []string{"--listen localhost:0: want [IP]:PORT"}},
		{"get listen on a host name", []string{"get", "urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--source", "127.0.0.1:1", "--listen", "foo:0"}, []string{"--listen foo:0: want [IP]:PORT"}},
		{"control on a host name", []string{"run", "--data", "/nonexistent", "--control", "localhost:0"}, []string{"--control localhost:0: want IP:PORT"}},
		{"get push-proxy host name", []string{"get", "urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--source", "127.0.0.1:1", "--push-proxy", "foo:1"}, []string{"--push-proxy foo:1: want IP:PORT"}},
		// --size -5 was dropped silently, as if not given.
		{"get negative size", []string{"get", "urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--source", "127.0.0.1:1", "--size", "-5"}, []string{"--size -5: must be 0 or more"}},
		{"bad peer", []string{"run", "--peer", "127.0.0.1"}, []string{"--peer 127.0.0.1: ", "HOST:PORT"}},
		{"bad log level", []string{"run", "--log-level", "loud"}, []string{"--log-level loud: "}},
		{"bad log format", []string{"run", "--log-format", "xml"}, []string{"--log-format xml: "}},
		{"unknown flag", []string{"run", "--max-peer", "3"}, []string{"unknown flag --max-peer", "did you mean --max-peers?"}},
		{"flag without its value", []string{"search", "xyz", "--peer"}, []string{"--peer needs a value"}},
		{"search without peer", []string{"search", "xyz"}, []string{"--peer: required"}},
		{"search without query", []string{"search", "--peer", "127.0.0.1:1"}, []string{"want one QUERY"}},
		{"get without source", []string{"get", "urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, []string{"--source: required"}},
		{"get with a bad urn", []string{"get", "not-a-urn", "--source", "127.0.0.1:1"}, []string{"urn"}},
		{"get with a bad source", []string{"get", "urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--source", "nowhere"}, []string{"--source nowhere: "}},
		{"demo node count", []string{"demo", "--nodes", "3"}, []string{"--nodes 3: ", "8 to 16"}},
		{"conform without address", []string{"conform"}, []string{"want one HOST:PORT"}},
		{"conform with a bad address", []string{"conform", "localhost"}, []string{"localhost", "HOST:PORT"}},
		{"conform with an unknown role", []string{"conform", "127.0.0.1:1", "--role", "hub"}, []string{"--role hub: "}},
		{"conform with an unknown case", []string{"conform", "127.0.0.1:1", "--only", "route/99"}, []string{`"route/99"`, "--list"}},
		{"wire decode without input", []string{"wire", "decode"}, []string{"want one argument"}},
		{"capture decode, two files", []string{"capture", "decode", "a", "b"}, []string{"want one FILE"}},
		{"version with an argument", []string{"version", "x"}, []string{"no arguments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", tt.args...)
			assert.Equal(t, 2, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			for _, w := range tt.want {
				assert.Contains(t, errOut, w)
			}
			assert.NotRegexp(t, `MaxPeers|Connections |DefaultTTL|TTL \d+ is over|servent:`, errOut, "no Go names")
			assert.NotContains(t, errOut, "USAGE:", "not the whole help page")
			assert.Contains(t, errOut, "--help", "points to the help")
			assert.LessOrEqual(t, strings.Count(errOut, "\n"), 3, "short:\n%s", errOut)
		})
	}
}

// A --share that does not exist is a usage mistake, said before anything
// starts. It used to be a warning in the log of a servent that then ran,
// sharing nothing, until interrupted.
func TestRunRefusesMissingShare(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "Music")
	for _, tc := range []struct {
		name    string
		environ map[string]string
		args    []string
		want    string
	}{
		{"flag", nil, []string{"--share", missing}, "--share " + missing + ": no such file or directory"},
		{"environment", map[string]string{"GOVENT_SHARE": missing}, nil, "(from $GOVENT_SHARE)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			args := append([]string{"run", "--listen", "127.0.0.1:0", "--no-bootstrap", "--control", "off"}, tc.args...)
			code, _, errOut := runCLIContext(ctx, tc.environ, "", args...)
			require.NoError(t, ctx.Err(), "run started anyway:\n%s", errOut)
			assert.Equal(t, 2, code, errOut)
			assert.Contains(t, errOut, tc.want)
			assert.Contains(t, errOut, "--help")
			assert.NotContains(t, errOut, "listening", "nothing started")
		})
	}
}

// So is a --share the servent may not read: it too ran, warning in its
// log, and shared nothing. (Root reads any directory: the case needs
// another user.)
func TestRunRefusesUnreadableShare(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: chmod 000 does not stop root from reading")
	}
	closed := filepath.Join(t.TempDir(), "Music")
	require.NoError(t, os.Mkdir(closed, 0))
	t.Cleanup(func() { os.Chmod(closed, 0o755) })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	code, _, errOut := runCLIContext(ctx, nil, "", "run", "--listen", "127.0.0.1:0", "--no-bootstrap", "--control", "off", "--share", closed)
	require.NoError(t, ctx.Err(), "run started anyway:\n%s", errOut)
	assert.Equal(t, 2, code, errOut)
	assert.Contains(t, errOut, "--share "+closed+": cannot read it: permission denied")
	assert.NotContains(t, errOut, "listening", "nothing started")
}

func TestFailuresExitOne(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no peer reachable", []string{"search", "xyz", "--peer", "127.0.0.1:1", "--listen", "127.0.0.1:0"}},
		{"missing input file", []string{"wire", "decode", filepath.Join(t.TempDir(), "missing")}},
		{"not a capture", []string{"capture", "decode", "main_test.go"}},
		{"conform finds nobody", []string{"conform", "127.0.0.1:1", "--timeout", "1s"}},
		{"get from nobody", []string{"get", "urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--source", "127.0.0.1:1", "--dir", t.TempDir()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", tt.args...)
			assert.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			assert.NotContains(t, errOut, "--help")
		})
	}
}

// Every command's description reads as wrapped prose: inside a paragraph,
// a line that does not end a sentence is full (the next word would not
// fit on it). (search's
// and wire decode's had a line broken after a few words, mid-sentence.)
func TestHelpDescriptionsAreWrapped(t *testing.T) {
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			name := path + " " + c.Name
			lines := strings.Split(c.Description, "\n")
			for i := 0; i+1 < len(lines); i++ {
				l := lines[i]
				if l == "" || lines[i+1] == "" || strings.HasSuffix(l, ".") || strings.HasSuffix(l, ":") {
					continue
				}
				next := strings.Fields(lines[i+1])[0]
				assert.Greater(t, len(l)+1+len(next), helpWidth-3, "%s --help: a short line inside a paragraph: %q", name, l)
			}
			walk(name, c.Commands)
		}
	}
	walk("govent", newApp(env{}).Commands)
}

// eachHelp calls check with the --help page of every command and
// subcommand, as a user gets it.
func eachHelp(t *testing.T, check func(args []string, help string)) {
	t.Helper()
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Name == "help" {
				continue
			}
			args := append(append([]string(nil), path...), c.Name)
			walk(args, c.Commands)
			code, out, errOut := runCLI(t, "", append(args, "--help")...)
			require.Equal(t, 0, code, "%v --help: %s", args, errOut)
			check(args, out)
		}
	}
	walk(nil, newApp(env{}).Commands)
}

// Every command's help says each flag's default once: a Usage that names
// its default itself must not get a second one from urfave/cli.
func TestHelpSaysEachDefaultOnce(t *testing.T) {
	eachHelp(t, func(args []string, out string) {
		for _, line := range strings.Split(out, "\n") {
			assert.LessOrEqual(t, strings.Count(line, "(default:"), 1, "%v --help:\n%s", args, line)
		}
	})
}

// In every command's help, the flags' descriptions start in one column:
// a line break inside a flag's usage made the flags after it line up
// elsewhere (run's after --fallback-cache and --per-address).
func TestHelpFlagsAligned(t *testing.T) {
	eachHelp(t, func(args []string, out string) {
		_, options, ok := strings.Cut(out, "\nOPTIONS:\n")
		if !ok {
			return
		}
		options, _, _ = strings.Cut(options, "\n\n")
		column := -1
		for _, line := range strings.Split(options, "\n") {
			if column > 0 && strings.HasPrefix(line, strings.Repeat(" ", column)) && line[column] != ' ' {
				continue // a description's next line, in its column
			}
			if !assert.True(t, strings.HasPrefix(line, "   -"), "%v --help: not a flag's line in OPTIONS: %q", args, line) {
				continue
			}
			// The description follows the first gap of two spaces or
			// more after the flag's names.
			gap := strings.Index(line[3:], "  ")
			if gap < 0 {
				continue // a flag without a usage
			}
			col := 3 + gap + len(line[3+gap:]) - len(strings.TrimLeft(line[3+gap:], " "))
			if column < 0 {
				column = col
			}
			assert.Equal(t, column, col, "%v --help: misaligned: %q", args, line)
		}
	})
}

// No flag's value is shown as a bare "string": the placeholder says what
// the value is (--mode MODE, --query WORDS), as the README writes them.
func TestHelpNamesStringValues(t *testing.T) {
	bare := regexp.MustCompile(`^   --[a-z-]+ string\b`)
	eachHelp(t, func(args []string, out string) {
		for _, line := range strings.Split(out, "\n") {
			assert.False(t, bare.MatchString(line), "%v --help: %q", args, line)
		}
	})
}

// Every help page fits 80 columns: the root's, and every command's and
// subcommand's with all its flags (run's, netsim's and search's ran to
// 150).
func TestHelpFitsWidth(t *testing.T) {
	check := func(args []string, out string) {
		for _, line := range strings.Split(out, "\n") {
			assert.LessOrEqual(t, utf8.RuneCountInString(line), 80, "%v --help: %q", args, line)
		}
	}
	for _, args := range [][]string{{"--help"}, {"help"}} {
		code, out, errOut := runCLI(t, "", args...)
		require.Equal(t, 0, code, errOut)
		check(args, out)
	}
	code, _, errOut := runCLI(t, "")
	assert.Equal(t, 2, code)
	check(nil, errOut)
	pages := 0
	app := newApp(env{})
	eachHelp(t, func(args []string, out string) {
		pages++
		check(args, out)
		c := app
		for _, name := range args {
			c = c.Command(name)
		}
		for _, f := range c.VisibleFlags() {
			assert.Contains(t, out, "--"+f.Names()[0], "%v --help shows every flag", args)
		}
	})
	assert.Greater(t, pages, 20)
}

func TestFitLines(t *testing.T) {
	in := "   --flag X     " + strings.Repeat("word ", 20) + "\n" + "   " + strings.Repeat("prose ", 15)
	got := fitLines(in, 40)
	assert.Equal(t, ""+
		"   --flag X     word word word word word\n"+
		"                word word word word word\n"+
		"                word word word word word\n"+
		"                word word word word word\n"+
		"   prose prose prose prose prose prose\n"+
		"   prose prose prose prose prose prose\n"+
		"   prose prose prose", got)
	assert.Equal(t, "--peer HOST:PORT\tpeer to dial (repeatable)", onceRepeatable("--peer HOST:PORT [ --peer HOST:PORT ]\tpeer to dial"))
	assert.Equal(t, "--x N\tn", onceRepeatable("--x N\tn"))
}

// With --daemon, the running servent searches and downloads with its own
// peers, settings and download directory: a flag of the command's own
// servent given beside it is refused, naming what the daemon does
// instead. Before, it was dropped without a word: search --daemon
// --download 1 --dir ~/Music saved into the daemon's DIR/downloads, and
// --peer searched through the daemon's peers. The same from the
// environment is a standing preference, and left alone.
func TestDaemonRefusesFlagsItIgnores(t *testing.T) {
	data := t.TempDir() // no daemon: a check made only later says so instead
	urn := "urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"search", "xyz", "--peer", "127.0.0.1:1"}, "--peer: not with --daemon: the daemon searches through its own peers"},
		{[]string{"search", "xyz", "--download", "1", "--dir", t.TempDir()}, "--dir: not with --daemon: the daemon saves into the downloads directory of its --data"},
		{[]string{"search", "xyz", "--ttl", "2"}, "--ttl: not with --daemon: the daemon's own settings (govent run's) apply"},
		{[]string{"search", "xyz", "--no-tls"}, "--no-tls: not with --daemon"},
		{[]string{"get", urn, "--source", "127.0.0.1:1", "--dir", t.TempDir()}, "--dir: not with --daemon: the daemon saves into the downloads directory"},
		{[]string{"get", urn, "--source", "127.0.0.1:1", "--peer", "127.0.0.1:2"}, "--peer: not with --daemon: the daemon routes Pushes through its own peers"},
		{[]string{"get", urn, "--source", "127.0.0.1:1", "--push-proxy", "127.0.0.1:2"}, "--push-proxy: not with --daemon"},
		{[]string{"get", urn, "--source", "127.0.0.1:1", "--firewalled"}, "--firewalled: not with --daemon"},
	}
	for _, c := range cases {
		code, _, errOut := runCLI(t, "", append(c.args, "--daemon", "--data", data)...)
		assert.Equal(t, 2, code, "%v: %s", c.args, errOut)
		assert.Contains(t, errOut, c.want, "%v", c.args)
	}
	code, _, errOut := runCLIEnv(t, map[string]string{"GOVENT_SEARCH_PEER": "127.0.0.1:1"}, "", "search", "xyz", "--daemon", "--data", data)
	assert.Equal(t, 1, code, "from the environment: on to the daemon, which is not there\n%s", errOut)
	assert.Contains(t, errOut, "no daemon")
}
