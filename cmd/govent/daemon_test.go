package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/cmd/internal/top"
	"github.com/govent/govent/servent/control"
)

// daemonProc is a `govent run` process with its control API on loopback.
type daemonProc struct {
	cmd    *exec.Cmd
	data   string
	addr   string // control
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// startDaemon runs bin as `govent run` on loopback with data as its data
// directory and waits until its control API answers. It knows only the
// peers args name: with none it would ask the shipped host caches for
// hosts (the tripwire, bootstrap_test.go), so it never bootstraps.
func startDaemon(t *testing.T, bin, data string, args ...string) *daemonProc {
	t.Helper()
	args = append([]string{"run", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--data", data, "--allow-private", "--no-bootstrap"}, args...)
	d := &daemonProc{cmd: exec.Command(bin, args...), data: data, stderr: &syncBuffer{}, done: make(chan struct{})}
	d.cmd.Env = append(testEnviron(), "GORACE=atexit_sleep_ms=0")
	d.cmd.Stderr = d.stderr
	require.NoError(t, d.cmd.Start())
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			d.cmd.Process.Kill()
			<-d.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if a, _ := control.ReadAddr(data); a != "" {
			if code, _, _ := runCLI(t, "", "status", "--data", data); code == 0 {
				d.addr = a
				return d
			}
		}
		select {
		case <-d.done:
			t.Fatalf("govent run exited: %v\n%s", d.err, d.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "govent run not up after 30 s:\n%s", d.stderr.String())
	}
}

// stop interrupts the daemon, which must exit 0 and remove its address.
func (d *daemonProc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, d.cmd.Process.Signal(os.Interrupt))
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("govent run did not stop on SIGINT:\n%s", d.stderr.String())
	}
	require.NoError(t, d.err, "govent run's exit:\n%s", d.stderr.String())
	assert.Contains(t, d.stderr.String(), "shutting down")
	assert.NoFileExists(t, filepath.Join(d.data, control.AddrFile))
}

func cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	code, out, errOut := runCLI(t, "", args...)
	require.Equal(t, 0, code, "%q: %s", args, errOut)
	require.NoError(t, json.Unmarshal([]byte(out), v), "%q printed %s", args, out)
}

