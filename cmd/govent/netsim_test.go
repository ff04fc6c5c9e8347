package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/cmd/internal/netsim"
	"github.com/govent/govent/cmd/internal/p2pstats"
	"github.com/govent/govent/servent"
)

// TestMain lets this test binary be govent netsim's child process, as the
// govent binary is: RunVirtual starts os.Executable(). It removes the
// binary buildGovent built once the tests are done.
func TestMain(m *testing.M) {
	if os.Getenv(netsim.ChildEnv) == "1" {
		netsimChild()
	}
	code := runWithTripwire(m) // bootstrap_test.go
	removeBuilt()
	os.Exit(code)
}

func TestNetsimUsageErrors(t *testing.T) {
	badModel := filepath.Join(t.TempDir(), "bad.toml")
	require.NoError(t, os.WriteFile(badModel, []byte("[arrivals]\nprocess = \"hawkes\"\n"), 0o644))
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "0"}, "--nodes 0: want 1 to 65536"},
		{[]string{"--ultrapeers", "1.5"}, "--ultrapeers 1.5: want a share above 0 and at most 1"},
		{[]string{"--ultrapeers", "many"}, `--ultrapeers "many": want a number such as 0.1`},
		{[]string{"--topology", "star"}, "--topology star: want random, powerlaw or ring"},
		{[]string{"--duration", "0s"}, "--duration 0s: must be more than 0"},
		{[]string{"--compare", "flood,gossip"}, "--compare gossip: want flood or qrp+dq"},
		{[]string{"--bind", "127.0.0.1"}, "--bind 127.0.0.1: needs --realtime"},
		{[]string{"--realtime", "--bind", "::1"}, "--bind ::1: want an IPv4 address"},
		{[]string{"--bootstrap", "127.0.0.1:6346"}, "--bootstrap 127.0.0.1:6346: needs --realtime"},
		{[]string{"--realtime", "--bootstrap", "localhost:6346"}, "--bootstrap localhost:6346: want IP:PORT"},
		{[]string{"--workload", "/nonexistent/model.toml"}, "--workload: netsim: model: open /nonexistent/model.toml"},
		{[]string{"--churn", badModel}, `unknown process "hawkes"`},
		{[]string{"--print-model", "both"}, "--print-model both: want workload or churn"},
		{[]string{"extra"}, "takes no arguments"},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(t, "", append([]string{"netsim"}, c.args...)...)
		assert.Equal(t, 2, code, "%v: %s", c.args, stderr)
		assert.Contains(t, stderr, c.want, "%v", c.args)
	}
}

func TestNetsimPrintsModels(t *testing.T) {
	code, out, _ := runCLI(t, "", "netsim", "--print-model", "churn")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "[ultrapeer.lifetime]")
	code, out, _ = runCLI(t, "", "netsim", "--print-model", "workload")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "[session.first_query]")
}

// TestNetsimCompare runs a small network twice in virtual time through
// the command line, as a user would: the child process, the JSON and the
// report.
func TestNetsimCompare(t *testing.T) {
	dir := t.TempDir()
	jsonFile, report := filepath.Join(dir, "runs.json"), filepath.Join(dir, "report")
	code, out, stderr := runCLI(t, "", "netsim", "--nodes", "40", "--duration", "1m", "--settle", "20s", "--churn", "none",
		"--workload", "../internal/netsim/testdata/busy.toml", "--seed", "3", "--compare", "flood,qrp+dq",
		"--json", jsonFile, "--report", report)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
	assert.Contains(t, out, "virtual clock, 40 nodes, 1m0s, churn none")
	assert.Regexp(t, `(?m)^success rate of those +\d+\.\d% +\d+\.\d%$`, out)
	assert.Contains(t, stderr, "netsim: run flood\n")
	assert.Contains(t, stderr, "netsim: warm-up: 40 servents")

	b, err := os.ReadFile(jsonFile)
	require.NoError(t, err)
	var got struct{ Runs []p2pstats.Results }
	require.NoError(t, json.Unmarshal(b, &got))
	require.Len(t, got.Runs, 2)
	for i, label := range []string{"flood", "qrp+dq"} {
		r := got.Runs[i]
		assert.Equal(t, label, r.Run.Label)
		assert.Equal(t, "virtual", r.Run.Clock)
		assert.Equal(t, uint64(3), r.Run.Seed)
		assert.Positive(t, r.Run.RealS)
		assert.Positive(t, r.Memory.MaxRSSBytes, "the child's peak RSS")
		assert.Positive(t, r.Queries.Issued)
	}
	assert.Equal(t, got.Runs[0].Queries.Issued, got.Runs[1].Queries.Issued, "the same seed")
	assert.Less(t, *got.Runs[1].Descriptors.Mean, *got.Runs[0].Descriptors.Mean)

	page, err := os.ReadFile(filepath.Join(report, p2pstats.ReportFile))
	require.NoError(t, err)
	require.NoError(t, p2pstats.CheckPage(page))
}

