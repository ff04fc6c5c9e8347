package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v3"

	"github.com/govent/govent/cmd/internal/p2pstats"
	"github.com/govent/govent/fuzz/peer"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/servent/control"
	"github.com/govent/govent/wire"
)

// This file runs every govent command line that README.md shows in a code
// block, exactly as written, with each placeholder replaced by a fixture,
// against a built binary and a servent on loopback.
//
// To document a new command line, write it in a README code block, as
//
//	govent conform HOST:PORT --json      # a comment is allowed
//
// then, if the test says so: add a rule to readmePlaceholders for a
// placeholder it does not know yet, and an entry to readmeChecks for a
// command it does not know yet, saying what its output must show.

// readmeFixture is what the placeholders stand for.
type readmeFixture struct {
	bin    string           // the govent binary
	peer   *servent.Servent // HOST:PORT: shares readmeFile
	urn    string           // of readmeFile
	body   string           // readmeFile's contents
	stream string           // a raw descriptor stream: a Pong and a Bye
	pcap   string           // a gtk-gnutella capture
	config string           // a config file for run: peer, share, data
	// daemon is a govent run for the client verbs' --data DIR, joined to
	// a peer of its own (sharing readmeFile too), so that it takes none
	// of peer's per-address slots.
	daemon     *daemonProc
	daemonPeer *servent.Servent
}

const (
	readmeQuery = "penguin"
	readmeFile  = "penguin parade.ogg"
	// readmeMagnetName is the dn of the README's magnet link.
	readmeMagnetName = "penguins from a magnet.ogg"
)

// A placeholderRule gives the value of a placeholder token where it stands:
// in any command, or only in command (a path such as "wire decode"), or
// only as the value of flag ("--config"; "<" for a redirect). The first
// rule that matches wins, so the narrower rules come first.
type placeholderRule struct {
	token, command, flag string
	value                func(t *testing.T, fx *readmeFixture) string
}

var readmePlaceholders = []placeholderRule{
	// The conformance suite fills its target's connection and upload
	// slots on purpose: each conform line gets a servent of its own.
	{token: "HOST:PORT", command: "conform", value: func(t *testing.T, fx *readmeFixture) string {
		return shareFiles(t, map[string]string{readmeFile: fx.body}).Addr().String()
	}},
	// So does fuzz-peer: a servent of its own, as `govent run` makes one.
	{token: "HOST:PORT", command: "fuzz-peer", value: func(t *testing.T, fx *readmeFixture) string {
		return shareFiles(t, map[string]string{readmeFile: fx.body}).Addr().String()
	}},
	{token: "HOST:PORT", command: "fuzz-peer replay", value: func(t *testing.T, fx *readmeFixture) string {
		return shareFiles(t, map[string]string{readmeFile: fx.body}).Addr().String()
	}},
	{token: "FILE", command: "fuzz-peer replay", value: func(t *testing.T, _ *readmeFixture) string { return longHeaderReproducer(t) }},
	// netsim's servents fill their bootstrap node's slots: a servent of
	// its own, too.
	{token: "HOST:PORT", command: "netsim", value: func(t *testing.T, fx *readmeFixture) string {
		return shareFiles(t, map[string]string{readmeFile: fx.body}).Addr().String()
	}},
	{token: "HOST:PORT", command: "workload", value: func(t *testing.T, fx *readmeFixture) string {
		return shareFiles(t, map[string]string{readmeFile: fx.body}).Addr().String()
	}},
	// The busy model the README names: the default one issues about one
	// query per session-hour, none in a 15 s run.
	{token: "FILE", command: "workload", flag: "--model", value: func(t *testing.T, _ *readmeFixture) string {
		path, err := filepath.Abs("../internal/netsim/testdata/busy.toml")
		require.NoError(t, err)
		return path
	}},
	{token: "URL", command: "run", flag: "--gwc", value: func(t *testing.T, fx *readmeFixture) string {
		return fakeGWebCache(t, fx.peer.Addr())
	}},
	{token: "HOST:PORT", value: func(_ *testing.T, fx *readmeFixture) string { return fx.peer.Addr().String() }},
	{token: "urn:sha1:<base32>", value: func(_ *testing.T, fx *readmeFixture) string { return fx.urn }},
	{token: "magnet:?xt=urn:sha1:<base32>&dn=<name>&xs=http://<ip-port>/uri-res/N2R?urn:sha1:<base32>", command: "get",
		value: func(_ *testing.T, fx *readmeFixture) string {
			return "magnet:?xt=" + fx.urn + "&dn=" + url.QueryEscape(readmeMagnetName) + "&xs=http://" + fx.peer.Addr().String() + "/uri-res/N2R?" + fx.urn
		}},
	{token: "QUERY", value: func(*testing.T, *readmeFixture) string { return readmeQuery }},
	{token: "NAME", value: func(*testing.T, *readmeFixture) string { return "my penguins.ogg" }},
	{token: "N", flag: "--download", value: func(*testing.T, *readmeFixture) string { return "1" }},
	{token: "N", flag: "--browse", value: func(*testing.T, *readmeFixture) string { return "1" }},
	{token: "DIR", flag: "--share", value: func(t *testing.T, _ *readmeFixture) string {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "shared by run.ogg"), []byte("run's own file"), 0o644))
		return dir
	}},
	{token: "DIR", command: "run", value: func(t *testing.T, _ *readmeFixture) string { return t.TempDir() }},
	// The client verbs ask the fixture's daemon.
	{token: "DIR", flag: "--data", value: func(_ *testing.T, fx *readmeFixture) string { return fx.daemon.data }},
	{token: "DIR", value: func(t *testing.T, _ *readmeFixture) string { return t.TempDir() }},
	{token: "FILE", flag: "--config", value: func(_ *testing.T, fx *readmeFixture) string { return fx.config }},
	{token: "FILE", command: "wire decode", value: func(_ *testing.T, fx *readmeFixture) string { return fx.stream }},
	{token: "FILE.hex", command: "wire decode", value: func(t *testing.T, _ *readmeFixture) string {
		p, err := filepath.Abs("../../testdata/golden/query.hex")
		require.NoError(t, err)
		return p
	}},
	{token: "FILE.pcap", command: "capture decode", value: func(_ *testing.T, fx *readmeFixture) string { return fx.pcap }},
}

