package peer_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/fuzz/peer"
	"github.com/govent/govent/fuzz/peer/fragile"
	"github.com/govent/govent/servent/memnet"
)

const fragileAddr = "127.0.0.1:6346"

// startFragile starts the fragile servent on an in-memory network.
func startFragile(t *testing.T) (*fragile.Servent, peer.DialFunc) {
	t.Helper()
	n := memnet.New()
	f, err := fragile.Start(fragile.Config{Addr: fragileAddr, Listen: func(a string) (net.Listener, error) { return n.Listen(context.Background(), "tcp", a) }})
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f, peer.NetworkDial(n)
}

// fragileConfig is a deterministic run: one case at a time, a check after
// each, a fixed seed and case count. In the bubble, time is virtual, so
// the live timeouts cost no wall time and no load can make them fire.
func fragileConfig(f *fragile.Servent, dial peer.DialFunc, out string) peer.Config {
	return peer.Config{
		Target:       fragileAddr,
		Areas:        []peer.Area{peer.AreaHandshake, peer.AreaDescriptor, peer.AreaGGEP},
		Seed:         13,
		MaxCases:     200,
		Parallel:     1,
		CheckEvery:   1,
		MinimiseTime: time.Hour,
		OutDir:       out,
		Restart:      f.Restart,
		Dial:         dial,
	}
}

func TestFindsEachFragileBug(t *testing.T) {
	out := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		f, dial := startFragile(t)
		cfg := fragileConfig(f, dial, out)
		cfg.Logf = t.Logf
		sum, err := peer.Run(context.Background(), cfg)
		require.NoError(t, err)
		t.Logf("%d cases in %.0f virtual seconds, %d findings, answers %v", sum.Cases, sum.Seconds, len(sum.Findings), sum.Answers)

		found := map[fragile.Bug]bool{}
		for _, fd := range sum.Findings {
			require.NotEmpty(t, fd.File, fd.Key)
			rep, err := peer.ReadReproducer(fd.File)
			require.NoError(t, err)
			require.NoError(t, f.Restart(context.Background()))
			res, err := peer.Replay(context.Background(), rep, peer.ReplayConfig{Target: fragileAddr, Dial: dial})
			require.NoError(t, err)
			tripped := f.Tripped()
			t.Logf("%s: %d -> %d bytes, replay reproduced %v, tripped %v", fd.Key, fd.OriginalBytes, fd.Bytes, res.Reproduced, tripped)
			if !assert.True(t, res.Reproduced, "%s does not reproduce", fd.Key) {
				b, _ := os.ReadFile(fd.File)
				t.Logf("%s\nreplay: %+v", b, res)
			}
			assert.Len(t, tripped, 1, "%s: every finding is one of the known bugs", fd.Key)
			assert.Less(t, fd.Bytes, fd.OriginalBytes, "%s: minimisation made it no smaller", fd.Key)
			if os.Getenv("DUMP") == fd.Key {
				b, _ := os.ReadFile(fd.File)
				t.Logf("%s", b)
			}
			for _, b := range tripped {
				found[b] = true
			}
		}
		for _, b := range fragile.AllBugs {
			assert.True(t, found[b], "bug %s not found in %d cases", b, sum.Cases)
		}
	})
}

// TestFindsFragileBugsInParallel: with cases running four at a time and a
// check every five, a failed check has several suspects; each reproducer
// is isolated down to the one case that does it.
func TestFindsFragileBugsInParallel(t *testing.T) {
	out := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		f, dial := startFragile(t)
		cfg := fragileConfig(f, dial, out)
		cfg.Parallel, cfg.CheckEvery = 4, 5
		cfg.Logf = t.Logf
		sum, err := peer.Run(context.Background(), cfg)
		require.NoError(t, err)
		found := map[fragile.Bug]bool{}
		seenTwice := false
		for _, fd := range sum.Findings {
			rep, err := peer.ReadReproducer(fd.File)
			require.NoError(t, err)
			assert.Len(t, rep.Cases, 1, "%s: isolated to one case", fd.Key)
			assert.True(t, rep.Reproduced, fd.Key)
			require.NoError(t, f.Restart(context.Background()))
			res, err := peer.Replay(context.Background(), rep, peer.ReplayConfig{Target: fragileAddr, Dial: dial})
			require.NoError(t, err)
			assert.True(t, res.Reproduced, fd.Key)
			for _, b := range f.Tripped() {
				found[b] = true
			}
			seenTwice = seenTwice || fd.Seen > 1
		}
		for _, b := range fragile.AllBugs {
			assert.True(t, found[b], "bug %s not found", b)
		}
		assert.True(t, seenTwice, "findings are de-duplicated by field and effect")
	})
}

