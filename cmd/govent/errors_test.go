package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// The rule for the errors a user reads: "govent: " once, from run; then
// what was being done and to what ("download \"f.bin\": ...", "handshake
// with A: ...", "connect to A: ..."), each said once; never a Go package's
// name, nor Go's network words (goNetWords).

// contexts are the words a layer puts before an error it wraps: each may
// lead a part of the message (the text between ": ") at most once.
var contexts = []string{"capture", "httpxfer", "servent", "link", "control", "conform", "download", "browse", "search", "get", "dial", "peer", "handshake"}

// phrases may each be said once in what is said of one host (the text
// between "; "), wherever they stand: "no usable source left after SHA-1
// mismatch: A: SHA-1 mismatch: ..." said it twice.
var phrases = []string{"handshake", "SHA-1 mismatch", "no usable source"}

// addrPattern is an IPv4 address with its port: the host that one part of
// a failure speaks of, named once.
var addrPattern = regexp.MustCompile(`\b\d+\.\d+\.\d+\.\d+:\d+\b`)

// packages are Go package names that no user-facing error shows.
var packages = []string{"servent", "httpxfer", "wire", "router", "link", "thex", "library"}

// goNetWords are the standard library's words for a network failure,
// which no user-facing error shows: "dial tcp", "listen tcp", our own
// source address ("127.91.57.76:0->A"), the system call ("connect: ",
// "bind: ") and net/http's `Get "URL"`. wire/neterr says them in plain
// words.
var goNetWords = regexp.MustCompile(`\b(?:dial|listen|accept|read|write) (?:tcp|udp)[46]?\b|[0-9\]]->[0-9\[]|: (?:connect|bind|socket|setsockopt): |\b(?:Get|Head|Post) "`)