// readmeEnv is the environment of every command line, on top of the test
// process's (less its GOVENT_* variables): servents bind loopback only, and
// searches wait 1 s rather than 5 for results that arrive at once. These
// are variables, not flags, so a README line's own flags still win.
// (GORACE keeps its other settings: a race still fails the line, exit 66.)
var readmeEnv = []string{
	"GORACE=atexit_sleep_ms=0", // a -race binary otherwise sleeps 1 s at exit
	"GOVENT_LISTEN=127.0.0.1:0",
	"GOVENT_CONTROL=127.0.0.1:0", // run's lines run at once: each its own control port
	"GOVENT_ALLOW_PRIVATE=true",  // loopback hosts from a (fake) GWebCache are private
	"GOVENT_SEARCH_LISTEN=127.0.0.1:0",
	"GOVENT_SEARCH_TIMEOUT=1s",
}

// readmeRun is one command line run.
type readmeRun struct {
	args           []string // after the placeholders were filled in
	code           int
	stdout, stderr string
}

// flag returns the value of flag in the run's arguments, or "".
func (r readmeRun) flag(name string) string {
	for i, a := range r.args {
		if a == name && i+1 < len(r.args) {
			return r.args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func (r readmeRun) has(name string) bool { return slices.Contains(r.args, name) }

// A readmeCheck says what a command's output must show. A daemon runs
// until SIGINT: it is started, up is polled until it holds, then it is
// interrupted and must exit 0.
type readmeCheck struct {
	daemon bool
	up     func(t *testing.T, fx *readmeFixture, stderr, stdout func() string) bool
	check  func(t *testing.T, fx *readmeFixture, r readmeRun, dir string)
}

var readmeChecks = map[string]readmeCheck{
	"run": {daemon: true, up: runIsUp, check: func(t *testing.T, _ *readmeFixture, r readmeRun, _ string) {
		assert.Contains(t, r.stderr, "shutting down")
	}},
	"search": {check: func(t *testing.T, fx *readmeFixture, r readmeRun, dir string) {
		from := fx.peer
		if r.has("--daemon") {
			from = fx.daemonPeer
		}
		if r.has("--magnet") {
			b32 := strings.TrimPrefix(fx.urn, "urn:sha1:")
			assert.Regexp(t, `(?m)^     magnet:\?xt=urn:(sha1:`+b32+`|bitprint:`+b32+`\.[A-Z2-7]{39})&`, r.stdout)
		}
		if r.has("--json") {
			assert.Equal(t, readmeFile, jsonLines(t, r.stdout)[0]["name"])
		} else {
			assert.Regexp(t, `(?m)^  1\. `+regexp.QuoteMeta(readmeFile)+` .* from `+regexp.QuoteMeta(from.Addr().String())+` \(GOVT, 1 hop\)  urn:sha1:`, r.stdout)
		}
		if r.has("--download") {
			assert.Contains(t, r.stdout, "SHA-1 verified "+fx.urn)
			assertFile(t, filepath.Join(r.flag("--dir"), readmeFile), fx.body)
		}
		if r.has("--browse") {
			assert.Contains(t, r.stdout, ". "+readmeFile+"  ")
		}
	}},
	"browse": {check: func(t *testing.T, fx *readmeFixture, r readmeRun, dir string) {
		if r.has("--json") {
			assert.Equal(t, fx.urn, jsonLines(t, r.stdout)[0]["urn"])
		} else {
			assert.Contains(t, r.stdout, ". "+readmeFile+"  ")
		}
	}},
	"get": {check: func(t *testing.T, fx *readmeFixture, r readmeRun, dir string) {
		if r.has("--daemon") {
			assert.Contains(t, r.stdout, "queued ")
			path := filepath.Join(fx.daemon.data, "downloads", strings.TrimPrefix(fx.urn, "urn:sha1:"))
			assert.Eventually(t, func() bool { b, _ := os.ReadFile(path); return string(b) == fx.body }, 20*time.Second, 50*time.Millisecond,
				"the daemon fetches %s", path)
			return
		}
		assert.Contains(t, r.stdout, "SHA-1 verified "+fx.urn)
		if d := r.flag("--dir"); d != "" {
			dir = d
		}
		name := r.flag("--name")
		switch {
		case name != "":
		case slices.ContainsFunc(r.args, isMagnet): // saved under its dn
			name = readmeMagnetName
		default:
			name = strings.TrimPrefix(fx.urn, "urn:sha1:")
		}
		assertFile(t, filepath.Join(dir, name), fx.body)
	}},
	"conform": {check: func(t *testing.T, _ *readmeFixture, r readmeRun, dir string) {
		if r.has("--list") {
			assert.Contains(t, r.stdout, "handshake/1 ")
			return
		}
		text := r.stdout
		if r.flag("--json") == "-" {
			text = r.stderr
			for _, line := range jsonLines(t, r.stdout) {
				if line["severity"] == "MUST" {
					assert.NotEqual(t, "FAIL", line["status"], line["id"])
				}
			}
		}
		assert.Contains(t, text, "PASS  handshake/1 ")
		assert.Contains(t, text, "(0 MUST, ", "our servent passes every MUST case it runs")
		if f := r.flag("--junit"); f != "" {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if assert.NoError(t, err) {
				assert.Contains(t, string(b), "<testsuites")
			}
		}
	}},
	"fuzz-peer": {check: func(t *testing.T, _ *readmeFixture, r readmeRun, _ string) {
		if r.has("--json") {
			var sum peer.Summary
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
			assert.Positive(t, sum.Cases)
			assert.Empty(t, sum.Findings)
			assert.Equal(t, peer.StopDuration, sum.Stopped)
			return
		}
		assert.Contains(t, r.stdout, "stopped: duration")
		assert.Contains(t, r.stdout, "findings: 0")
	}},
	"fuzz-peer replay": {check: func(t *testing.T, _ *readmeFixture, r readmeRun, _ string) {
		assert.Contains(t, r.stdout, "not reproduced: the target passed the control check")
	}},
	"netsim": {check: func(t *testing.T, _ *readmeFixture, r readmeRun, _ string) {
		switch {
		case r.has("--print-model"):
			assert.Contains(t, r.stdout, "[session.first_query]")
			return
		case r.flag("--json") == "-":
			var got struct{ Runs []p2pstats.Results }
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
			require.Len(t, got.Runs, 1)
			assert.Equal(t, "virtual", got.Runs[0].Run.Clock)
			assert.Zero(t, got.Runs[0].ReversePath.OffPath)
			assert.Positive(t, got.Runs[0].Queries.Issued, "the example issues no query: its figures are all n/a")
			return
		}
		assert.Contains(t, r.stdout, "success rate of those")
		if r.has("--realtime") {
			assert.Contains(t, r.stdout, "real clock, 20 nodes")
			assert.Contains(t, r.stderr, "bootstrap node "+r.flag("--bootstrap"))
		} else {
			assert.Contains(t, r.stdout, "virtual clock")
			// Virtual time makes the count the seed's: it cannot be 0 by
			// bad luck, only by an example too small for the model.
			assert.Regexp(t, `(?m)^queries issued( +[1-9]\d*)+$`, r.stdout, "the example issues no query")
		}
		if dir := r.flag("--report"); dir != "" {
			page, err := os.ReadFile(filepath.Join(dir, p2pstats.ReportFile))
			require.NoError(t, err)
			assert.NoError(t, p2pstats.CheckPage(page))
		}
	}},
	"workload": {check: func(t *testing.T, _ *readmeFixture, r readmeRun, _ string) {
		assert.Contains(t, r.stdout, "real clock, 40 sessions, 15s")
		assert.Contains(t, r.stdout, "target "+r.flag("--peer"))
		assert.Regexp(t, `(?m)^queries issued +[1-9]\d*$`, r.stdout, "the example issues no query")
		page, err := os.ReadFile(filepath.Join(r.flag("--report"), p2pstats.ReportFile))
		require.NoError(t, err)
		assert.NoError(t, p2pstats.CheckPage(page))
	}},
	"wire decode": {check: func(t *testing.T, _ *readmeFixture, r readmeRun, _ string) {
		if strings.HasSuffix(r.args[len(r.args)-1], ".hex") {
			assert.Regexp(t, `^QUERY .*text="beatles".*\n$`, r.stdout)
			return
		}
		if r.has("--json") {
			lines := jsonLines(t, r.stdout)
			require.Len(t, lines, 2)
			assert.Equal(t, "PONG", lines[0]["type"])
			assert.Equal(t, "BYE", lines[1]["type"])
			return
		}
		assert.Regexp(t, `(?s)^PONG .*\nBYE .*200`, r.stdout)
	}},
	"capture decode": {check: func(t *testing.T, _ *readmeFixture, r readmeRun, _ string) {
		if r.has("--json") {
			assert.Equal(t, "handshake", jsonLines(t, r.stdout)[0]["kind"])
			return
		}
		assert.Contains(t, r.stdout, `HANDSHAKE "GNUTELLA CONNECT/0.6"`)
		assert.Contains(t, r.stdout, `name="penny lane.mp3"`)
	}},
	"demo": {check: func(t *testing.T, _ *readmeFixture, r readmeRun, _ string) {
		assert.Contains(t, r.stdout, "got the Push")
		assert.Contains(t, r.stdout, "verified SHA-1")
	}},
	"status": {check: func(t *testing.T, fx *readmeFixture, r readmeRun, _ string) {
		assert.Regexp(t, `(?m)^role +ultrapeer$`, r.stdout)
		assert.Regexp(t, `(?m)^peers +1 \(1 ultrapeer, 0 leaves, 0 legacy\)$`, r.stdout)
	}},
	"peers": {check: func(t *testing.T, fx *readmeFixture, r readmeRun, _ string) {
		if r.has("--json") {
			var peers []control.Peer
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &peers))
			require.Len(t, peers, 1)
			assert.Equal(t, fx.daemonPeer.Addr().String(), peers[0].Addr)
			return
		}
		assert.Contains(t, r.stdout, fx.daemonPeer.Addr().String())
	}},
	"shares": {check: func(t *testing.T, _ *readmeFixture, r readmeRun, _ string) {
		assert.Contains(t, r.stdout, "0 files, 0 B; 0 hashed, 0 waiting to be hashed")
	}},
	"top": {daemon: true, up: func(_ *testing.T, _ *readmeFixture, _, stdout func() string) bool {
		return strings.Contains(stdout(), "TRANSFERS")
	}, check: func(t *testing.T, fx *readmeFixture, r readmeRun, _ string) {
		assert.Contains(t, r.stdout, "PEERS (1)")
		assert.Contains(t, r.stdout, fx.daemonPeer.Addr().String())
	}},
	"transfers": {check: func(t *testing.T, _ *readmeFixture, r readmeRun, _ string) {
		assert.Regexp(t, `(?m)^uploads: \d+ active$`, r.stdout)
	}},
	"config print": {check: func(t *testing.T, fx *readmeFixture, r readmeRun, _ string) {
		run := tableOf(t, r.stdout, "run")
		assert.Contains(t, run, "max-peers")
		if r.flag("--config") != "" {
			assert.Equal(t, []any{fx.peer.Addr().String()}, run["peer"])
			assert.Regexp(t, `(?m)^peer = .* # from `+regexp.QuoteMeta(fx.config)+`$`, r.stdout)
		}
	}},
	"help": {check: func(t *testing.T, _ *readmeFixture, r readmeRun, _ string) {
		assert.Contains(t, r.stdout, "USAGE:")
		if len(r.args) > 1 {
			assert.Contains(t, r.stdout, "govent "+strings.Join(r.args[1:], " "))
		}
	}},
	"version": {check: func(t *testing.T, _ *readmeFixture, r readmeRun, _ string) {
		assert.Regexp(t, versionLine, r.stdout)
	}},
}

// longHeaderReproducer writes the reproducer of a servent that stops
// accepting after a handshake header line over 4 KiB (the fragile test
// servent's bug), which ours is not.
func longHeaderReproducer(t *testing.T) string {
	connect := "GNUTELLA CONNECT/0.6\r\nX-Long: " + strings.Repeat("a", 5000) + "\r\n\r\n"
	ping := wire.Header{GUID: wire.NewGUID(), Type: wire.TypePing, TTL: 1}
	final := append([]byte("GNUTELLA/0.6 200 OK\r\n\r\n"), ping.Append(nil)...)
	rep := &peer.Reproducer{
		Format: peer.ReproducerFormat, Key: "handshake.line_length/refused", Field: "handshake.line_length", Effect: peer.EffectRefused,
		Cases: []peer.Case{{
			Area: peer.AreaHandshake, Proto: peer.ProtoGnutella, Probe: ping.GUID.String(),
			Mutations: []peer.Mutation{{Field: "handshake.line_length", Op: "long"}},
			Steps:     []peer.Step{{Send: []byte(connect)}, {Await: peer.AwaitBlock}, {Send: final}},
		}},
	}
	path := filepath.Join(t.TempDir(), "handshake.line_length_refused-case0.json")
	require.NoError(t, peer.WriteReproducer(path, rep))
	return path
}

func assertFile(t *testing.T, path, body string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if assert.NoError(t, err) {
		assert.Equal(t, body, string(got), path)
	}
}

// runIsUp: the servent logged its address, and a search through it finds
// the file of the servent it joined, two hops away.
func runIsUp(t *testing.T, _ *readmeFixture, stderr, _ func() string) bool {
	m := regexp.MustCompile(`listening\s+\{"addr": "([0-9.:]+)"`).FindStringSubmatch(stderr())
	if m == nil {
		return false
	}
	code, out, _ := runCLI(t, "", "search", readmeQuery, "--peer", m[1], "--listen", "127.0.0.1:0", "--max-results", "1", "--timeout", "1s")
	return code == 0 && strings.Contains(out, readmeFile) && strings.Contains(out, "2 hops")
}

// readmeLine is one command line of the README.
type readmeLine struct {
	at      int      // line number in README.md
	text    string   // as written
	env     []string // NAME=value words before the command
	words   []string // the command's words, "govent" first
	stdin   string   // the word after "<", if any
	command string   // the command path, "wire decode"
}

// readmeCommandLines extracts the govent command lines from the fenced code
// blocks of a markdown file.
func readmeCommandLines(t *testing.T, path string) []readmeLine {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	app := newApp(env{})
	var out []readmeLine
	inBlock, joined, start := false, "", 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inBlock = !inBlock
			continue
		}
		if !inBlock {
			continue
		}
		if joined == "" {
			start = n
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			joined += s + " "
			continue
		}
		text := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(joined+line), "$ "))
		joined = ""
		words, err := shellWords(text)
		if err != nil {
			t.Fatalf("README.md:%d: %q: %v", start, text, err)
		}
		l := readmeLine{at: start, text: text}
		for len(words) > 0 && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(words[0]) {
			l.env, words = append(l.env, words[0]), words[1:]
		}
		if len(words) >= 3 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/govent" {
			words = append([]string{"govent"}, words[3:]...) // the binary built from ./cmd/govent
		}
		if len(words) == 0 || words[0] != "govent" {
			continue
		}
		if i := slices.Index(words, "<"); i >= 0 {
			if i != len(words)-2 {
				t.Fatalf("README.md:%d: %q: a redirect from standard input goes last", start, text)
			}
			l.stdin, words = words[i+1], words[:i]
		}
		l.words = words
		l.command = commandPath(app, words[1:])
		out = append(out, l)
	}
	return out
}

