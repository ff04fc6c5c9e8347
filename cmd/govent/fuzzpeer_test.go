package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/fuzz/peer"
	"github.com/govent/govent/fuzz/peer/fragile"
	"github.com/govent/govent/servent"
)

// startFuzzTarget runs our own servent on loopback as fuzz-peer's target:
// sharing files named as the captured gtk-gnutella ones (so HTTP cases
// reach its Range handling), with its connection and upload limits raised
// through servent.Config, since the fuzzer opens thousands of connections
// and the defaults are sized for a servent on the network.
func startFuzzTarget(t *testing.T) *servent.Servent {
	t.Helper()
	share := t.TempDir()
	for i, name := range []string{"strawberry fields.ogg", "penny lane.mp3", "readme test.txt"} {
		data := make([]byte, 1000*(i+1))
		for j := range data {
			data[j] = byte(j * (i + 7))
		}
		require.NoError(t, os.WriteFile(filepath.Join(share, name), data, 0o644))
	}
	s, err := servent.New(servent.Config{
		Listen:          "127.0.0.1:0",
		ShareDir:        share,
		HashBeforeStart: true,
		MaxPeers:        512,
		MaxLeaves:       512,
		MaxUploads:      64,
		MaxUploadsPerIP: 8,
	})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { s.Close() })
	return s
}

// TestFuzzPeerOwnServent fuzzes our own servent, all areas, for a bounded
// time (FUZZPEER_DURATION, default 12s; `make fuzz-peer` runs it longer):
// no finding, and the run stops by itself at --duration.
func TestFuzzPeerOwnServent(t *testing.T) {
	d := 12 * time.Second
	if v := os.Getenv("FUZZPEER_DURATION"); v != "" {
		var err error
		d, err = time.ParseDuration(v)
		require.NoError(t, err, "FUZZPEER_DURATION")
	}
	flags := strings.Fields(os.Getenv("FUZZPEER_FLAGS"))
	s := startFuzzTarget(t)
	out := t.TempDir()
	args := append([]string{"fuzz-peer", "--duration", d.String(), "--seed", "1", "--rate", "0",
		"--parallel", "16", "--check-every", "10", "--json", "--out", out}, flags...)
	ctx, cancel := context.WithTimeout(t.Context(), 2*d+time.Minute)
	defer cancel()
	start := time.Now()
	code, stdout, stderr := runCLIContext(ctx, nil, "", append(args, s.Addr().String())...)
	elapsed := time.Since(start)
	var sum peer.Summary
	require.NoError(t, json.Unmarshal([]byte(stdout), &sum), "stdout: %s\nstderr: %s", stdout, stderr)
	var text strings.Builder
	printFuzzSummary(&text, &sum)
	t.Logf("%s", text.String())
	assert.Equal(t, 0, code, "findings against our own servent: %s", stderr)
	assert.Empty(t, sum.Findings)
	assert.Equal(t, peer.StopDuration, sum.Stopped)
	assert.Less(t, elapsed, d+d/2+10*time.Second, "the run must stop by itself at --duration")
	for _, a := range peer.AllAreas {
		assert.Positive(t, sum.PerArea[a], "no %s cases", a)
	}
	assert.Positive(t, sum.Answers["alive"], "no case got past the parsers to the probe Ping")
	assert.Positive(t, sum.Checks)
	assert.Equal(t, 3, sum.DiscoveredFiles)
}