func get(t *testing.T, url, auth string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestDaemonEndToEnd drives a real govent run through the CLI verbs and
// raw HTTP: status, peers, shares, a search through it, /metrics moving
// with that search, the token checked, a download queued and finished, and
// a clean stop on SIGINT.
func TestDaemonEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	body := strings.Repeat("penguins on parade ", 3000)
	peer := shareFiles(t, map[string]string{readmeFile: body})
	urn := peer.Library().All()[0].SHA1.String()
	data := t.TempDir()
	share := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(share, "walrus.txt"), []byte("tusks"), 0o644))
	d := startDaemon(t, buildGovent(t), data, "--peer", peer.Addr().String(), "--share", share)

	fi, err := os.Stat(filepath.Join(data, control.TokenFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the token file is the user's alone")

	var st control.Status
	require.Eventually(t, func() bool {
		cliJSON(t, &st, "status", "--data", data, "--json")
		return st.Peers == 1
	}, 10*time.Second, 50*time.Millisecond, "the daemon joins its peer")
	assert.Equal(t, "ultrapeer", st.Role)
	assert.Equal(t, 1, st.Files)
	assert.Regexp(t, `^127\.0\.0\.1:\d+$`, st.Addr)

	// The verbs find the daemon as run was told: $GOVENT_DATA, or [run]
	// data in the config file, when they have no --data of their own.
	code, out, errOut := runCLIEnv(t, map[string]string{"GOVENT_DATA": data}, "", "status")
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, st.GUID)
	conf := writeConfig(t, fmt.Sprintf("[run]\ndata = %q\n", data))
	code, out, errOut = runCLI(t, "", "status", "--config", conf)
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, st.GUID)
	code, _, errOut = runCLI(t, "", "status")
	assert.Equal(t, 2, code, "no data directory anywhere: a usage mistake")
	assert.Contains(t, errOut, "--data DIR: which daemon?")
	code, _, errOut = runCLI(t, "", "status", "--control", st.Addr)
	assert.Equal(t, 2, code, "--control gives the address, not the token")
	assert.Contains(t, errOut, "--data DIR: the token is in the data directory of its govent run (--control gives only the address)")

	var peers []control.Peer
	cliJSON(t, &peers, "peers", "--json", "--data", data)
	require.Len(t, peers, 1)
	assert.Equal(t, peer.Addr().String(), peers[0].Addr)
	assert.True(t, peers[0].Outgoing)

	var sh control.Shares
	cliJSON(t, &sh, "shares", "--data", data, "--json")
	require.Len(t, sh.List, 1)
	assert.Equal(t, "walrus.txt", sh.List[0].Name)

	metrics := func() map[string]*dto.MetricFamily {
		resp := get(t, "http://"+d.addr+"/metrics", "Bearer "+readToken(t, data))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(resp.Body)
		require.NoError(t, err)
		return fams
	}
	// The peer answers the daemon's connect-back request over UDP: the
	// daemon is then reachable, and its searches ask for out-of-band hits,
	// which a neighbour answers over the link all the same.
	require.Eventually(t, func() bool {
		cliJSON(t, &st, "status", "--data", data, "--json")
		return st.UDPReachable
	}, 10*time.Second, 50*time.Millisecond, "the daemon learns it is reachable over UDP")
	assert.Equal(t, st.Addr, st.UDP, "UDP on the TCP port")
	code, out, errOut = runCLI(t, "", "status", "--data", data)
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `(?m)^udp +`+regexp.QuoteMeta(st.UDP)+`, reachable: searches ask for out-of-band replies$`, out)
	assert.Regexp(t, `(?m)^downloads +none$`, out)
	hits := func(transport string) float64 {
		return sampleOf(metrics(), "govent_descriptors_received_total", map[string]string{"type": "queryhit", "transport": transport})
	}
	tcpBefore, udpBefore := hits("tcp"), hits("udp")

	code, out, errOut = runCLI(t, "", "search", "penguin", "--daemon", "--data", data, "--max-results", "1")
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `(?m)^  1\. penguin parade\.ogg .* from `+peer.Addr().String()+` \(GOVT, 1 hop\)  `+urn, out)
	assert.Contains(t, out, "stopped at --max-results 1")
	assert.Equal(t, tcpBefore+1, hits("tcp"), "the QueryHit is counted, over the link")
	assert.Equal(t, udpBefore, hits("udp"))
	code, out, errOut = runCLI(t, "", "search", "nothing matches", "--daemon", "--data", data, "--timeout", "500ms", "--json")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, `{"results":0,"reason":"timeout"}`+"\n", out, "no results: still a JSON line")
	// --json prints the same fields through the daemon as without it.
	firstJSON := func(args ...string) map[string]any {
		code, out, errOut := runCLI(t, "", append([]string{"search", "penguin", "--max-results", "1", "--json"}, args...)...)
		require.Equal(t, 0, code, errOut)
		return jsonLines(t, out)[0]
	}
	viaDaemon, direct := firstJSON("--daemon", "--data", data), firstJSON("--peer", peer.Addr().String(), "--listen", "127.0.0.1:0")
	assert.ElementsMatch(t, slices.Collect(maps.Keys(direct)), slices.Collect(maps.Keys(viaDaemon)))
	for _, key := range []string{"oob", "tth", "speed_kbps", "urn"} {
		assert.Contains(t, viaDaemon, key)
		assert.Equal(t, direct[key], viaDaemon[key], key)
	}

	// The token: none, or a wrong one, is 401 on every path.
	for _, auth := range []string{"", "Bearer wrong"} {
		for _, path := range []string{"/v1/status", "/metrics"} {
			assert.Equal(t, http.StatusUnauthorized, get(t, "http://"+d.addr+path, auth).StatusCode, "%s with %q", path, auth)
		}
	}
	other := t.TempDir()
	_, err = control.LoadOrCreateToken(other) // another daemon's token
	require.NoError(t, err)
	code, _, errOut = runCLI(t, "", "status", "--data", other, "--control", d.addr)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "refused the token")
	require.NoError(t, os.Chmod(filepath.Join(other, control.TokenFile), 0o644))
	code, _, errOut = runCLI(t, "", "status", "--data", other, "--control", d.addr)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "readable by other users")
	assert.Eventually(t, func() bool { return strings.Contains(d.stderr.String(), "control request with a wrong token") },
		5*time.Second, 20*time.Millisecond, "refusals are logged")

	// A download queued in the daemon, which fetches it.
	var dl control.Download
	cliJSON(t, &dl, "get", urn, "--source", peer.Addr().String(), "--name", "queued.ogg", "--daemon", "--data", data, "--json")
	assert.Equal(t, "queued.ogg", dl.Name)
	require.Eventually(t, func() bool {
		var tr control.Transfers
		cliJSON(t, &tr, "transfers", "--data", data, "--json")
		return len(tr.Downloads) == 1 && tr.Downloads[0].State == control.StateDone
	}, 20*time.Second, 50*time.Millisecond)
	assertFile(t, filepath.Join(data, "downloads", "queued.ogg"), body)
	code, out, errOut = runCLI(t, "", "status", "--data", data)
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `(?m)^downloads +1 done$`, out, "counted by state, not all as queued")
	code, out, _ = runCLI(t, "", "transfers", "--data", data)
	require.Equal(t, 0, code)
	assert.Regexp(t, dl.ID+`  done +queued\.ogg  55\.7 KiB of 55\.7 KiB \(100%\)`, out)
	code, _, errOut = runCLI(t, "", "transfers", "--data", data, "--pause", dl.ID)
	assert.Equal(t, 1, code)
	assert.Equal(t, "govent: --pause "+dl.ID+": the download is done; only a queued or running one can be paused\n", errOut)

	// top without a terminal: plain views, or JSON snapshots, --count times.
	code, out, errOut = runCLI(t, "", "top", "--data", data, "--count", "2", "--interval", "100ms")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 2, strings.Count(out, "govent top  ultrapeer "+st.Addr), out)
	assert.Contains(t, out, "PEERS (1)")
	assert.Regexp(t, `queued\.ogg +done +\[#+\] 100%`, out)
	code, out, errOut = runCLI(t, "", "top", "--data", data, "--count", "2", "--interval", "100ms", "--json")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	var snap top.Snapshot
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &snap))
	assert.Len(t, snap.Peers, 1)
	assert.Equal(t, st.GUID, snap.Status.GUID)

	d.stop(t)
	code, _, errOut = runCLI(t, "", "status", "--data", data)
	assert.Equal(t, 1, code, "no daemon: a failure, not a usage mistake")
	assert.Contains(t, errOut, "no daemon runs with --data "+data)
}