// assertSaidOnce fails when a layer's context is said twice in msg, as in
// "download: httpxfer: download ...: httpxfer: ...", or a package's name
// is said at all.
func assertSaidOnce(t interface {
	assert.TestingT
	Helper()
}, msg string) {
	t.Helper()
	seen := map[string]int{}
	for _, part := range strings.Split(msg, ": ") {
		if m := regexp.MustCompile(`^(?:govent )?([a-z]+)\b`).FindStringSubmatch(strings.TrimSpace(part)); m != nil {
			seen[m[1]]++
		}
	}
	for _, w := range contexts {
		assert.LessOrEqual(t, seen[w], 1, "%q said %d times in %q", w, seen[w], msg)
	}
	for _, host := range strings.Split(msg, "; ") {
		for _, p := range phrases {
			assert.LessOrEqual(t, strings.Count(host, p), 1, "%q said twice in %q", p, msg)
		}
		addrs := map[string]int{}
		for _, a := range addrPattern.FindAllString(host, -1) {
			addrs[a]++
		}
		for a, n := range addrs {
			assert.LessOrEqual(t, n, 1, "%s said %d times in %q", a, n, msg)
		}
	}
	for _, p := range packages {
		assert.NotRegexp(t, `\b`+p+`: `, msg, "package name %q in %q", p, msg)
	}
	assert.NotRegexp(t, goNetWords, msg, "Go's network words in %q", msg)
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// refusingServent is a loopback servent that answers every handshake
// with status.
func refusingServent(t *testing.T, status string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				if _, err := wire.ReadHandshake(bufio.NewReader(nc), wire.HandshakeLimits{}); err == nil {
					_, _ = nc.Write([]byte(status + "\r\n\r\n"))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestErrorsSayEachContextOnce: the failures of the verbs that reach
// other hosts read as one sentence: each layer's context once, no package
// names.
func TestErrorsSayEachContextOnce(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	httpOnly := strings.TrimPrefix(notFound.URL, "http://")
	// A source whose every byte is wrong: its file is not the urn's.
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f.bin", time.Time{}, strings.NewReader(strings.Repeat("not the file ", 1000)))
	}))
	t.Cleanup(liar.Close)
	lying := strings.TrimPrefix(liar.URL, "http://")
	refused := closedAddr(t)
	full := refusingServent(t, "GNUTELLA/0.6 503 Full")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { busy.Close() })
	const urn = "urn:sha1:PLSTHIPQQ2DXIGD4GAGQGU3GJJUSD6NA"
	someDir := t.TempDir()
	someFile := filepath.Join(someDir, "a file")
	require.NoError(t, os.WriteFile(someFile, []byte("x"), 0o600))
	for _, tc := range []struct {
		args []string
		want string // the whole last line, or a part of it
		code int    // 1 unless said
	}{
		// get from a refused port retries for 30 s (httpxfer's
		// TestDownloadRefusedSourceBacksOff and TestDownloadFailureReasons
		// check its words): not run here.
		{args: []string{"get", urn, "--source", httpOnly, "--dir", t.TempDir(), "--name", "f.bin"},
			want: `govent: download "f.bin": no usable source left: ` + httpOnly + ": HEAD: 404 Not Found\n"},
		{args: []string{"get", urn, "--source", lying, "--dir", t.TempDir(), "--name", "f.bin"},
			want: `govent: download "f.bin": no usable source left: ` + lying + ": SHA-1 mismatch: it wrote every chunk, and the file does not match\n"},
		{args: []string{"get", "magnet:?xt=urn:sha1:bad"}, code: 2,
			want: `govent get: magnet link without a usable urn:sha1 or urn:bitprint xt: xt "urn:sha1:bad": not a SHA-1 (base32, 32 characters; it has 3)` + "\n"},
		{args: []string{"browse", refused}, want: "govent: browse " + refused + ": connection refused\n"},
		{args: []string{"browse", httpOnly}, want: "govent: browse " + httpOnly + ": 404 Not Found\n"},
		// Not "dial tcp 127.91.57.76:0->A: connect: connection refused":
		// neither conform's source address nor Go's words.
		{args: []string{"conform", "--timeout", "1s", refused}, want: "govent: conform: cannot reach " + refused + ": connection refused\n"},
		// Not "is not live: refused connect: dial tcp A: connect: connection refused".
		{args: []string{"fuzz-peer", "--duration", "1s", "--out", t.TempDir(), refused},
			want: "govent: fuzz-peer: " + refused + " is not live: cannot connect: connection refused\n"},
		{args: []string{"search", "xyz", "--peer", refused, "--timeout", "1s"},
			want: "govent: no peer could be reached: connect to " + refused + ": connection refused\n"},
		{args: []string{"search", "xyz", "--peer", full, "--timeout", "1s"},
			want: "govent: no peer could be reached: handshake with " + full + " refused: 503 Full\n"},
		{args: []string{"search", "xyz", "--peer", full, "--peer", refused, "--timeout", "1s"},
			want: "govent: no peer could be reached: handshake with " + full + " refused: 503 Full; connect to " + refused + ": connection refused\n"},
		{args: []string{"capture", "decode", filepath.Join(t.TempDir(), "none.pcap")}, want: "govent: open "},
		// A directory: not "it is empty", nor "descriptor 0: reading
		// header at offset 0: read DIR: is a directory".
		{args: []string{"capture", "decode", someDir}, want: "govent: " + someDir + " is a directory; want a pcap or pcapng file\n"},
		{args: []string{"wire", "decode", someDir}, want: "govent: " + someDir + " is a directory; want a file of descriptors"},
		// A file for --data: not "control: token file: lstat FILE/control-token: not a directory".
		{args: []string{"status", "--data", someFile}, code: 2,
			want: "govent status: --data " + someFile + ": is not a directory; want the data directory of its govent run\n"},
		// A directory no daemon ever used: say how to start one.
		{args: []string{"status", "--data", someDir},
			want: "govent: no daemon has run with --data " + someDir + " (no " + filepath.Join(someDir, "control-token") + "); start one with govent run --data " + someDir + "\n"},
		{args: []string{"run", "--listen", busy.Addr().String(), "--no-bootstrap"},
			want: "govent: listen on " + busy.Addr().String() + ": address already in use (another servent uses it; pass --listen 127.0.0.1:0 or another port)\n"},
		{args: []string{"run", "--listen", "127.0.0.1:0", "--no-bootstrap", "--data", t.TempDir(), "--control", busy.Addr().String()},
			want: "govent: control API: listen on " + busy.Addr().String() + ": address already in use (another servent uses it; pass --control 127.0.0.1:0 or another port)\n"},
		// Not a servent: say what answered.
		{args: []string{"search", "xyz", "--peer", httpOnly, "--timeout", "1s"}, want: "govent: no peer could be reached: handshake with " + httpOnly +
			`: "HTTP/1.1 400 Bad Request": an HTTP server, not a Gnutella servent` + "\n"},
		{args: []string{"conform", "--timeout", "1s", httpOnly}, want: "govent: conform: " + httpOnly +
			`: handshake answer: "HTTP/1.1 400 Bad Request": an HTTP server, not a Gnutella servent` + "\n"},
	} {
		code, _, errOut := runCLI(t, "", tc.args...)
		if tc.code == 0 {
			tc.code = 1
		}
		assert.Equal(t, tc.code, code, "%v: %s", tc.args, errOut)
		// The error is the last line; a usage mistake adds the --help one.
		lines := strings.SplitAfter(strings.TrimSuffix(errOut, "\n"), "\n")
		last := lines[len(lines)-1] + "\n"
		if tc.code == 2 && len(lines) > 1 {
			last = lines[len(lines)-2]
		}
		if strings.HasSuffix(tc.want, "\n") {
			assert.Equal(t, tc.want, last, "%v", tc.args)
		} else {
			assert.Contains(t, last, tc.want, "%v", tc.args)
		}
		assertSaidOnce(t, last)
	}
}

