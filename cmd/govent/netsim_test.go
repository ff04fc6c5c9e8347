package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
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