// TestNetsimChildFailureIsReported: a child that fails says why, and
// leaves no share directory behind.
func TestNetsimChildFailureIsReported(t *testing.T) {
	root := t.TempDir()
	_, err := netsim.RunVirtual(t.Context(), netsim.Spec{Nodes: 5, Ultrapeers: 0.2, Duration: time.Minute,
		Workload: netsim.Model{Name: "broken.toml", TOML: []byte("[session")}, ShareRoot: root}, func(string) {})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the simulator failed")
	assert.Contains(t, err.Error(), "broken.toml", "the child's own words")
	left, err := os.ReadDir(root)
	require.NoError(t, err)
	assert.Empty(t, left)
}

func TestWorkloadUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "--peer: required"},
		{[]string{"--peer", "localhost:6346"}, "--peer localhost:6346: want IP:PORT"},
		{[]string{"--peer", "127.0.0.1:6346", "--sessions", "0"}, "--sessions 0: want 1 to 20000"},
		{[]string{"--peer", "127.0.0.1:6346", "--duration", "-1s"}, "--duration -1s: must be more than 0"},
		{[]string{"--peer", "127.0.0.1:6346", "--from", "here"}, "--from here: want an IP address"},
		{[]string{"--peer", "127.0.0.1:6346", "--model", "/nonexistent.toml"}, "--model: model: open /nonexistent.toml"},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(t, "", append([]string{"workload"}, c.args...)...)
		assert.Equal(t, 2, code, "%v: %s", c.args, stderr)
		assert.Contains(t, stderr, c.want, "%v", c.args)
	}
}

// TestNetsimNoQueriesSaysWhy: a run too small or short for the model to
// issue a query says so, with the model's rate and what to change, rather
// than printing a column of n/a.
func TestNetsimNoQueriesSaysWhy(t *testing.T) {
	code, out, stderr := runCLI(t, "", "netsim", "--nodes", "4", "--duration", "10s", "--settle", "5s", "--churn", "none")
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `(?m)^queries issued +0$`, out)
	assert.Contains(t, out, "0 queries issued: the workload model defaults/workload.toml issues about 1.1 queries per session-hour")
	assert.Contains(t, out, "raise --nodes or --duration, or give --workload a busier model")
}

