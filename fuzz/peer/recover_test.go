package peer_test

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/fuzz/peer"
	"github.com/govent/govent/servent/memnet"
)

// countingDial counts the connections a run tries.
func countingDial(dial peer.DialFunc, n *atomic.Int64) peer.DialFunc {
	return func(ctx context.Context, local netip.Addr, addr string) (net.Conn, error) {
		n.Add(1)
		return dial(ctx, local, addr)
	}
}

// TestTargetNeverUp: a target that refuses the very first control check
// was never up; the run says so at once, without waiting out
// --recover-wait (30 s by default) for it, nor retrying.
func TestTargetNeverUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var dials atomic.Int64
		start := time.Now()
		sum, err := peer.Run(context.Background(), peer.Config{
			Target:   fragileAddr,
			Duration: 3 * time.Second,
			Dial:     countingDial(peer.NetworkDial(memnet.New()), &dials), // nothing listens
		})
		require.Error(t, err)
		assert.EqualError(t, err, "fuzz-peer: "+fragileAddr+" is not live: cannot connect: connection refused")
		assert.NotNil(t, sum)
		assert.EqualValues(t, 1, dials.Load(), "one control check, no retries")
		assert.Zero(t, time.Since(start), "no wait in virtual time")
	})
}

// TestRecoverWaitEndsAtDuration: a target that a case took down and that
// nobody restarts is waited for no longer than the run's --duration, even
// when --recover-wait is longer.
func TestRecoverWaitEndsAtDuration(t *testing.T) {
	out := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		f, dial := startFragile(t)
		cfg := fragileConfig(f, dial, out)
		cfg.Areas = []peer.Area{peer.AreaHandshake}
		cfg.Restart = nil
		cfg.MaxCases = 0
		cfg.Duration = 3 * time.Second
		cfg.RecoverWait = time.Minute
		start := time.Now()
		sum, err := peer.Run(context.Background(), cfg)
		require.NoError(t, err)
		require.Len(t, sum.Findings, 1, "the target went down within the run")
		assert.Contains(t, []string{peer.StopTargetDown, peer.StopDuration}, sum.Stopped)
		// Past the end, a wait still makes its one check, bounded by
		// --live-timeout.
		assert.LessOrEqual(t, time.Since(start), cfg.Duration+peer.DefaultLiveTimeout)
	})
}