// shellWords splits a line as a POSIX shell would, for the few forms the
// README uses: words, quotes, backslashes, a # comment, `<`. Anything
// else a shell would interpret is refused rather than misread.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case c == '#' && !inWord:
			return words, nil
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated '")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i, inWord = i+1+j, true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '$' || s[i] == '`' {
					return nil, fmt.Errorf("no expansions, please: %q", s)
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, fmt.Errorf(`unterminated "`)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '<' && angled.MatchString(s[i:]):
			// A placeholder such as <base32>: the reader fills it in.
			m := angled.FindString(s[i:])
			cur.WriteString(m)
			i, inWord = i+len(m)-1, true
		case strings.IndexByte("|;&<>$`()", c) >= 0 && !(c == '<' && !inWord && (i+1 == len(s) || s[i+1] == ' ')):
			return nil, fmt.Errorf("shell syntax %q is not supported here: one command, optionally `< FILE`", c)
		case c == '<' && !inWord && (i+1 == len(s) || s[i+1] == ' '):
			words = append(words, "<")
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

var angled = regexp.MustCompile(`^<[a-z0-9-]+>`)

// commandPath finds the command that args run: "wire decode", or "" when
// the first word is no command.
func commandPath(app *cli.Command, args []string) string {
	c := app
	var path []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			if f := findFlag(c, strings.TrimLeft(a, "-")); f != nil && !strings.Contains(a, "=") {
				if tv, ok := f.(interface{ TakesValue() bool }); ok && tv.TakesValue() {
					i++
				}
			}
			continue
		}
		sub := c.Command(a)
		if sub == nil {
			break
		}
		c, path = sub, append(path, a)
	}
	return strings.Join(path, " ")
}

