package servent

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/govent/govent/router"
	"github.com/govent/govent/servent/memnet"
)

// vtest runs f in a synctest bubble, in virtual time, on an in-memory
// network of its own: every testConfig made in it listens there (on
// 127.0.0.1, a port of its own) and dials from 127.0.0.1, and dialRaw dials
// there too. A test in a bubble never waits in real time, so a loaded
// machine cannot make it miss a deadline. T.Run may not be called inside:
// each subtest calls vtest itself.
func vtest(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		testNets.Store(t, n)
		t.Cleanup(func() { testNets.Delete(t) })
		f(t)
	})
}

// testNets maps the tests running under vtest to their network.
var testNets sync.Map // testing.TB -> *memnet.Network

// testNetwork is the in-memory network of a test under vtest, nil for a
// test on the operating system's loopback.
func testNetwork(t testing.TB) *memnet.Network {
	v, _ := testNets.Load(t)
	n, _ := v.(*memnet.Network)
	return n
}

// testConfig is a loopback servent that dials nobody by itself, on the
// test's in-memory network under vtest. Its test networks dial from
// 127.0.0.1 alone, so the per-address limits are raised out of the way;
// tests of those limits set them back.
func testConfig(t testing.TB) Config {
	var network Network
	if n := testNetwork(t); n != nil {
		network = n.Host(netip.AddrFrom4([4]byte{127, 0, 0, 1}))
	}
	return Config{
		Network:          network,
		Listen:           "127.0.0.1:0",
		AllowPrivate:     true,
		HashBeforeStart:  true,
		HandshakeTimeout: 5 * time.Second,
		MaxPendingPerIP:  1 << 10,
		MaxPeersPerIP:    1 << 10,
		MaxLeavesPerIP:   1 << 10,
		// The suite's servents talk over their links only: hits in-band,
		// along the paths the tests follow. UDP tests turn it on
		// (udpConfig).
		NoUDP:  true,
		Logger: zaptest.NewLogger(t),
	}
}

// startServent starts a servent and stops it when the test ends.
func startServent(t testing.TB, cfg Config) *Servent {
	t.Helper()
	s, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { s.Close() })
	return s
}

// shareDir makes a directory holding the named files with the given
// contents.
func shareDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return dir
}

// table is the query route table c's peer sent us, as the router holds it.
func (c *conn) table() *router.QueryRouteTable { return c.s.router.QRT(c.id) }

// waitFor polls cond until it holds or a minute passes. It is for network
// state across goroutines, not for timing: under vtest the minute is
// virtual and costs nothing; on loopback TCP (the replays of captures) it
// only bounds a test that hangs, however loaded the machine.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// collect reads a search's results until n arrived or the wait ends.
func collect(t testing.TB, sr *Search, n int, wait time.Duration) []Result {
	t.Helper()
	var out []Result
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(out) < n {
		select {
		case r, ok := <-sr.Results:
			if !ok {
				return out
			}
			out = append(out, r)
		case <-timer.C:
			return out
		}
	}
	return out
}

func searchCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