// watchdog restarts the fragile servent once a bug has kept it down for a
// second, as a supervisor would; the fuzzer waits for it (--recover-wait)
// and goes on. The delay keeps it from restarting the servent between a
// replayed case and the check after it. stop ends it.
func watchdog(t *testing.T, f *fragile.Servent) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var since time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				switch {
				case !f.Broken():
					since = time.Time{}
				case since.IsZero():
					since = now
				case now.Sub(since) >= time.Second:
					_ = f.Restart(ctx)
					since = time.Time{}
				}
			}
		}
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// TestFuzzPeerFindsFragileServent runs the command line against the
// fragile servent over real loopback sockets: the long-header bug (it
// stops accepting) is found, written, minimised, and replays; a healthy
// target does not reproduce it.
func TestFuzzPeerFindsFragileServent(t *testing.T) {
	f, err := fragile.Start(fragile.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	stopWatchdog := watchdog(t, f)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "", "fuzz-peer", "--targets", "handshake", "--seed", "13", "--max-cases", "32",
		"--parallel", "1", "--rate", "0", "--live-timeout", "2s", "--recover-wait", "5s", "--minimise", "10s",
		"--out", out, f.Addr())
	t.Logf("%s\n%s", stdout, stderr)
	require.Equal(t, 1, code, "findings exit 1")
	assert.Contains(t, stdout, "handshake.line_length/refused")
	assert.Contains(t, stdout, "stopped: max-cases")
	files, err := filepath.Glob(filepath.Join(out, "handshake.line_length_refused-*.json"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	_, err = os.Stat(filepath.Join(out, peer.JournalName))
	assert.ErrorIs(t, err, os.ErrNotExist, "a finished run leaves no journal")

	rep, err := peer.ReadReproducer(files[0])
	require.NoError(t, err)
	assert.True(t, rep.Reproduced)
	assert.Less(t, rep.Bytes(), casesBytes(rep.Original), "minimised")
	assert.Equal(t, peer.EffectRefused, rep.Effect)

	stopWatchdog()
	require.NoError(t, f.Restart(context.Background()))
	code, stdout, _ = runCLI(t, "", "fuzz-peer", "replay", files[0], f.Addr())
	assert.Equal(t, 1, code, stdout)
	assert.Contains(t, stdout, "REPRODUCED: refused")
	assert.Equal(t, []fragile.Bug{fragile.BugLongHeader}, f.Tripped())

	// Our own servent reads the same bytes and stays up.
	s := startFuzzTarget(t)
	code, stdout, _ = runCLI(t, "", "fuzz-peer", "replay", files[0], s.Addr().String())
	assert.Equal(t, 0, code, stdout)
	assert.Contains(t, stdout, "not reproduced")
}

func casesBytes(cs []peer.Case) int {
	n := 0
	for i := range cs {
		n += cs[i].Bytes()
	}
	return n
}

func TestFuzzPeerUsage(t *testing.T) {
	for _, args := range [][]string{
		{"fuzz-peer"},
		{"fuzz-peer", "not-an-address"},
		{"fuzz-peer", "--parallel", "0", "127.0.0.1:1"},
		{"fuzz-peer", "--duration", "0s", "127.0.0.1:1"},
		{"fuzz-peer", "--targets", "bogus", "127.0.0.1:1"},
		{"fuzz-peer", "--rate", "fast", "127.0.0.1:1"},
		{"fuzz-peer", "replay", "only-a-file"},
		// These four took 0 (and negatives, some) for their defaults
		// without a word: --slow 0s, every check a finding, ran with 2s.
		{"fuzz-peer", "--slow", "0s", "127.0.0.1:1"},
		{"fuzz-peer", "--live-timeout", "0s", "127.0.0.1:1"},
		{"fuzz-peer", "--answer-timeout", "-1s", "127.0.0.1:1"},
		{"fuzz-peer", "--recover-wait", "0s", "127.0.0.1:1"},
		{"fuzz-peer", "replay", "--slow", "0s", "case.json", "127.0.0.1:1"},
		{"fuzz-peer", "replay", "--recover-wait", "-1s", "case.json", "127.0.0.1:1"},
	} {
		code, _, stderr := runCLI(t, "", args...)
		assert.Equal(t, 2, code, "%v: %s", args, stderr)
	}
	// Its flags come from the environment too, and are checked the same.
	code, _, stderr := runCLIEnv(t, map[string]string{"GOVENT_FUZZ_PEER_RATE": "fast"}, "", "fuzz-peer", "127.0.0.1:1")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--rate fast: want N/s, N/m, N, or 0 for no bound (from $GOVENT_FUZZ_PEER_RATE)")
}

// TestFuzzPeerTargetDown: a target that does not answer at the start is
// an error, not a run.
func TestFuzzPeerTargetDown(t *testing.T) {
	f, err := fragile.Start(fragile.Config{})
	require.NoError(t, err)
	addr := f.Addr()
	require.NoError(t, f.Close())
	code, _, stderr := runCLI(t, "", "fuzz-peer", "--duration", "1s", "--recover-wait", "200ms", "--out", t.TempDir(), addr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "is not live")
}

// TestFuzzPeerReplayBadFile: a reproducer that is missing, a directory or
// not a reproducer fails the replay (exit 1) with one line naming the
// file, no usage hint; and nothing is contacted.
func TestFuzzPeerReplayBadFile(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.json")
	require.NoError(t, os.WriteFile(garbage, []byte("not json\n"), 0o644))
	for _, file := range []string{filepath.Join(dir, "nothere.json"), dir, garbage} {
		code, stdout, stderr := runCLI(t, "", "fuzz-peer", "replay", file, "127.0.0.1:1")
		assert.Equal(t, 1, code, "%s: %s", file, stderr)
		assert.Contains(t, stderr, file)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %s", stderr)
		assert.NotContains(t, stderr, "--help")
		assert.Empty(t, stdout)
	}
}

// replay's help lists what replay takes: not, as global options, the
// fuzzing flags of fuzz-peer (--duration "how long to fuzz", --seed,
// --rate), which a replay ignored; given to replay they are a mistake.
func TestFuzzPeerReplayTakesOnlyItsFlags(t *testing.T) {
	code, out, errOut := runCLI(t, "", "fuzz-peer", "replay", "--help")
	require.Equal(t, 0, code, errOut)
	for _, f := range []string{"--duration", "--max-cases", "--seed", "--rate", "--targets", "--out", "--check-every", "--parallel", "--minimise"} {
		assert.NotContains(t, out, "   "+f+" ", "replay --help lists %s", f)
	}
	assert.Contains(t, out, "   --recover-wait ")
	assert.Contains(t, out, "   --answer-timeout ")

	code, _, errOut = runCLI(t, "", "fuzz-peer", "replay", "--duration", "5s", "case.json", "127.0.0.1:1")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "unknown flag --duration")
}

// TestFuzzPeerInterrupted: a real fuzz-peer process stopped by SIGINT
// prints its summary so far and exits 1, as get, demo and workload do when
// interrupted (it exited 0, which a script takes for "no finding"). It
// names the signal, as netsim does (it said only "interrupted after").
func TestFuzzPeerInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	bin := buildGovent(t)
	s := startFuzzTarget(t)
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "fuzz-peer", s.Addr().String(), "--targets", "handshake", "--rate", "50",
		"--duration", "1m", "--seed", "1", "--out", out, "--check-every", "1000000") // cases left unchecked: a journal
	cmd.Env = testEnviron()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	hit := func() bool { st := s.Stats(); return st.HandshakeFailed+st.Malformed+st.Answered > 0 }
	for deadline := time.Now().Add(20 * time.Second); !hit(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("fuzz-peer did not reach its target\n%s", stderr.String())
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	var err error
	select {
	case err = <-exited:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("fuzz-peer did not exit after SIGINT\n%s", stderr.String())
	}
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "exit status 0 after SIGINT\n%s\n%s", stdout.String(), stderr.String())
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, stdout.String(), "stopped: interrupted", "the summary so far")
	assert.Regexp(t, `^govent: fuzz-peer: interrupted \(interrupt signal received\) after [0-9.]+s: the summary above covers [0-9]+ cases?(; \S+ keeps the cases sent but not yet checked: `+
		"`govent fuzz-peer replay \\S+ \\S+` checks them)?\n$", stderr.String())
	journal := filepath.Join(out, peer.JournalName)
	if _, err := os.Stat(journal); err == nil {
		assert.Contains(t, stderr.String(), journal+" keeps the cases sent but not yet checked", "the journal left is named")
		// The command to run is whole: the target is the one fuzzed, not
		// a HOST:PORT for the user to fill in.
		assert.Contains(t, stderr.String(), "`govent fuzz-peer replay "+journal+" "+s.Addr().String()+"` checks them")
	} else {
		assert.NotContains(t, stderr.String(), peer.JournalName, "no journal left, none named")
	}
}