// looksLikePlaceholder: an upper-case word (DIR, HOST:PORT, FILE.pcap, N)
// or anything in angle brackets.
var looksLikePlaceholder = regexp.MustCompile(`^[A-Z][A-Z0-9_]*([:.][A-Za-z0-9_]+)*$|<[^>]*>`)

// placeholders returns where each placeholder of l stands: word index, the
// token, and the flag it is the value of ("" for an argument).
func (l readmeLine) placeholders() []placeholderAt {
	var out []placeholderAt
	check := func(i int, token, flag string) {
		if looksLikePlaceholder.MatchString(token) {
			out = append(out, placeholderAt{i, token, flag})
		}
	}
	for i, w := range l.words {
		if name, v, ok := strings.Cut(w, "="); ok && strings.HasPrefix(name, "--") {
			check(i, v, name)
			continue
		}
		prev := ""
		if i > 0 && strings.HasPrefix(l.words[i-1], "-") {
			prev = l.words[i-1]
		}
		check(i, w, prev)
	}
	if l.stdin != "" {
		check(-1, l.stdin, "<")
	}
	return out
}

type placeholderAt struct {
	word        int // -1: the redirect
	token, flag string
}

// rule finds the placeholder rule for p on line l, or fails the test
// saying where to add one.
func (l readmeLine) rule(t *testing.T, p placeholderAt) placeholderRule {
	for _, r := range readmePlaceholders {
		if r.token == p.token && (r.command == "" || r.command == l.command) && (r.flag == "" || r.flag == p.flag) {
			return r
		}
	}
	t.Fatalf("README.md:%d: %q: placeholder %s (command %q, flag %q) has no value; add a rule to readmePlaceholders in cmd/govent/readme_test.go",
		l.at, l.text, p.token, l.command, p.flag)
	return placeholderRule{}
}

