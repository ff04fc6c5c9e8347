package servent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/govent/govent/router"
)

// testConfig is a loopback servent that dials nobody by itself. Its test
// networks dial from 127.0.0.1 alone, so the per-address limits are raised
// out of the way; tests of those limits set them back.
func testConfig(t testing.TB) Config {
	return Config{
		Listen:           "127.0.0.1:0",
		AllowPrivate:     true,
		HashBeforeStart:  true,
		HandshakeTimeout: 5 * time.Second,
		MaxPendingPerIP:  1 << 10,
		MaxPeersPerIP:    1 << 10,
		MaxLeavesPerIP:   1 << 10,
		Logger:           zaptest.NewLogger(t),
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

// waitFor polls cond until it holds or the deadline passes. It is for
// network state across goroutines, not for timing.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
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