// An interrupted workload prints the figures of what ran and says it was
// interrupted: not "context canceled", nor advice to raise --sessions
// for the queries it had no time to issue.
func TestWorkloadInterrupted(t *testing.T) {
	target := shareServent(t, servent.Config{}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // Ctrl-C before the first session joined
	code, out, stderr := runCLIContext(ctx, nil, "", "workload", "--peer", target.Addr().String(), "--sessions", "2", "--duration", "1m")
	assert.Equal(t, 1, code)
	assert.Regexp(t, `(?m)^queries issued +0$`, out, "the figures of what ran")
	assert.NotContains(t, out, "raise --sessions")
	assert.NotContains(t, stderr, "context canceled")
	assert.Regexp(t, `workload: interrupted after \d+(\.\d)?s: the figures above cover only that`, stderr)
}

// A real govent netsim stopped by Ctrl-C or SIGHUP prints the figures so
// far and says so; stopped by those, by its output closed (netsim 2>&1 |
// head -1) or even killed (SIGKILL), it leaves neither its share
// directories nor its simulator child behind. Before, Ctrl-C printed
// "interrupted: context canceled" and no figures, SIGHUP and a closed
// output killed the parent where it stood, and then the child, orphaned,
// went on simulating with the directories in /dev/shm.
func TestNetsimStopsAndCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a simulator child")
	}
	bin := buildGovent(t)
	filesIn := regexp.MustCompile(`share directories in (\S+), removed at the end`)
	for _, tc := range []struct {
		name string
		sig  syscall.Signal // 0: close the read end of its output
	}{
		{"SIGINT", syscall.SIGINT},
		{"SIGHUP", syscall.SIGHUP},
		{"output closed", 0},
		{"SIGKILL", syscall.SIGKILL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw, err := os.Pipe()
			require.NoError(t, err)
			defer pr.Close()
			cmd := exec.Command(bin, "netsim", "--nodes", "50", "--duration", "1m", "--duration", "600m", "--churn", "none")
			cmd.Env = testEnviron()
			cmd.Stdout, cmd.Stderr = pw, pw
			require.NoError(t, cmd.Start())
			pw.Close()
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer func() { _ = cmd.Process.Kill() }()
			lines := bufio.NewScanner(pr)
			var out strings.Builder
			dir := readUntil(lines, &out, filesIn, "servents started")
			require.NotEmpty(t, dir, "netsim names its share root\n%s", out.String())
			require.DirExists(t, dir)
			child := childOf(t, cmd.Process.Pid)
			defer func() {
				if alive(child) { // it failed to die
					_ = syscall.Kill(child, syscall.SIGKILL)
				}
			}()
			if tc.sig == 0 {
				require.NoError(t, pr.Close())
			} else {
				require.NoError(t, cmd.Process.Signal(tc.sig))
			}
			read := make(chan struct{})
			go func() {
				defer close(read)
				for tc.sig != 0 && lines.Scan() {
					out.WriteString(lines.Text() + "\n")
				}
			}()
			select {
			case err = <-exited:
			case <-time.After(30 * time.Second):
				t.Fatalf("netsim did not stop\n%s", out.String())
			}
			<-read
			if tc.sig == 0 { // netsim 2>&1 | head -1: exit 1, not killed by SIGPIPE writing why
				var exit *exec.ExitError
				require.ErrorAs(t, err, &exit)
				ws := exit.Sys().(syscall.WaitStatus)
				assert.False(t, ws.Signaled(), "killed by %v", ws.Signal())
				assert.Equal(t, 1, exit.ExitCode())
			}
			if tc.sig == syscall.SIGINT || tc.sig == syscall.SIGHUP {
				var exit *exec.ExitError
				require.ErrorAs(t, err, &exit)
				assert.Equal(t, 1, exit.ExitCode(), "-1: killed by the signal\n%s", out.String())
				want := "netsim: interrupted (interrupt signal received) after "
				if tc.sig == syscall.SIGHUP {
					want = "netsim: interrupted (hangup signal received) after "
				}
				assert.Contains(t, out.String(), want)
				assert.Contains(t, out.String(), "the figures above cover only that")
				assert.NotContains(t, out.String(), "context canceled")
				assert.Regexp(t, `(?m)^queries issued +\d+$`, out.String(), "the figures so far")
			}
			assert.Eventually(t, func() bool { return !alive(child) }, 30*time.Second, 50*time.Millisecond,
				"the simulator child %d outlived netsim", child)
			assert.Eventually(t, func() bool { _, err := os.Stat(dir); return os.IsNotExist(err) }, 30*time.Second, 50*time.Millisecond,
				"%s is left behind", dir)
			os.RemoveAll(dir)
		})
	}
}

// childOf is the one child process of pid.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	require.NoError(t, err)
	var kids []string
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		kids = append(kids, strings.Fields(string(b))...)
	}
	require.Len(t, kids, 1, "netsim's children")
	child, err := strconv.Atoi(kids[0])
	require.NoError(t, err)
	return child
}

// alive: pid is a process that has not exited (a zombie has).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// A workload against an address where nothing listens is an error (exit
// 1) that says so and why in one line, after the warm-up: no figures, no
// advice to give --model a busier model.
func TestWorkloadNoTarget(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	code, out, stderr := runCLI(t, "", "workload", "--peer", addr, "--sessions", "2", "--duration", "1m")
	assert.Equal(t, 1, code, stderr)
	assert.Empty(t, out)
	assert.True(t, strings.HasSuffix(stderr, "\ngovent: workload: no session could link to "+addr+": connection refused\n"), "%s", stderr)
	assert.NotContains(t, stderr, "busier model")
}