func (l readmeLine) check(t *testing.T) readmeCheck {
	c, ok := readmeChecks[l.command]
	if !ok {
		t.Fatalf("README.md:%d: %q: command %q has no entry in readmeChecks (cmd/govent/readme_test.go); add one saying what its output must show",
			l.at, l.text, l.command)
	}
	return c
}

// Cheap, and run with -short too: a `govent run` the README shows
// listening on loopback (a servent to test, such as the conformance
// suite's or fuzz-peer's target) says where it joins or that it asks no
// host cache. Knowing nobody, it would otherwise ask the public caches
// of the built-in list and join the real network, from an address that
// nobody outside can reach, while it is being tested. The lines in
// prose count as much as those in code blocks: users copy both.
func TestReadmeLoopbackRunsStayLocal(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	runs := regexp.MustCompile("govent run [^`#\n]*").FindAllString(string(data), -1)
	require.NotEmpty(t, runs)
	for _, r := range runs {
		words := strings.Fields(r)
		i := slices.Index(words, "--listen")
		if i < 0 || i+1 == len(words) || !strings.HasPrefix(words[i+1], "127.") {
			continue
		}
		local := slices.ContainsFunc(words, func(w string) bool {
			return slices.Contains([]string{"--peer", "--gwc", "--uhc", "--fallback-cache", "--no-bootstrap"}, w)
		})
		assert.True(t, local, "README.md: %q runs a servent on loopback that would ask the public host caches: add --no-bootstrap (or --peer)", r)
	}
}