// TestDaemonDownloadSurvivesRestart: a download the daemon owns is paused,
// resumed and, while it runs, the daemon restarts: it is running again
// after the restart, and then cancelled through the CLI. Its source
// accepts and then says nothing, so the download stays unfinished for as
// long as the test needs.
func TestDaemonDownloadSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	go func() {
		for {
			nc, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { nc.Close() })
		}
	}()
	bin := buildGovent(t)
	data := t.TempDir()
	d := startDaemon(t, bin, data)
	var dl control.Download
	cliJSON(t, &dl, "get", "urn:sha1:PLSTHIPQQ2DXIGD4GAGQGU3GJJUSD6NA", "--source", silent.Addr().String(), "--size", "1000",
		"--name", "slow.bin", "--daemon", "--data", data, "--json")
	state := func() string {
		var tr control.Transfers
		cliJSON(t, &tr, "transfers", "--data", data, "--json")
		require.Len(t, tr.Downloads, 1)
		return tr.Downloads[0].State
	}
	assert.Equal(t, control.StateRunning, state())
	code, out, errOut := runCLI(t, "", "transfers", "--data", data, "--pause", dl.ID)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, dl.ID+"  paused ")
	code, _, errOut = runCLI(t, "", "transfers", "--data", data, "--pause", dl.ID)
	assert.Equal(t, 1, code, "pausing twice")
	assert.Equal(t, "govent: --pause "+dl.ID+": the download is paused already\n", errOut)
	code, _, errOut = runCLI(t, "", "transfers", "--data", data, "--resume", dl.ID+"x")
	assert.Equal(t, 1, code)
	assert.Equal(t, "govent: --resume "+dl.ID+"x: no transfer "+dl.ID+"x (govent transfers lists them)\n", errOut)
	code, out, errOut = runCLI(t, "", "transfers", "--data", data, "--resume", dl.ID)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "resume "+dl.ID+": now running\n")
	assert.Contains(t, out, dl.ID+"  running ")

	d.stop(t)
	b, err := os.ReadFile(filepath.Join(data, control.QueueFile))
	require.NoError(t, err)
	assert.True(t, bytes.Contains(b, []byte(dl.ID)), "the queue is kept in the data directory")

	startDaemon(t, bin, data)
	assert.Equal(t, control.StateRunning, state(), "the download runs again after the restart")
	code, out, errOut = runCLI(t, "", "transfers", "--data", data, "--cancel", dl.ID)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "no downloads")
	code, _, errOut = runCLI(t, "", "transfers", "--data", data, "--cancel", dl.ID)
	assert.Equal(t, 1, code, errOut)
	assert.Contains(t, errOut, "--cancel "+dl.ID+": no transfer "+dl.ID+" (govent transfers lists them)")
	assert.NotContains(t, errOut, "404")
}