// TestFindingTakesTheSettledEffect: a target caught going down can fail
// a check one way and settle another. Here the control connection of the
// first check after the listener-closing bug is queued on a listener that
// never accepts it (unresponsive), while every later connection is
// refused: what the parallel test once saw, when a check's dial raced
// with the close. Replays end on a settled check, so each finding is the
// effect the settled check saw, isolated to the one case that closes the
// listener, and it reproduces.
func TestFindingTakesTheSettledEffect(t *testing.T) {
	out := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		f, dial := startFragile(t)
		limbo := memnet.New()
		ln, err := limbo.Listen(context.Background(), "tcp", fragileAddr) // never accepts
		require.NoError(t, err)
		defer ln.Close()
		var hung atomic.Bool
		cfg := fragileConfig(f, func(ctx context.Context, local netip.Addr, addr string) (net.Conn, error) {
			if !local.IsValid() && f.Broken() && !hung.Swap(true) {
				return limbo.DialContext(ctx, "tcp", addr)
			}
			return dial(ctx, local, addr)
		}, out)
		cfg.Areas = []peer.Area{peer.AreaHandshake}
		cfg.MaxCases = 60
		cfg.Logf = t.Logf
		sum, err := peer.Run(context.Background(), cfg)
		require.NoError(t, err)
		require.True(t, hung.Load(), "a check met the connection nobody answers")
		require.NotEmpty(t, sum.Findings)
		sawHang := false
		for _, fd := range sum.Findings {
			assert.Equal(t, peer.EffectRefused, fd.Effect, "%s: the settled check's effect", fd.Key)
			assert.Equal(t, 1, fd.Cases, "%s: isolated to one case", fd.Key)
			assert.True(t, fd.Reproduced, fd.Key)
			sawHang = sawHang || strings.Contains(fd.Detail, "unresponsive")
			rep, err := peer.ReadReproducer(fd.File)
			require.NoError(t, err)
			require.NoError(t, f.Restart(context.Background()))
			res, err := peer.Replay(context.Background(), rep, peer.ReplayConfig{Target: fragileAddr, Dial: dial})
			require.NoError(t, err)
			assert.True(t, res.Reproduced, fd.Key)
			assert.Equal(t, []fragile.Bug{fragile.BugLongHeader}, f.Tripped(), fd.Key)
		}
		assert.True(t, sawHang, "a finding's detail says what the failed check saw first")
	})
}

// TestTargetThatStaysDown: without a way to restart it, a target that a
// case took down is waited for, then the run stops; the reproducer is
// written whole, since it cannot be replayed.
func TestTargetThatStaysDown(t *testing.T) {
	out := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		f, dial := startFragile(t)
		cfg := fragileConfig(f, dial, out)
		cfg.Areas = []peer.Area{peer.AreaHandshake}
		cfg.Restart = nil
		cfg.RecoverWait = 10 * time.Second
		start := time.Now()
		sum, err := peer.Run(context.Background(), cfg)
		require.NoError(t, err)
		assert.Equal(t, peer.StopTargetDown, sum.Stopped)
		require.Len(t, sum.Findings, 1)
		fd := sum.Findings[0]
		assert.Equal(t, peer.EffectRefused, fd.Effect)
		assert.False(t, fd.Reproduced)
		assert.Equal(t, fd.OriginalBytes, fd.Bytes)
		assert.FileExists(t, fd.File)
		assert.Less(t, time.Since(start), time.Minute, "it gave up after --recover-wait")
		assert.Equal(t, []fragile.Bug{fragile.BugLongHeader}, f.Tripped())
	})
}

// TestInterruptedRunKeepsJournal: cases are journalled before they are
// sent, and a run stopped before it checked them leaves them to replay.
func TestInterruptedRunKeepsJournal(t *testing.T) {
	out := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		f, dial := startFragile(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		dials := 0
		cfg := fragileConfig(f, func(c context.Context, local netip.Addr, addr string) (net.Conn, error) {
			if local.IsValid() { // a case, not the control connection
				dials++
				if dials == 30 {
					cancel()
				}
			}
			return dial(c, local, addr)
		}, out)
		cfg.Parallel, cfg.CheckEvery = 1, 1000
		cfg.Areas = []peer.Area{peer.AreaDescriptor}
		sum, err := peer.Run(ctx, cfg)
		require.NoError(t, err)
		assert.Equal(t, peer.StopInterrupted, sum.Stopped)
		assert.Equal(t, filepath.Join(out, peer.JournalName), sum.Journal, "the summary names the journal left")
		rep, err := peer.ReadReproducer(filepath.Join(out, peer.JournalName))
		require.NoError(t, err)
		// Every case dispatched was journalled before it was sent: the
		// thirtieth, and any the dispatcher had handed out by then.
		require.GreaterOrEqual(t, len(rep.Cases), 30)
		assert.Equal(t, sum.Cases, len(rep.Cases))
		for i, c := range rep.Cases {
			assert.Equal(t, uint64(i), c.Index)
			assert.NotEmpty(t, c.Steps)
		}
		// The journal's cases replay.
		first := rep.Cases[0]
		require.NoError(t, f.Restart(context.Background()))
		res, err := peer.Replay(context.Background(), &peer.Reproducer{Cases: []peer.Case{first}}, peer.ReplayConfig{Target: fragileAddr, Dial: dial})
		require.NoError(t, err)
		assert.Len(t, res.Answers, 1)
	})
}