// Cheap, and run with -short too: every README command line names a
// command, every placeholder has a rule and every command a check, and
// every command of the CLI is shown in the README.
func TestReadmeCommandLinesAreKnown(t *testing.T) {
	lines := readmeCommandLines(t, "../../README.md")
	require.NotEmpty(t, lines)
	shown := map[string]bool{}
	for _, l := range lines {
		if l.command == "" {
			t.Errorf("README.md:%d: %q: %q is not a govent command", l.at, l.text, l.words[1])
			continue
		}
		shown[l.command] = true
		l.check(t)
		for _, p := range l.placeholders() {
			l.rule(t, p)
		}
	}
	walkCommands(newApp(env{}), nil, func(path []string, c *cli.Command) {
		if len(path) > 0 && len(c.Commands) == 0 && !c.Hidden && !shown[strings.Join(path, " ")] {
			t.Errorf("command %q is not shown in any code block of README.md; document it there (the README test then runs it)", strings.Join(path, " "))
		}
	})
}

// TestReadmeCommandLines runs them, in parallel.
func TestReadmeCommandLines(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs every README command line")
	}
	lines := readmeCommandLines(t, "../../README.md")
	fx := newReadmeFixture(t)
	t.Run("README", func(t *testing.T) {
		for _, l := range lines {
			t.Run(fmt.Sprintf("line %d %s", l.at, strings.Join(l.words, " ")), func(t *testing.T) {
				t.Parallel()
				runReadmeLine(t, fx, l)
			})
		}
	})
}

