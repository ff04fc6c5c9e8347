package servent

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/servent/memnet"
)

// A configured peer that refuses connections for seven minutes and then
// comes up is joined within a minute of coming up. Meanwhile the servent
// fills its wanted link from the host cache, and says at info level why the
// configured peer failed and when it tries next, rate-limited: a handful of
// lines for a dozen failed attempts.
func TestConfiguredPeerRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		learned := startServent(t, memConfig(t, n, "127.0.0.3:6346"))
		peer := netip.MustParseAddrPort("127.0.0.5:6346")

		core, all := observer.New(zapcore.DebugLevel)
		unreachable := func() []observer.LoggedEntry {
			return all.FilterMessage("configured peer unreachable").FilterLevelExact(zapcore.InfoLevel).All()
		}
		cfg := memConfig(t, n, "127.0.0.1:6346")
		cfg.Peers = []string{peer.String()}
		cfg.Logger = zap.New(core)
		defer func() {
			if t.Failed() {
				for _, e := range all.All() {
					t.Logf("%s %s %s %v", e.Time.Format("15:04:05"), e.Level, e.Message, e.ContextMap())
				}
			}
		}()
		s, err := New(cfg)
		require.NoError(t, err)
		require.NoError(t, s.Hosts().Add(learned.Addr(), hostcache.SourcePong, true, time.Now()))
		require.NoError(t, s.Start(t.Context()))
		t.Cleanup(func() { s.Close() })

		time.Sleep(10 * time.Second)
		synctest.Wait()
		assert.True(t, s.connected(learned.Addr()), "a host from the cache fills the wanted link")

		time.Sleep(7*time.Minute - 10*time.Second)
		h, ok := s.Hosts().Get(peer)
		require.True(t, ok)
		attempts := h.Failures
		assert.GreaterOrEqual(t, attempts, 9, "retried all along, at most 45 s apart")

		lines := unreachable()
		require.NotEmpty(t, lines, "failures are logged at info")
		assert.LessOrEqual(t, len(lines), 3, "rate-limited: %d lines for %d failures", len(lines), attempts)
		for _, e := range lines {
			m := e.ContextMap()
			assert.Equal(t, peer.String(), m["peer"])
			assert.Contains(t, m["error"], "connection refused", "the reason")
			next, ok := m["next_attempt"].(time.Time)
			require.True(t, ok, "the next attempt: %v", m)
			assert.True(t, next.After(e.Time) && next.Sub(e.Time) <= 45*time.Second, "next attempt %v at %v", next, e.Time)
		}
		last := lines[len(lines)-1].ContextMap()
		assert.Greater(t, last["failures"], int64(len(lines)), "a line counts the failures it stands for")

		up := time.Now()
		startServent(t, memConfig(t, n, peer.String()))
		for !s.connected(peer) && time.Since(up) <= time.Minute {
			time.Sleep(time.Second)
			synctest.Wait()
		}
		assert.True(t, s.connected(peer), "joined within a minute of coming up")
		assert.True(t, s.connected(learned.Addr()), "the learned host stays")
		assert.Len(t, unreachable(), len(lines), "nothing more to say")
	})
}

// A dial that fails gives its connection slot back: refused dials used to
// keep theirs, and after MaxPeers of them the servent could neither dial
// nor accept anyone again.
func TestFailedDialsKeepNoSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		cfg := memConfig(t, n, "127.0.0.1:6346")
		cfg.MaxPeers = 2
		s := startServent(t, cfg)
		for range 3 * cfg.MaxPeers {
			err := s.Connect(netip.MustParseAddrPort("127.0.0.5:6346"))
			require.ErrorContains(t, err, "connection refused")
		}
		other := startServent(t, memConfig(t, n, "127.0.0.2:6346"))
		require.NoError(t, s.Connect(other.Addr()))
		require.NoError(t, startServent(t, memConfig(t, n, "127.0.0.3:6346")).Connect(s.Addr()))
		synctest.Wait()
		assert.Len(t, s.Peers(), 2)
	})
}

// lateDNS is a memnet host whose resolver knows one name, from a moment on.
type lateDNS struct {
	*memnet.Host
	name  string
	addr  netip.Addr
	until time.Time
}

func (d lateDNS) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if host != d.name || time.Now().Before(d.until) {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []netip.Addr{d.addr}, nil
}

// A configured name that does not resolve yet (a daemon started before
// the network) is looked up again, and the peer joined once it resolves;
// it used to be dropped for good at start.
func TestConfiguredNameResolvedLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		peer := startServent(t, memConfig(t, n, "127.0.0.5:6346"))
		core, logs := observer.New(zapcore.InfoLevel)
		cfg := memConfig(t, n, "127.0.0.1:6346")
		resolvable := time.Now().Add(6 * time.Minute)
		cfg.Network = lateDNS{Host: n.Host(netip.MustParseAddr("127.0.0.1")), name: "peer.test",
			addr: peer.Addr().Addr(), until: resolvable}
		cfg.Peers = []string{"peer.test:6346"}
		cfg.Logger = zap.New(core)
		s := startServent(t, cfg)

		time.Sleep(time.Until(resolvable))
		lines := logs.FilterMessage("configured peer unreachable").All()
		require.Len(t, lines, 2, "the first failure, and one five minutes on")
		for _, e := range lines {
			assert.Equal(t, "peer.test:6346", e.ContextMap()["peer"])
			assert.Contains(t, e.ContextMap()["error"], "no such host")
		}
		assert.GreaterOrEqual(t, lines[1].ContextMap()["failures"], int64(8), "looked up every 45 s")
		for !s.connected(peer.Addr()) && time.Since(resolvable) <= time.Minute {
			time.Sleep(time.Second)
			synctest.Wait()
		}
		assert.True(t, s.connected(peer.Addr()), "joined within a minute of resolving")
	})
}
