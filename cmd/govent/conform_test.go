package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

func TestConformList(t *testing.T) {
	code, out, _ := runCLI(t, "", "conform", "--list")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "handshake/1 ")
	assert.Contains(t, out, "vendor/5 ")
	assert.Contains(t, out, "[ultrapeer]")
}

func TestConformUsage(t *testing.T) {
	for _, args := range [][]string{
		{"conform"},
		{"conform", "--role", "hub", "127.0.0.1:1"},
		{"conform", "--only", "route/99", "127.0.0.1:1"},
		{"conform", "--no-such-flag", "127.0.0.1:1"},
		{"conform", "127.0.0.1:1", "127.0.0.1:2"},
		{"conform", "--source", "my-laptop", "127.0.0.1:1"},
		{"conform", "--source", "127.0.0.1,10.0.0.300", "127.0.0.1:1"},
		{"conform", "--pace", "-30s", "127.0.0.1:1"},
	} {
		code, _, errOut := runCLI(t, "", args...)
		assert.Equal(t, 2, code, "%v: %s", args, errOut)
	}
}

func TestConformUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	code, _, errOut := runCLI(t, "", "conform", "--timeout", "1s", addr)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "cannot reach")
}

// TestConformOurServent runs part of the suite from the command line
// against our servent, with JSON on standard output and a JUnit file.
func TestConformOurServent(t *testing.T) {
	share := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(share, "penny lane.mp3"), []byte(strings.Repeat("penny lane ", 500)), 0o644))
	// The servent's default per-address limits: each of the suite's
	// connections comes from a loopback address of its own.
	s, err := servent.New(servent.Config{Listen: "127.0.0.1:0", ShareDir: share, HashBeforeStart: true})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	defer s.Close()

	junit := filepath.Join(t.TempDir(), "report.xml")
	code, out, errOut := runCLI(t, "", "conform", "--query", "penny lane", "--timeout", "3s",
		"--only", "handshake/1,ping,hit,http/2", "--skip", "ping/9", "--json", "-", "--junit", junit, s.Addr().String())
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, errOut, "PASS  handshake/1 ")
	assert.Contains(t, errOut, "0 failed")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1+8+11+1)
	for _, line := range lines {
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		assert.Contains(t, []any{"PASS", "SKIP"}, r["status"], line)
	}
	b, err := os.ReadFile(junit)
	require.NoError(t, err)
	var doc struct {
		Tests  int `xml:"tests,attr"`
		Suites []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(b, &doc))
	assert.Equal(t, len(lines), doc.Tests)
	require.Len(t, doc.Suites, 4)
	assert.Equal(t, "http", doc.Suites[3].Name)
}

// TestConformCatchesBrokenServent: a servent that answers every Ping with a
// Pong under a new GUID fails ping/3, a MUST, so conform exits 1 and says
// why.
func TestConformCatchesBrokenServent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go brokenServent(nc)
		}
	}()
	code, out, errOut := runCLI(t, "", "conform", "--timeout", "2s", "--only", "ping/1,ping/3", ln.Addr().String())
	assert.Equal(t, 1, code, errOut)
	assert.Contains(t, out, "PASS  ping/1 ")
	assert.Contains(t, out, "FAIL  ping/3 ")
	assert.Contains(t, out, "expected: the Pong's GUID")
	assert.Contains(t, errOut, "govent: conform: 1 MUST case failed\n")
}

func brokenServent(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReader(nc)
	if _, err := wire.ReadHandshake(br, wire.HandshakeLimits{}); err != nil {
		return
	}
	_, _ = nc.Write([]byte("GNUTELLA/0.6 200 OK\r\nUser-Agent: Broken/1\r\nX-Ultrapeer: True\r\n\r\n"))
	if _, err := wire.ReadHandshake(br, wire.HandshakeLimits{}); err != nil {
		return
	}
	r := wire.NewReader(br, 0)
	for {
		m, err := r.ReadMessage()
		if m == nil {
			return
		}
		if err != nil || m.Header.Type != wire.TypePing {
			if m.Header.Type == wire.TypeBye {
				return
			}
			continue
		}
		pong := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePong, TTL: 1},
			Pong: wire.Pong{Port: 1, Addr: netip.MustParseAddr("127.0.0.1")}}
		b, _ := pong.Append(nil)
		if _, err := nc.Write(b); err != nil {
			return
		}
	}
}