func newReadmeFixture(t *testing.T) *readmeFixture {
	body := strings.Repeat("penguins on parade ", 5000)
	fx := &readmeFixture{bin: buildGovent(t), body: body, stream: streamFile(t)}
	fx.peer = shareFiles(t, map[string]string{readmeFile: body})
	fx.urn = fx.peer.Library().All()[0].SHA1.String()
	var err error
	fx.pcap, err = filepath.Abs("../../testdata/leaf-deflate.pcap")
	require.NoError(t, err)
	fx.daemonPeer = shareFiles(t, map[string]string{readmeFile: body})
	fx.daemon = startDaemon(t, fx.bin, t.TempDir(), "--peer", fx.daemonPeer.Addr().String())
	require.Eventually(t, func() bool {
		var st control.Status
		cliJSON(t, &st, "status", "--data", fx.daemon.data, "--json")
		return st.Peers == 1
	}, 10*time.Second, 50*time.Millisecond, "the fixture daemon joins its peer")
	fx.config = writeConfig(t, fmt.Sprintf("[run]\npeer = [%q]\nshare = %q\ndata = %q\n", fx.peer.Addr(), t.TempDir(), t.TempDir()))
	return fx
}

// built is the govent binary buildGovent made, shared by the tests of
// this run; TestMain removes it.
var built struct {
	sync.Mutex
	dir, bin string
}