// --out is made only for findings: a clean run leaves no directory of its
// own behind (it holds the journal of unchecked cases while it runs), and
// the help says so, as a user who looks for the directory after a clean
// run would otherwise take its absence for a failure to write.
func TestFuzzPeerOutOnlyForFindings(t *testing.T) {
	code, stdout, _ := runCLI(t, "", "fuzz-peer", "--help")
	require.Equal(t, 0, code)
	assert.Contains(t, strings.Join(strings.Fields(stdout), " "), "made only when there are findings")

	s := startFuzzTarget(t)
	out := filepath.Join(t.TempDir(), "findings")
	code, _, stderr := runCLI(t, "", "fuzz-peer", "--max-cases", "20", "--seed", "1", "--out", out, s.Addr().String())
	require.Equal(t, 0, code, stderr)
	_, err := os.Stat(out)
	assert.ErrorIs(t, err, fs.ErrNotExist, "a clean run left --out behind")
}

// A file for --out is a usage error before the run, as for every other
// directory flag (it was "fuzz-peer: output directory: mkdir FILE: not a
// directory", exit 1, once the target had been checked).
func TestFuzzPeerOutIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	code, _, stderr := runCLI(t, "", "fuzz-peer", "--out", file, "127.0.0.1:1")
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "govent fuzz-peer: --out "+file+": is not a directory\n")
}
