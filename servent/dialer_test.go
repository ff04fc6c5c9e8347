package servent

import (
	"context"
	"errors"
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
	"github.com/govent/govent/servent/internal/ratelimit"
	"github.com/govent/govent/servent/memnet"
)

// A configured peer that refuses connections for seven minutes and then
// comes up is joined within a minute of coming up. Meanwhile the servent
// fills its wanted link from the host cache, and warns of every failed
// attempt at the configured peer with the reason, the failure count and the
// next attempt: the first retry 5 s on (less up to a quarter of jitter),
// doubling to 45 s. Only the first line used to be logged; the next were
// debug lines, once every five minutes at info.
func TestConfiguredPeerRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		learned := startServent(t, memConfig(t, n, "127.0.0.3:6346"))
		peer := netip.MustParseAddrPort("127.0.0.5:6346")

		core, all := observer.New(zapcore.DebugLevel)
		unreachable := func() []observer.LoggedEntry {
			return all.FilterMessage("configured peer unreachable").FilterLevelExact(zapcore.WarnLevel).All()
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
		synctest.Wait()
		h, ok := s.Hosts().Get(peer)
		require.True(t, ok)
		attempts := h.Failures
		assert.GreaterOrEqual(t, attempts, 9, "retried all along, at most 45 s apart")

		lines := unreachable()
		require.Len(t, lines, attempts, "one warning per failed attempt")
		for i, e := range lines {
			m := e.ContextMap()
			assert.Equal(t, peer.String(), m["peer"])
			assert.Contains(t, m["error"], "connection refused", "the reason")
			assert.Equal(t, int64(i+1), m["failures"], "line %d counts the failures", i)
			next, ok := m["next_attempt"].(time.Time)
			require.True(t, ok, "the next attempt: %v", m)
			wait := min(5*time.Second<<i, 45*time.Second)
			assert.True(t, next.Sub(e.Time) >= wait-wait/4 && next.Sub(e.Time) <= wait,
				"failure %d: next attempt %v at %v, want %v less up to a quarter", i+1, next, e.Time, wait)
			if i > 0 {
				assert.False(t, e.Time.Before(lines[i-1].ContextMap()["next_attempt"].(time.Time)),
					"failure %d logged at %v, not before the attempt line %d announced", i+1, e.Time, i)
				assert.LessOrEqual(t, e.Time.Sub(lines[i-1].ContextMap()["next_attempt"].(time.Time)), 100*time.Millisecond,
					"failure %d logged at %v: the attempt line %d announced came on time, not at the dialer's next 2 s check", i+1, e.Time, i)
			}
		}

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
// the network) is looked up again, each failed lookup is warned of, and the
// peer joined once it resolves; it used to be dropped for good at start.
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
		synctest.Wait()
		lines := logs.FilterMessage("configured peer unreachable").FilterLevelExact(zapcore.WarnLevel).All()
		require.Len(t, lines, 8, "a warning for each lookup, every 45 s for six minutes")
		for i, e := range lines {
			assert.Equal(t, "peer.test:6346", e.ContextMap()["peer"])
			assert.Contains(t, e.ContextMap()["error"], "no such host")
			assert.Equal(t, int64(i+1), e.ContextMap()["failures"])
		}
		for !s.connected(peer.Addr()) && time.Since(resolvable) <= time.Minute {
			time.Sleep(time.Second)
			synctest.Wait()
		}
		assert.True(t, s.connected(peer.Addr()), "joined within a minute of resolving")
	})
}

// Failures of one configured peer that come in a burst are merged into one
// warning, and the next warning counts what was left out; another peer's
// failure is its own line.
func TestPeerFailedMergesBursts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		log := zap.New(core)
		s := &Servent{log: log, limited: ratelimit.NewLogger(log, time.Second)}
		refused := errors.New("connection refused")
		for i := range 3 {
			s.peerFailed("a:6346", refused, i+1, time.Now().Add(5*time.Second))
		}
		s.peerFailed("b:6346", refused, 1, time.Now().Add(5*time.Second))
		time.Sleep(time.Second)
		s.peerFailed("a:6346", refused, 4, time.Now().Add(10*time.Second))

		lines := logs.All()
		require.Len(t, lines, 3)
		for _, e := range lines {
			assert.Equal(t, zapcore.WarnLevel, e.Level)
		}
		assert.Equal(t, "a:6346", lines[0].ContextMap()["peer"])
		assert.Equal(t, "b:6346", lines[1].ContextMap()["peer"])
		assert.Equal(t, map[string]any{"peer": "a:6346", "error": "connection refused", "failures": int64(4),
			"next_attempt": time.Now().Add(10 * time.Second), "retry_in": "10s", "suppressed": int64(2)},
			lines[2].ContextMap())
	})
}