// buildGovent builds the binary once per test run, with the race detector
// when the tests have it (the build then reuses their compiled packages).
func buildGovent(t *testing.T) string {
	built.Lock()
	defer built.Unlock()
	if built.bin != "" {
		return built.bin
	}
	dir, err := os.MkdirTemp("", "govent-test-bin")
	require.NoError(t, err)
	bin := filepath.Join(dir, "govent")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if p, err := exec.LookPath("go"); err == nil {
		gobin = p
	}
	out, err := exec.Command(gobin, append(args, ".")...).CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
	}
	require.NoError(t, err, "go build: %s", out)
	built.dir, built.bin = dir, bin
	return bin
}

// removeBuilt removes what buildGovent built.
func removeBuilt() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

func runReadmeLine(t *testing.T, fx *readmeFixture, l readmeLine) {
	check := l.check(t)
	args := slices.Clone(l.words[1:])
	stdin := l.stdin
	for _, p := range l.placeholders() {
		v := l.rule(t, p).value(t, fx)
		switch {
		case p.word < 0:
			stdin = v
		case strings.Contains(args[p.word-1], "=") && strings.HasPrefix(args[p.word-1], "--"):
			name, _, _ := strings.Cut(args[p.word-1], "=")
			args[p.word-1] = name + "=" + v
		default:
			args[p.word-1] = v
		}
	}
	dir := t.TempDir() // the working directory
	// A guard against a line that hangs, not a performance check: lines
	// run in parallel, with the race detector, on machines shared with
	// other work, where a netsim line has taken over a minute.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, fx.bin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(testEnviron(), readmeEnv...), l.env...)
	if stdin != "" {
		f, err := os.Open(stdin)
		require.NoError(t, err)
		defer f.Close()
		cmd.Stdin = f
	}
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	var err error
	go func() { err = cmd.Wait(); close(done) }()
	if check.daemon {
		deadline := time.Now().Add(30 * time.Second)
		for !check.up(t, fx, stderr.String, stdout.String) {
			select {
			case <-done:
				t.Fatalf("README.md:%d: %q exited before it was up: %v\nstderr:\n%s", l.at, l.text, err, stderr.String())
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("README.md:%d: %q is not up after 30 s\nstderr:\n%s", l.at, l.text, stderr.String())
			}
		}
		require.NoError(t, cmd.Process.Signal(os.Interrupt))
	}
	<-done
	r := readmeRun{args: args, code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	require.NoError(t, ctx.Err(), "README.md:%d: %q did not finish in time", l.at, l.text)
	require.Equal(t, 0, r.code, "README.md:%d: %q (run as %q): %v\nstdout:\n%s\nstderr:\n%s", l.at, l.text, args, err, r.stdout, r.stderr)
	check.check(t, fx, r, dir)
}

// testEnviron is the test's environment without GOVENT_ variables.
func testEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOVENT_") {
			out = append(out, kv)
		}
	}
	// The shipped bootstrap list is never used by a test (bootstrap_test.go).
	return append(out, "GOVENT_FALLBACK_CACHE="+tripwire.url)
}

// syncBuffer is a bytes.Buffer that a running process writes while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