func readToken(t *testing.T, data string) string {
	t.Helper()
	tok, err := control.ReadToken(data)
	require.NoError(t, err)
	return tok
}

// sampleOf is the value of the family's sample with all these labels.
func sampleOf(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	for _, m := range fams[name].GetMetric() {
		n := 0
		for _, l := range m.Label {
			if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
				n++
			}
		}
		if n == len(labels) {
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return 0
}

// TestRunRefusesLooseToken: run will not serve the control API with a
// token file that other users may read, nor take --control without --data.
func TestRunRefusesLooseToken(t *testing.T) {
	data := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(data, control.TokenFile), []byte(strings.Repeat("a", 64)+"\n"), 0o644))
	// The token is checked before the servent starts: nothing listens,
	// nothing is dialled, no host cache is asked.
	code, _, errOut := runCLI(t, "", "run", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--data", data, "--no-bootstrap")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "token file is readable by other users")
	assert.Contains(t, errOut, "mode 0644, want 0600")
	assert.NotContains(t, errOut, "listening", "the servent started before the token was checked")

	// So is the control address: one taken fails before the servent starts.
	require.NoError(t, os.Chmod(filepath.Join(data, control.TokenFile), 0o600))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	code, _, errOut = runCLI(t, "", "run", "--listen", "127.0.0.1:0", "--control", busy.Addr().String(), "--data", data, "--no-bootstrap")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "control API")
	assert.Contains(t, errOut, "another servent uses it; pass --control 127.0.0.1:0 or another port")
	assert.NotContains(t, errOut, "listening", "the servent started before the control address was taken")

	code, _, errOut = runCLI(t, "", "run", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--control 127.0.0.1:0 needs --data")
	code, _, errOut = runCLI(t, "", "run", "--control", "nowhere")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--control nowhere: want IP:PORT, such as 127.0.0.1:6347, or off")
}

// TestRunControlFromEnvWithoutData: $GOVENT_CONTROL without a data
// directory leaves the control API off, as the default does, and says so.
func TestRunControlFromEnvWithoutData(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	code, _, errOut := runCLIContext(ctx, map[string]string{"GOVENT_CONTROL": "127.0.0.1:0"}, "", "run", "--listen", "127.0.0.1:0", "--no-bootstrap")
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "control API off")
}

// startDaemonSearch runs a daemon with one peer sharing readmeFile and a
// search --daemon (args added) through it, 60 s long, and returns once
// its first line, that file, came.
func startDaemonSearch(t *testing.T, args ...string) (d *daemonProc, search *exec.Cmd, stdout *bufio.Reader, stderr *syncBuffer) {
	t.Helper()
	bin := buildGovent(t)
	peer := shareFiles(t, map[string]string{readmeFile: "penguins"})
	data := t.TempDir()
	d = startDaemon(t, bin, data, "--peer", peer.Addr().String())
	var st control.Status
	require.Eventually(t, func() bool {
		cliJSON(t, &st, "status", "--data", data, "--json")
		return st.Peers == 1
	}, 10*time.Second, 50*time.Millisecond, "the daemon joins its peer")

	stderr = &syncBuffer{}
	search = exec.Command(bin, append([]string{"search", readmeQuery, "--daemon", "--data", data, "--timeout", "60s"}, args...)...)
	search.Env = testEnviron()
	search.Stderr = stderr
	out, err := search.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, search.Start())
	t.Cleanup(func() { _ = search.Process.Kill() })
	stdout = bufio.NewReader(out)
	first, err := stdout.ReadString('\n')
	require.NoError(t, err, "a first result\n%s", stderr.String())
	assert.Contains(t, first, readmeFile)
	return d, search, stdout, stderr
}

// A search --daemon that the daemon's shutdown cuts short says so and
// exits 1: its results may be fewer than the network had. It used to end
// as if the search had run its course, exit status 0, not a word.
func TestSearchDaemonCutByShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	d, search, stdout, stderr := startDaemonSearch(t)
	d.stop(t) // with the search's stream open
	exited := make(chan error, 1)
	go func() { _, _ = io.Copy(io.Discard, stdout); exited <- search.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("search --daemon did not end with its daemon")
	}
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "exit status 1\n%s", stderr.String())
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, stderr.String(), "the daemon at "+d.addr+" shut down before the search ended (1 result)")
}