// TestConformPaced: with --source and --pace the run says where it
// connects from and how long pacing makes it, and spreads its connections
// over the addresses given.
func TestConformPaced(t *testing.T) {
	s, err := servent.New(servent.Config{Listen: "127.0.0.1:0", ShareDir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	defer s.Close()
	code, out, errOut := runCLI(t, "", "conform", "--timeout", "3s", "--only", "handshake/1",
		"--source", "127.0.0.1,127.0.0.2", "--pace", "10s", s.Addr().String())
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "connections from 127.0.0.1, 127.0.0.2\n")
	// The role check, the search for --query and handshake/1: three, two
	// from each address at most, one pace apart.
	assert.Contains(t, out, "at most 3 connections; pacing alone makes the run take up to 10s\n")
	assert.Contains(t, out, "PASS  handshake/1 ")
}

// startPacedConform starts a real govent conform of the handshake cases
// against a servent of its own, with args, paced so that it stops for an
// hour after its first case: the role check from 127.0.0.1, handshake/1
// from 127.0.0.2, then handshake/2 waits for 127.0.0.1's next turn.
// proc is its process; exited waits for it and returns its exit status, failing the test if a
// signal killed it.
func startPacedConform(t *testing.T, args ...string) (proc *os.Process, stdout io.ReadCloser, stderr *syncBuffer, exited func() int) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	bin := buildGovent(t)
	s, err := servent.New(servent.Config{Listen: "127.0.0.1:0", ShareDir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(func() { s.Close() })
	cmd := exec.Command(bin, append([]string{"conform", "--only", "handshake", "--source", "127.0.0.1,127.0.0.2", "--pace", "1h",
		s.Addr().String()}, args...)...)
	cmd.Env = testEnviron()
	stderr = &syncBuffer{}
	cmd.Stderr = stderr
	stdout, err = cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	timer := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	t.Cleanup(func() { timer.Stop() })
	return cmd.Process, stdout, stderr, func() int {
		err := cmd.Wait()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "stderr:\n%s", stderr.String())
		ws := exit.Sys().(syscall.WaitStatus)
		require.False(t, ws.Signaled(), "killed by %v; stderr:\n%s", ws.Signal(), stderr.String())
		return exit.ExitCode()
	}
}

// Ctrl-C during a long conform run (paced, as against gtk-gnutella) ends
// it as fuzz-peer's does: the summary of the cases that ran, the --json
// and --junit reports of those, a line saying it was interrupted, exit
// status 1. Before, conform was killed by the signal (status 130 in a
// shell): no summary, no report, an hour of cases lost. The case the
// signal cuts short is left out, not reported failed.
func TestConformInterrupted(t *testing.T) {
	dir := t.TempDir()
	jsonOut, junit := filepath.Join(dir, "cases.json"), filepath.Join(dir, "cases.xml")
	proc, stdout, stderr, exited := startPacedConform(t, "--json", jsonOut, "--junit", junit)
	lines := bufio.NewScanner(stdout)
	var out strings.Builder
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		if strings.HasPrefix(lines.Text(), "PASS  handshake/1 ") {
			break
		}
	}
	require.Contains(t, out.String(), "PASS  handshake/1 ", "stderr: %s", stderr.String())
	require.NoError(t, proc.Signal(syscall.SIGINT))
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
	}
	assert.Equal(t, 1, exited(), "stdout:\n%s", out.String())
	assert.Contains(t, out.String(), "1 case, 1 passed, 0 failed")
	assert.NotContains(t, out.String(), "handshake/2", "the case cut short is not reported")
	assert.Equal(t, "govent: conform: interrupted (interrupt signal received) after 1 of 15 cases: the summary and reports cover only those\n",
		stderr.String())
	b, err := os.ReadFile(jsonOut)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(b), `"status":"PASS"`), "%s", b)
	b, err = os.ReadFile(junit)
	require.NoError(t, err)
	assert.Contains(t, string(b), `tests="1"`)
}

// conform | head -1 ends the run as demo's does: the cases done are
// reported in --junit, the run says why it stopped, and it exits 1, not
// by SIGPIPE (status 141) with no report written.
func TestConformOutputClosed(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "cases.xml")
	_, stdout, stderr, exited := startPacedConform(t, "--junit", junit)
	first, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	assert.Contains(t, first, "connections from 127.0.0.1, 127.0.0.2")
	require.NoError(t, stdout.Close())
	assert.Equal(t, 1, exited())
	// Closed during the start lines or after handshake/1's: 0 or 1 case
	// done, as the next write comes.
	m := regexp.MustCompile(`^govent: conform: interrupted \(output closed: .*broken pipe\) (?:after (1) of 15 cases|before any case ran)`).FindStringSubmatch(stderr.String())
	require.NotNil(t, m, stderr.String())
	done := m[1]
	if done == "" {
		done = "0"
	}
	b, err := os.ReadFile(junit)
	require.NoError(t, err)
	assert.Contains(t, string(b), `tests="`+done+`"`)
}

// Ctrl-C while a target that accepts and says nothing holds conform's
// first handshake (the role check) ends the run then, not after
// --timeout, and says that no case ran, not "after 0 of 15 cases".
func TestConformInterruptedBeforeAnyCase(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	bin := buildGovent(t)
	ln, accepted := silentListener(t)
	cmd := exec.Command(bin, "conform", "--only", "handshake", "--timeout", "1m", ln.Addr().String())
	cmd.Env = testEnviron()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	timer := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	<-accepted
	start := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	assert.Less(t, time.Since(start), 10*time.Second, "conform waited out its --timeout")
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "stderr:\n%s", stderr.String())
	assert.Equal(t, 1, exit.ExitCode())
	assert.Equal(t, "govent: conform: interrupted (interrupt signal received) before any case ran\n", stderr.String())
}
