package workload

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/govent/govent/cmd/internal/p2pmodel"
	"github.com/govent/govent/cmd/internal/p2pstats"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/servent/memnet"
)

// target starts our own servent as the ultrapeer under load, on n.
func target(t *testing.T, n *memnet.Network, tweak func(*servent.Config)) *servent.Servent {
	t.Helper()
	cfg := servent.Config{Listen: "127.0.0.1:6346", Network: n.Host(netip.MustParseAddr("127.0.0.1")),
		AllowPrivate: true, MaxLeaves: 200, Logger: zap.NewNop()}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := servent.New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	return s
}

// drive runs the workload against a servent of ours on an in-memory
// network, in virtual time.
func drive(t *testing.T, cfg Config, tweak func(*servent.Config)) *p2pstats.Results {
	t.Helper()
	var r *p2pstats.Results
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		up := target(t, n, tweak)
		defer up.Close()
		cfg.Target = up.Addr()
		cfg.ShareRoot = t.TempDir()
		cfg.Network = sessionsOn(n)
		var err error
		r, err = Run(context.Background(), cfg)
		require.NoError(t, err)
	})
	return r
}

// sessionsOn puts session k on 127.2.x.y of n.
func sessionsOn(n *memnet.Network) func(k int) (servent.Network, string) {
	return func(k int) (servent.Network, string) {
		ip := netip.AddrFrom4([4]byte{127, 2, byte(k >> 8), byte(k)})
		return n.Host(ip), netip.AddrPortFrom(ip, 6346).String()
	}
}

func busy(t *testing.T) *p2pmodel.Workload {
	w, err := p2pmodel.LoadWorkload("testdata/busy.toml")
	require.NoError(t, err)
	return w
}

// TestWorkloadMeasuresTheTarget: 40 sessions against one ultrapeer of
// ours. It routes the sessions' queries to one another by their QRP
// tables: nearly every findable query is found, each Query reaches only
// the few sessions that share its file, and every hit goes to the session
// that searched. With its QRP filter off the same load costs a Query to
// every session.
func TestWorkloadMeasuresTheTarget(t *testing.T) {
	cfg := Config{Sessions: 40, Workload: busy(t), Duration: time.Minute, Seed: 5}
	qrp := drive(t, cfg, nil)
	flood := drive(t, cfg, func(c *servent.Config) { c.NoQRPFilter = true })
	for _, r := range []*p2pstats.Results{qrp, flood} {
		q := r.Queries
		assert.Equal(t, "127.0.0.1:6346", r.Run.Target)
		assert.Greater(t, q.Findable, int64(20))
		require.NotNil(t, q.SuccessRate)
		assert.Greater(t, *q.SuccessRate, 0.95)
		assert.Zero(t, r.ReversePath.DeliveredElsewhere, "a hit went to a session that did not search")
		assert.Positive(t, r.ReversePath.Delivered)
		assert.Positive(t, r.Run.RealS)
	}
	t.Logf("Query descriptors per query: %.2f with QRP, %.2f without", *qrp.Descriptors.Query, *flood.Descriptors.Query)
	assert.Less(t, *qrp.Descriptors.Query, 10.0, "QRP: a Query goes to the sessions that match (and a few false positives)")
	assert.Greater(t, *flood.Descriptors.Query, 30.0, "no QRP: to every other session")
	assert.Less(t, 4**qrp.Descriptors.Query, *flood.Descriptors.Query)
}

// TestWorkloadChurn: with the default churn, sessions come and go (most
// of them short), and their links' ends are counted by Bye.
func TestWorkloadChurn(t *testing.T) {
	r := drive(t, Config{Sessions: 30, Workload: busy(t), Churn: p2pmodel.DefaultChurn(), Duration: time.Minute, Seed: 2}, nil)
	var byes int64
	for _, d := range r.Dropped {
		if d.Reason == "bye 200" {
			byes = d.N
		}
	}
	assert.Greater(t, byes, int64(10), "sessions leaving say Bye 200: %v", r.Dropped)
	assert.Positive(t, r.Queries.Issued)
}

func TestWorkloadBounds(t *testing.T) {
	_, err := Run(context.Background(), Config{Sessions: 10})
	assert.ErrorContains(t, err, "no target")
	_, err = Run(context.Background(), Config{Target: netip.MustParseAddrPort("127.0.0.1:1"), Sessions: MaxSessions + 1})
	assert.ErrorContains(t, err, "sessions must be")
	// Many short sessions over a long run: refused before anything starts.
	_, err = Run(context.Background(), Config{Target: netip.MustParseAddrPort("127.0.0.1:1"), Sessions: 5000,
		Churn: p2pmodel.DefaultChurn(), Duration: time.Hour})
	assert.ErrorContains(t, err, "sessions, over")
}

// TestWorkloadNoTarget: nothing listens at the target, so no session
// links: the run is an error that says so and why, at the end of the
// warm-up, not a run of n/a figures blaming the model.
func TestWorkloadNoTarget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		r, err := Run(context.Background(), Config{Target: netip.MustParseAddrPort("127.0.0.1:6346"), Sessions: 5,
			Workload: busy(t), Duration: time.Hour, ShareRoot: t.TempDir(), Network: sessionsOn(memnet.New())})
		require.ErrorIs(t, err, ErrNoLink)
		assert.EqualError(t, err, "workload: no session could link to 127.0.0.1:6346: connection refused")
		require.NotNil(t, r)
		assert.Zero(t, r.Links.Linked)
		require.Len(t, r.Links.Failed, 1)
		assert.Equal(t, "connection refused", r.Links.Failed[0].Reason)
		assert.Less(t, time.Since(start), time.Minute, "it gives up after the warm-up")
	})
}

// TestWorkloadCountsRefusals: a target with fewer leaf slots than there
// are sessions refuses the rest. They are not online, their dials count
// by its answer, and their queries, which would reach nobody, are not
// issued.
func TestWorkloadCountsRefusals(t *testing.T) {
	r := drive(t, Config{Sessions: 20, Workload: busy(t), Duration: time.Minute, Seed: 5},
		func(c *servent.Config) { c.MaxLeaves = 8 })
	assert.Equal(t, int64(8), r.Links.Linked, "every session stays: the first 8 keep the slots")
	require.NotEmpty(t, r.Links.Failed)
	assert.Equal(t, "503 Full", r.Links.Failed[0].Reason, "%v", r.Links.Failed)
	assert.Positive(t, r.Links.Failed[0].N)
	for _, s := range r.Series {
		assert.LessOrEqual(t, s.Online, 8, "at %vs", s.T)
	}
	assert.Positive(t, r.Links.QueriesUnlinked)
	assert.Positive(t, r.Queries.Issued)
}