// SIGHUP, SIGINT and SIGTERM end a real govent workload alike: the figures so far,
// exit 1, and its sessions' share directories removed; it names the
// signal that stopped it, as netsim and demo do. Before, SIGHUP killed
// the process and left them in the temporary directory, and then Ctrl-C
// and SIGTERM said only "interrupted".
func TestWorkloadStopsOnSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs govent workload")
	}
	bin := buildGovent(t)
	target := shareServent(t, servent.Config{}, nil)
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			var stdout bytes.Buffer
			cmd := exec.Command(bin, "workload", "--peer", target.Addr().String(), "--sessions", "3", "--churn", "none", "--duration", "10m")
			cmd.Env = append(testEnviron(), "TMPDIR="+tmp)
			cmd.Stdout = &stdout
			stderr, err := cmd.StderrPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			defer func() { _ = cmd.Process.Kill() }()
			lines := bufio.NewScanner(stderr)
			var out strings.Builder
			for lines.Scan() {
				out.WriteString(lines.Text() + "\n")
				if strings.Contains(lines.Text(), " linked to ") {
					break
				}
			}
			left, err := os.ReadDir(tmp)
			require.NoError(t, err)
			require.NotEmpty(t, left, "the sessions' share directories\n%s", out.String())
			require.NoError(t, cmd.Process.Signal(sig))
			for lines.Scan() {
				out.WriteString(lines.Text() + "\n")
			}
			err = cmd.Wait()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit)
			assert.Equal(t, 1, exit.ExitCode(), "-1: killed by the signal\n%s", out.String())
			assert.Contains(t, out.String(), "workload: interrupted ("+sig.String()+" signal received) after ")
			assert.Regexp(t, `(?m)^queries issued +\d+$`, stdout.String())
			left, err = os.ReadDir(tmp)
			require.NoError(t, err)
			assert.Empty(t, left)
		})
	}
}

// netsim --realtime --bootstrap with nothing there is an error in one line
// once the warm-up is over: no figures, no advice about the model.
func TestNetsimNoBootstrap(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	code, out, stderr := runCLI(t, "", "netsim", "--realtime", "--nodes", "3", "--settle", "1s", "--duration", "1m", "--bootstrap", addr)
	assert.Equal(t, 1, code, stderr)
	assert.Empty(t, out)
	assert.True(t, strings.HasSuffix(stderr, "\ngovent: netsim: no servent could link to the bootstrap node "+addr+": connection refused\n"), "%s", stderr)
}

// A report path that cannot be written is a usage error before the run,
// not a failure after it: conform against gtk-gnutella (--pace 30s) or a
// default netsim run takes long, and its figures were lost to a typo in
// --json (said, besides, as "conform: report: ..." by netsim and
// workload). Each target here would make the run fail or take long, so a
// check made only at the end shows as another exit status or message.
func TestReportPathsCheckedBeforeTheRun(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	missing := filepath.Join(dir, "missing", "out.json")
	target := []string{"--peer", "127.0.0.1:1"} // nothing listens there
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"conform", "--json", missing, "127.0.0.1:1"}, "--json " + missing + ": no directory " + filepath.Dir(missing) + " to write it in"},
		{[]string{"conform", "--junit", dir, "127.0.0.1:1"}, "--junit " + dir + ": is a directory; want a file name"},
		{[]string{"conform", "--junit", filepath.Join(file, "x.xml"), "127.0.0.1:1"}, file + " is not a directory"},
		{[]string{"netsim", "--nodes", "50", "--duration", "1m", "--json", missing}, "--json " + missing + ": no directory"},
		{[]string{"netsim", "--nodes", "50", "--duration", "1m", "--report", filepath.Join(file, "report")}, "--report " + filepath.Join(file, "report") + ": " + file + " is not a directory"},
		{append([]string{"workload", "--json", missing}, target...), "--json " + missing + ": no directory"},
		{append([]string{"workload", "--report", file}, target...), "--report " + file + ": is not a directory"},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(t, "", c.args...)
		assert.Equal(t, 2, code, "%v: %s", c.args, stderr)
		assert.Contains(t, stderr, c.want, "%v", c.args)
	}
	_, err := os.Stat(filepath.Dir(missing))
	assert.ErrorIs(t, err, fs.ErrNotExist, "no directory made for a --json file")

	// A --report directory is made by the report, not by the flag check:
	// a command refused by a later check (--model here) left it behind,
	// empty.
	report := filepath.Join(dir, "new", "report")
	code, _, stderr := runCLI(t, "", append([]string{"workload", "--report", report, "--model", filepath.Join(dir, "no-model.json")}, target...)...)
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "--model: ")
	_, err = os.Stat(filepath.Join(dir, "new"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "a --report directory made by a refused run")
}