// A second govent run on the data directory of a running one is refused:
// it would share the first one's servent GUID, host cache and download
// queue, and on its way out it removed the first one's control-addr, so
// that govent status and the other verbs lost the daemon that still ran.
func TestRunRefusesDataDirInUse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	data := t.TempDir()
	d := startDaemon(t, buildGovent(t), data)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	code, _, errOut := runCLIContext(ctx, nil, "", "run", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
		"--data", data, "--no-bootstrap")
	require.NoError(t, ctx.Err(), "the second run ran:\n%s", errOut)
	assert.Equal(t, 1, code, errOut)
	assert.Contains(t, errOut, inUseMessage(data, d.cmd.Process.Pid))
	assert.NotContains(t, errOut, "listening")
	code, _, errOut = runCLI(t, "", "status", "--data", data)
	assert.Equal(t, 0, code, "the first daemon is still found: %s", errOut)
	d.stop(t)
}

// inUseMessage is what govent run says when another servent (pid) holds
// its --data dir.
func inUseMessage(dir string, pid int) string {
	return fmt.Sprintf("govent: data directory %s is in use by another servent (pid %d); stop it first, or give this one a data directory of its own\n", dir, pid)
}

// runProc is a `govent run` process on loopback that never bootstraps.
type runProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer // its stderr
	done chan error  // its exit, put back by whoever takes it
}

// startRun starts bin as `govent run --data data --control control`; the
// test kills it at the end if it still runs.
func startRun(t *testing.T, bin, data, control string) *runProc {
	t.Helper()
	p := &runProc{out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, "run", "--listen", "127.0.0.1:0", "--control", control, "--data", data, "--no-bootstrap")
	p.cmd.Env = append(testEnviron(), "GORACE=atexit_sleep_ms=0")
	p.cmd.Stderr = p.out
	require.NoError(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.done <- <-p.done
	})
	return p
}

// listening waits until the servent logged its listening address, and
// returns it.
func (p *runProc) listening(t *testing.T) string {
	t.Helper()
	re := regexp.MustCompile(`listening\s+\{"addr": "([0-9.:]+)"`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("govent run exited: %v\n%s", err, p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "govent run not up after 30 s:\n%s", p.out.String())
	}
}

// exitCode waits (30 s at most) for the process to exit, and returns its
// status.
func (p *runProc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if err == nil {
			return 0
		}
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%s", p.out.String())
		return exit.ExitCode()
	case <-time.After(30 * time.Second):
		t.Fatalf("govent run still runs:\n%s", p.out.String())
		return 0
	}
}

// running says whether the process has not exited.
func (p *runProc) running() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

// dirState is every file under dir with its mode, mtime and bytes, one a
// line, for comparing a data directory before and after.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %s", path, fi.Mode(), fi.ModTime().Format(time.RFC3339Nano))
		if fi.Mode().IsRegular() {
			body, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %q", body)
		}
		b.WriteByte('\n')
		return nil
	}))
	return b.String()
}

// Two govent run on one --data, with and without a control API each: the
// second is refused before it writes anything there (the control token and
// address above all: a first with --control off has no token yet), names
// the first's pid, and joins no network. The first runs on untouched: it
// still listens, its control API (if it has one) still answers at the
// address its files record, and its files are as they were.
func TestRunRefusedBeforeItWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	bin := buildGovent(t)
	for _, first := range []string{"127.0.0.1:0", "off"} {
		data := t.TempDir()
		p := startRun(t, bin, data, first)
		addr := p.listening(t)
		if first != "off" {
			require.Eventually(t, func() bool {
				code, _, _ := runCLI(t, "", "status", "--data", data)
				return code == 0
			}, 30*time.Second, 50*time.Millisecond, "the first's control API answers:\n%s", p.out.String())
		}
		before := dirState(t, data)
		for _, second := range []string{"127.0.0.1:0", "off"} {
			what := "first --control " + first + ", second --control " + second
			q := startRun(t, bin, data, second)
			assert.Equal(t, 1, q.exitCode(t), "%s:\n%s", what, q.out.String())
			assert.Contains(t, q.out.String(), inUseMessage(data, p.cmd.Process.Pid), what)
			assert.NotContains(t, q.out.String(), "listening", what)
			assert.Equal(t, before, dirState(t, data), "%s: the data directory changed", what)

			require.True(t, p.running(), "%s: the first exited:\n%s", what, p.out.String())
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err, "%s: the first still listens", what)
			c.Close()
			if first != "off" {
				code, out, errOut := runCLI(t, "", "status", "--data", data)
				assert.Equal(t, 0, code, "%s: the first's control API answers: %s", what, errOut)
				assert.Contains(t, out, addr, what)
			}
		}
	}
}