// The rule's own check catches what the old messages said.
func TestAssertSaidOnceCatchesRepeats(t *testing.T) {
	for _, msg := range []string{
		"govent: no peer could be reached: peer A: servent: handshake with A: servent: handshake refused: 503 Full",
		`govent: httpxfer: download "f.bin": no usable source left: A: HEAD: 404 Not Found`,
		`govent: download "f.bin": no usable source left after SHA-1 mismatch: A: SHA-1 mismatch: its chunks were replaced`,
		"govent: conform: cannot reach 127.0.0.1:1: dial tcp 127.88.97.108:0->127.0.0.1:1: connect: connection refused",
		"govent: listen tcp 127.0.0.1:6346: bind: address already in use",
		"govent: no peer could be reached: dial tcp 127.0.0.1:1: connect: connection refused",
		"govent: browse [::1]:1: dial tcp [::1]:5->[::1]:1: connection refused",
		`govent: host cache: Get "http://127.0.0.1:1/?get=1": connection refused`,
	} {
		r := &failRecorder{}
		assertSaidOnce(r, msg)
		assert.True(t, r.failed, "%q passes", msg)
	}
	r := &failRecorder{}
	assertSaidOnce(r, `govent: download "f.bin": no usable source left: A: SHA-1 mismatch: it wrote every chunk, and the file does not match`)
	assert.False(t, r.failed)
}

// failRecorder notes that an assertion failed, for testing the assertion.
type failRecorder struct{ failed bool }

func (r *failRecorder) Errorf(string, ...any) { r.failed = true }
func (r *failRecorder) Helper()               {}

// moduleSource is the module's Go code, tests left out, parsed; and the
// names of its directories, which are its packages' names.
type moduleSource struct {
	fset  *token.FileSet
	files []*ast.File
	pkgs  map[string]bool
}

func parseModule(t *testing.T) moduleSource {
	t.Helper()
	root := filepath.Join("..", "..")
	m := moduleSource{fset: token.NewFileSet(), pkgs: map[string]bool{}}
	require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && path != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")):
			return filepath.SkipDir
		case d.IsDir():
			m.pkgs[d.Name()] = true
		case strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go"):
			f, err := parser.ParseFile(m.fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			m.files = append(m.files, f)
		}
		return nil
	}))
	require.NotEmpty(t, m.files)
	return m
}

// calls runs fn on every call of the module whose function (a selector,
// x.Name) matches, with its first string literal argument, unquoted.
func (m moduleSource) calls(match func(x, name string) bool, fn func(pos token.Position, lit string)) {
	for _, f := range m.files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x := ""
			if id, ok := sel.X.(*ast.Ident); ok {
				x = id.Name
			}
			if !match(x, sel.Sel.Name) {
				return true
			}
			for _, a := range call.Args {
				if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					fn(m.fset.Position(lit.Pos()), s)
					break
				}
			}
			return true
		})
	}
}

// TestLogMessagesNameNoPackage: no log message starts with the name of
// one of our packages ("library: cannot save state"): the logger's name
// (Named) and the fields say where a line comes from. It reads every
// logging call of the module: the first string literal given to Debug,
// Info, Warn, Error (and the servent's rate-limited loggers).
func TestLogMessagesNameNoPackage(t *testing.T) {
	m := parseModule(t)
	logCall := regexp.MustCompile(`^(?:Debug|Info|Warn|Error|DPanic|Fatal|log\w*|rateLog\w*)$`)
	prefix := regexp.MustCompile(`^([a-z0-9]+): `)
	var bad []string
	m.calls(func(_, name string) bool { return logCall.MatchString(name) }, func(pos token.Position, msg string) {
		if p := prefix.FindStringSubmatch(msg); p != nil && m.pkgs[p[1]] {
			bad = append(bad, fmt.Sprintf("%s: %q", pos, msg))
		}
	})
	assert.Empty(t, bad, "log messages that start with a package's name")
}

