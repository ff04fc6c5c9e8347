package netsim

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/govent/govent/cmd/internal/p2pmodel"
	"github.com/govent/govent/cmd/internal/p2pstats"
	"github.com/govent/govent/servent"
)

// busyWorkload is testdata/busy.toml: every session active, a query about
// every 20 s, a catalog of 2,000 files, so that a short run has hundreds of
// queries and most of them a matching file online.
func busyWorkload(t testing.TB) *p2pmodel.Workload {
	t.Helper()
	w, err := p2pmodel.LoadWorkload("testdata/busy.toml")
	require.NoError(t, err)
	return w
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// simulate runs cfg in a bubble of its own, in virtual time.
func simulate(t *testing.T, cfg Config) *p2pstats.Results {
	t.Helper()
	var r *p2pstats.Results
	synctest.Test(t, func(t *testing.T) {
		var err error
		r, err = Simulate(context.Background(), cfg)
		require.NoError(t, err)
	})
	return r
}

// TestNetwork200 runs 200 servents (20 ultrapeers) for 40 simulated seconds
// without churn, once flooding and once with QRP and dynamic querying, and
// checks what a working network must show: findable queries found, fewer
// descriptors with QRP+DQ, every QueryHit back on its reverse path, and
// nothing left behind (synctest fails on a goroutine left in the bubble;
// file descriptors and share directories are counted here).
func TestNetwork200(t *testing.T) {
	if testing.Short() {
		t.Skip("200 servents, twice")
	}
	root, err := os.MkdirTemp(DefaultShareRoot(), "netsim-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(root) })
	cfg := Config{Nodes: 200, Ultrapeers: 0.1, Duration: 40 * time.Second, Workload: busyWorkload(t), Seed: 7,
		Settle: 30 * time.Second, SearchWindow: 15 * time.Second, ShareRoot: root}
	runtime.GC()
	fds := openFDs(t)
	start := time.Now()
	var runs []*p2pstats.Results
	for _, routing := range []Routing{Flood, QRPDQ} {
		cfg.Routing = routing
		r := simulate(t, cfg)
		runs = append(runs, r)
		t.Logf("%s: %d queries, %d findable, %d of them answered, %.1f descriptors per query, %d QueryHits forwarded",
			routing, r.Queries.Issued, r.Queries.Findable, r.Queries.FindableAnswered, *r.Descriptors.Mean, r.ReversePath.Forwarded)
	}
	t.Logf("two runs of 200 servents: %v real", time.Since(start).Round(time.Millisecond))
	flood, qrp := runs[0], runs[1]

	for _, r := range runs {
		q := r.Queries
		assert.Equal(t, "virtual", r.Run.Clock)
		assert.Greater(t, q.Findable, int64(100), "%s: enough findable queries to judge", r.Run.Label)
		require.NotNil(t, q.SuccessRate)
		assert.Greater(t, *q.SuccessRate, 0.95, "%s: findable queries answered", r.Run.Label)
		assert.LessOrEqual(t, q.Answered-q.FindableAnswered, int64(0), "%s: an answer for a file nobody online shares", r.Run.Label)

		rp := r.ReversePath
		assert.Positive(t, rp.Forwarded, "%s: hits were relayed, so the check checked something", r.Run.Label)
		assert.Zero(t, rp.OffPath, "%s: QueryHits forwarded off their reverse path", r.Run.Label)
		assert.Zero(t, rp.DeliveredElsewhere, "%s: QueryHits delivered to a servent that did not search", r.Run.Label)
		assert.Zero(t, rp.Unchecked, r.Run.Label)
		// The searcher got them: every QueryHit delivered carries at least
		// one result, and every result the users saw came in one.
		assert.Positive(t, rp.Delivered)
		assert.LessOrEqual(t, rp.Delivered, q.Hits, r.Run.Label)
		assert.Empty(t, r.Dropped, "%s: no churn, no link drops", r.Run.Label)
		assert.Positive(t, r.Memory.PeakBytes)
	}
	assert.Equal(t, flood.Queries.Issued, qrp.Queries.Issued, "the same seed issues the same queries")
	assert.Equal(t, flood.Queries.Findable, qrp.Queries.Findable)
	assert.Less(t, *qrp.Descriptors.Mean*2, *flood.Descriptors.Mean, "QRP+DQ costs less than half the descriptors of flooding")
	assert.Less(t, *qrp.Descriptors.Query, *flood.Descriptors.Query)

	runtime.GC()
	assert.Equal(t, fds, openFDs(t), "file descriptors left open")
	left, err := os.ReadDir(root)
	require.NoError(t, err)
	assert.Empty(t, left, "share directories left behind")

	report := filepath.Join(t.TempDir(), "report")
	path, err := p2pstats.WriteReport(report, runs...)
	require.NoError(t, err)
	page, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, p2pstats.CheckPage(page))
	assert.Contains(t, string(page), "flood vs qrp&#43;dq")
}

// TestWaitingSaysForWhat: the run says it waits for the last queries'
// results only when some are still open, and how many (it said so for a
// run that had issued none).
func TestWaitingSaysForWhat(t *testing.T) {
	root, err := os.MkdirTemp(DefaultShareRoot(), "netsim-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(root) })
	var lines []string
	cfg := Config{Nodes: 4, Ultrapeers: 0.5, Duration: 2 * time.Second, Seed: 3, Settle: time.Second,
		SearchWindow: 5 * time.Second, ShareRoot: root, Progress: func(s string) { lines = append(lines, s) }}
	r := simulate(t, cfg)
	require.Zero(t, r.Queries.Issued, "the default workload issues nothing in 2 s")
	for _, l := range lines {
		assert.NotContains(t, l, "waiting", "nothing to wait for")
	}

	lines = nil
	cfg.Nodes, cfg.Duration, cfg.Workload = 20, 30*time.Second, busyWorkload(t)
	r = simulate(t, cfg)
	require.Positive(t, r.Queries.Issued)
	waits := 0
	for _, l := range lines {
		if strings.Contains(l, "waiting") {
			waits++
			assert.Regexp(t, `^30s: waiting up to 5s for the results of [0-9]+ quer(y|ies) still open$`, l)
		}
	}
	assert.Equal(t, 1, waits, "%q", lines)
}

// TestNoBootstrap: joining a network (--realtime --bootstrap) through a
// bootstrap node where nothing listens, no servent links: the run is an
// error that says so and why once the warm-up is over, not figures of
// servents that reached nobody.
func TestNoBootstrap(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	boot := netip.MustParseAddrPort(l.Addr().String())
	l.Close()
	start := time.Now()
	r, err := RunRealtime(t.Context(), Config{Nodes: 6, Ultrapeers: 0.3, Duration: time.Hour, Settle: time.Second,
		Bootstrap: boot, ShareRoot: t.TempDir()})
	require.ErrorIs(t, err, ErrNoBootstrap)
	assert.EqualError(t, err, "netsim: no servent could link to the bootstrap node "+boot.String()+": connection refused")
	require.NotNil(t, r)
	assert.Less(t, time.Since(start), 30*time.Second, "it gives up after the warm-up")
}

// TestJoinsBootstrap: through a bootstrap node that takes them, the same
// run goes on.
func TestJoinsBootstrap(t *testing.T) {
	up, err := servent.New(servent.Config{Listen: "127.0.0.1:0", AllowPrivate: true, Logger: zap.NewNop()})
	require.NoError(t, err)
	require.NoError(t, up.Start(t.Context()))
	defer up.Close()
	_, err = RunRealtime(t.Context(), Config{Nodes: 6, Ultrapeers: 0.3, Duration: 2 * time.Second, Settle: time.Second,
		SearchWindow: time.Second, Bootstrap: up.Addr(), ShareRoot: t.TempDir()})
	require.NoError(t, err)
}