// Two govent run on one --data, neither with a control API: the second
// sees the first through the lock on the directory, exits 1 naming the
// directory and the first's pid, and joins no network. Once the first
// is killed (no Close, no cleanup), the lock went with it: a new run
// starts.
func TestRunRefusesLockedDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	bin := buildGovent(t)
	data := t.TempDir()
	first := startRun(t, bin, data, "off")
	first.listening(t)

	second := startRun(t, bin, data, "off")
	assert.Equal(t, 1, second.exitCode(t), second.out.String())
	assert.Contains(t, second.out.String(), inUseMessage(data, first.cmd.Process.Pid))
	assert.NotContains(t, second.out.String(), "listening")

	require.NoError(t, first.cmd.Process.Kill())
	first.exitCode(t)
	startRun(t, bin, data, "off").listening(t)
}

// A govent search against a daemon connects, gets its result, and goes:
// the daemon has not cached the search's port as a host to dial later.
// A servent that stays, connecting the same way, is cached.
func TestSearchClientNotCachedByDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	data, share := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(share, "walrus.txt"), []byte("tusks"), 0o644))
	startDaemon(t, buildGovent(t), data, "--share", share)
	var st control.Status
	cliJSON(t, &st, "status", "--data", data, "--json")
	require.Zero(t, st.Hosts)

	code, out, errOut := runCLI(t, "", "search", "walrus", "--peer", st.Addr, "--listen", "127.0.0.1:0", "--max-results", "1")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "walrus.txt", "the search's result is as before")
	// Once the daemon has seen the client go, it has had all it sent.
	require.Eventually(t, func() bool {
		cliJSON(t, &st, "status", "--data", data, "--json")
		return st.Peers == 0
	}, 10*time.Second, 50*time.Millisecond, "the search client left")
	assert.Zero(t, st.Hosts, "the search client is not in the daemon's host cache")

	peer := shareFiles(t, nil)
	require.NoError(t, peer.Connect(netip.MustParseAddrPort(st.Addr)))
	require.Eventually(t, func() bool {
		cliJSON(t, &st, "status", "--data", data, "--json")
		return st.Hosts == 1
	}, 10*time.Second, 50*time.Millisecond, "a servent that stays is cached")
}

// A search --daemon --json stopped by SIGINT ends as the plain search
// does: its last line {"results":N,"reason":"interrupted"}, exit status 0.
// The signal used to kill it where it stood, without that line.
func TestSearchDaemonInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	d, search, stdout, stderr := startDaemonSearch(t, "--json")
	require.NoError(t, search.Process.Signal(os.Interrupt))
	var rest []byte
	exited := make(chan error, 1)
	go func() { rest, _ = io.ReadAll(stdout); exited <- search.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("search --daemon did not stop on SIGINT")
	}
	require.NoError(t, err, "exit status 0\n%s", stderr.String())
	assert.Equal(t, `{"results":1,"reason":"interrupted"}`+"\n", string(rest))
	d.stop(t) // still up, and still able to stop cleanly
}

// TestControlBeyondLoopbackSaysItsAddress: --control 0.0.0.0:0 warns
// with the address given and the port it got ("0.0.0.0:PORT"), not the
// socket's "[::]:PORT", which the user never wrote.
func TestControlBeyondLoopbackSaysItsAddress(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	code, _, errOut := runCLIContext(ctx, nil, "", "run", "--listen", "127.0.0.1:0", "--control", "0.0.0.0:0", "--data", data, "--no-bootstrap")
	assert.Equal(t, 0, code, errOut)
	warn := regexp.MustCompile(`the control API listens beyond loopback: its token travels in clear\t\{"addr": "([^"]*)"\}`).FindStringSubmatch(errOut)
	require.NotNil(t, warn, errOut)
	assert.Regexp(t, `^0\.0\.0\.0:[1-9][0-9]*$`, warn[1])
	info := regexp.MustCompile(`control API\t\{"addr": "([^"]*)"`).FindStringSubmatch(errOut)
	require.NotNil(t, info, errOut)
	assert.Equal(t, warn[1], info[1], "both lines say the same address")
}