// TestErrorStringsStartLowerCase: an error string starts with a lower
// case letter (staticcheck's ST1005), as it may follow another's ": ";
// a first word with more capitals or digits is a name ("TLS", "GUID",
// "MaxPeers") and may stay. Unlike ST1005, a method's name ("Start after
// Close") is no excuse: it reads as the start of a sentence.
func TestErrorStringsStartLowerCase(t *testing.T) {
	var bad []string
	isErr := func(x, name string) bool { return x == "errors" && name == "New" || x == "fmt" && name == "Errorf" }
	parseModule(t).calls(isErr, func(pos token.Position, msg string) {
		word, _, _ := strings.Cut(msg, " ")
		first, n := utf8.DecodeRuneInString(word)
		if unicode.IsUpper(first) && !strings.ContainsFunc(word[n:], func(r rune) bool { return unicode.IsUpper(r) || unicode.IsDigit(r) }) {
			bad = append(bad, fmt.Sprintf("%s: %q", pos, msg))
		}
	})
	assert.Empty(t, bad, "error strings that start with a capital")
}

// A file where a verb wants a directory is the same flag-shaped mistake
// whichever verb and flag: a usage error, said as status --data says it,
// before anything runs (get said "govent: --dir: mkdir FILE: not a
// directory", exit 1; run "govent: data directory: mkdir ...").
func TestDirectoryFlagGivenAFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	under := filepath.Join(file, "sub")
	refused := closedAddr(t)
	const urn = "urn:sha1:PLSTHIPQQ2DXIGD4GAGQGU3GJJUSD6NA"
	for _, tc := range []struct {
		args []string
		want string // the usage line
	}{
		{[]string{"get", urn, "--source", refused, "--dir", file}, "govent get: --dir " + file + ": is not a directory"},
		{[]string{"get", urn, "--source", refused, "--dir", under}, "govent get: --dir " + under + ": " + file + " is not a directory"},
		{[]string{"search", "xyz", "--peer", refused, "--timeout", "1s", "--download", "1", "--dir", file}, "govent search: --dir " + file + ": is not a directory"},
		{[]string{"run", "--no-bootstrap", "--listen", "127.0.0.1:0", "--control", "off", "--data", file}, "govent run: --data " + file + ": is not a directory"},
		{[]string{"run", "--no-bootstrap", "--listen", "127.0.0.1:0", "--control", "off", "--data", under}, "govent run: --data " + under + ": " + file + " is not a directory"},
		{[]string{"status", "--data", file}, "govent status: --data " + file + ": is not a directory; want the data directory of its govent run"},
		{[]string{"status", "--data", under}, "govent status: --data " + under + ": " + file + " is not a directory; want the data directory of its govent run"},
	} {
		code, _, errOut := runCLI(t, "", tc.args...)
		assert.Equal(t, 2, code, "%v: %s", tc.args, errOut)
		assert.Equal(t, tc.want+"\nRun 'govent "+tc.args[0]+" --help' for usage.\n", errOut, "%v", tc.args)
	}
	// search without --download does not use --dir: not checked.
	code, _, errOut := runCLI(t, "", "search", "xyz", "--peer", refused, "--timeout", "1s", "--dir", file)
	assert.Equal(t, 1, code, errOut)
	assert.Contains(t, errOut, "no peer could be reached")
}

// A one-letter search is refused at once, with why, plain or --daemon
// (before any peer or daemon is reached): it used to run its whole
// --timeout and end "no results", servents having dropped it unseen.
func TestSearchTooShortSaysWhy(t *testing.T) {
	refused := closedAddr(t)
	const want = `govent search: QUERY "e": shorter than 3 bytes: servents drop such a search, and match no word shorter than 3 bytes` + "\n" +
		"Run 'govent search --help' for usage.\n"
	for _, args := range [][]string{
		{"search", "e", "--peer", refused, "--timeout", "1s"},
		{"search", "e", "--daemon", "--data", t.TempDir()},
	} {
		code, out, errOut := runCLI(t, "", args...)
		assert.Equal(t, 2, code, "%v: %s", args, errOut)
		assert.Equal(t, want, errOut, "%v", args)
		assert.Empty(t, out, "%v", args)
	}
}
