package servent

import (
	"context"
	"fmt"
	"net/http"
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
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/govent/govent/httpxfer/smallfile"
	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// fakeGWebCache serves a GWebCache v2 answer naming hosts on n at addr and
// counts the requests it gets.
func fakeGWebCache(t *testing.T, n *memnet.Network, addr string, hosts ...netip.AddrPort) *atomic.Int32 {
	t.Helper()
	ln, err := n.Listen(context.Background(), "tcp", addr)
	require.NoError(t, err)
	var count atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		if r.URL.Query().Get("get") != "1" {
			fmt.Fprint(w, "ERROR\n")
			return
		}
		for _, h := range hosts {
			fmt.Fprintf(w, "H|%v|60\n", h)
		}
		fmt.Fprint(w, "U|http://10.0.0.99/another.php|60\n")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &count
}

// A servent that knows nobody asks its caches in turn: a dead one is
// backed off, a good one gives a host, the servent connects to it and asks
// no more. Restarted with the host cache it saved, it asks nobody.
func TestBootstrapFromGWebCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		up := startServent(t, udpConfig(t, n, "10.0.0.1:6346"))
		gwc := fakeGWebCache(t, n, "10.0.0.50:80", up.Addr())
		cfg := udpConfig(t, n, "10.0.0.2:6346")
		cfg.DataDir = t.TempDir()
		cfg.GWebCaches = []string{"http://10.0.0.51/dead.php", "http://10.0.0.50/gwc.php"}
		s, err := New(cfg)
		require.NoError(t, err)
		require.NoError(t, s.Start(context.Background()))

		time.Sleep(time.Minute)
		synctest.Wait()
		require.Len(t, s.Peers(), 1, "connected to the host the cache gave")
		assert.Equal(t, up.Addr(), s.Peers()[0].Addr)
		time.Sleep(10 * time.Minute)
		assert.Equal(t, int32(1), gwc.Load(), "asked once: a v2 answer")
		st := s.Stats().Bootstrap
		assert.Equal(t, BootstrapStats{Contacts: 2, Failures: 1, Hosts: 1, Caches: 3}, st, "the dead cache once, the good one once, and the cache it named")
		require.NoError(t, s.Close())

		s2 := startServent(t, cfg)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		require.Len(t, s2.Peers(), 1, "the saved host")
		assert.Zero(t, s2.Stats().Bootstrap.Contacts, "known hosts remain: no bootstrap")
		assert.Equal(t, int32(1), gwc.Load())
	})
}

// A UDP host cache answers our SCP Ping with a Pong holding IPP and
// UDPHC; the servent connects to the host it gave.
func TestBootstrapFromUDPHostCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		up := startServent(t, udpConfig(t, n, "10.0.0.1:6346"))
		uhc := newUDPProbe(t, n, "10.0.0.60:9999")
		pinged := make(chan wire.Message, 1)
		go func() {
			m, from := uhc.recv(time.Hour)
			if m == nil {
				return
			}
			pinged <- *m
			ipp, _ := wire.NewGGEPExtension("IPP", ippValue([]netip.AddrPort{up.Addr()}), false, false)
			hc, _ := wire.NewGGEPExtension("UDPHC", nil, false, false)
			uhc.send(wire.Message{Header: wire.Header{GUID: m.Header.GUID, Type: wire.TypePong, TTL: 1},
				Pong: wire.Pong{Port: 9999, Addr: netip.MustParseAddr("10.0.0.60"), GGEP: wire.GGEP{Extensions: []wire.GGEPExtension{ipp, hc}}}}, from)
		}()
		cfg := udpConfig(t, n, "10.0.0.2:6346")
		cfg.UDPHostCaches = []string{"10.0.0.60:9999"}
		s := startServent(t, cfg)
		time.Sleep(time.Minute)
		synctest.Wait()
		ping := <-pinged
		assert.Equal(t, wire.TypePing, ping.Header.Type)
		_, scp := ping.Ping.GGEP.Get("SCP")
		assert.True(t, scp, "a UDP host cache Ping carries SCP")
		require.Len(t, s.Peers(), 1)
		assert.Equal(t, up.Addr(), s.Peers()[0].Addr)
		assert.Equal(t, BootstrapStats{Contacts: 1, Hosts: 2, Caches: 1}, s.Stats().Bootstrap, "the host in IPP and the cache's own")
	})
}

// The fallback list is used only when the host cache is empty and no peer
// and no cache is configured, and nothing is asked with NoBootstrap.
func TestFallbackCachesOnlyWhenNothingIsKnown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		up := startServent(t, udpConfig(t, n, "10.0.0.1:6346"))
		gwc := fakeGWebCache(t, n, "10.0.0.50:80", up.Addr())
		cache := []string{"http://10.0.0.50/gwc.php"}

		withPeer := udpConfig(t, n, "10.0.0.2:6346")
		withPeer.Peers = []string{"10.0.0.77:6346"} // down: we stay short of links
		withPeer.FallbackCaches = cache
		a := startServent(t, withPeer)
		off := udpConfig(t, n, "10.0.0.3:6346")
		off.GWebCaches, off.FallbackCaches, off.NoBootstrap = cache, cache, true
		b := startServent(t, off)
		own := udpConfig(t, n, "10.0.0.5:6346")
		own.GWebCaches = []string{"http://10.0.0.51/dead.php"} // the user's own cache, which fails
		own.FallbackCaches = cache
		d := startServent(t, own)
		time.Sleep(10 * time.Minute)
		assert.Zero(t, gwc.Load(), "a configured peer or cache, or NoBootstrap: the fallback caches are left alone")
		assert.Zero(t, a.Stats().Bootstrap.Caches+b.Stats().Bootstrap.Caches)
		assert.Equal(t, BootstrapStats{Contacts: 4, Failures: 4, Caches: 1}, d.Stats().Bootstrap,
			"only the configured cache, backed off 1, 2 and 4 minutes")

		empty := udpConfig(t, n, "10.0.0.4:6346")
		empty.FallbackCaches = cache
		c := startServent(t, empty)
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, int32(1), gwc.Load(), "nothing known: the fallback list")
		require.Len(t, c.Peers(), 1)
	})
}

// A cache that failed is remembered across a restart: the new run waits
// out its backoff before asking it again.
func TestBootstrapRemembersFailingCaches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		cfg := udpConfig(t, n, "10.0.0.2:6346")
		cfg.DataDir = t.TempDir()
		cfg.GWebCaches = []string{"http://10.0.0.51/dead.php"}
		s := startServent(t, cfg)
		synctest.Wait()
		require.Equal(t, uint64(1), s.Stats().Bootstrap.Failures)
		require.NoError(t, s.Close())

		s2 := startServent(t, cfg)
		time.Sleep(cacheRetry / 2)
		assert.Zero(t, s2.Stats().Bootstrap.Contacts, "still backed off")
		time.Sleep(cacheRetry/2 + bootCheckEvery)
		assert.Equal(t, uint64(1), s2.Stats().Bootstrap.Contacts, "asked again once the backoff ended")
	})
}

// A servent that will never bootstrap keeps the links it was told to
// keep: the fallback list, unused when peers are configured, does not
// make it dial hosts beside them (`govent run --peer A --peer B` always
// passes the shipped list).
func TestBootstrapConnections(t *testing.T) {
	peers := []string{"10.0.0.1:6346", "10.0.0.2:6346"}
	cache := []string{"http://10.0.0.50/gwc.php"}
	for _, tc := range []struct {
		name string
		cfg  Config
		want int
	}{
		{"peers and the fallback list", Config{Peers: peers, FallbackCaches: cache}, 0},
		{"the fallback list alone", Config{FallbackCaches: cache}, DefaultBootstrapConnections},
		{"peers and a cache of the user's", Config{Peers: peers, GWebCaches: cache}, DefaultBootstrapConnections},
		{"caches, but NoBootstrap", Config{Peers: peers, UDPHostCaches: cache, NoBootstrap: true}, 0},
		{"set by the user", Config{Peers: peers, GWebCaches: cache, Connections: 1}, 1},
	} {
		c, err := tc.cfg.withDefaults()
		require.NoError(t, err)
		assert.Equal(t, tc.want, c.Connections, tc.name)
	}
}

// TestHostCachesFileBounded: the saved state of the host caches is read
// up to maxCacheFile; a larger file is refused, naming it and the limit,
// and restores nothing; a missing one is no error.
func TestHostCachesFileBounded(t *testing.T) {
	write := func(t *testing.T, size int) string {
		dir := t.TempDir()
		head := `{"caches":[{"name":"http://gwc.example/","failures":3}]}`
		body := head + strings.Repeat(" ", size-len(head))
		require.NoError(t, os.WriteFile(filepath.Join(dir, CacheFile), []byte(body), 0o600))
		return dir
	}
	load := func(dir string) (*bootState, error) {
		b := &bootState{}
		b.addLocked("http://gwc.example/", false)
		return b, b.loadCachesLocked(dir)
	}
	b, err := load(write(t, maxCacheFile))
	require.NoError(t, err, "exactly at the limit")
	assert.Equal(t, 3, b.caches[0].failures)

	dir := write(t, maxCacheFile+1)
	b, err = load(dir)
	require.ErrorIs(t, err, smallfile.ErrTooLarge)
	assert.ErrorContains(t, err, fmt.Sprintf("%s: over %d bytes", filepath.Join(dir, CacheFile), maxCacheFile))
	assert.Zero(t, b.caches[0].failures, "nothing restored")

	_, err = load(t.TempDir())
	assert.NoError(t, err, "no file yet")
}

// A servent that knows nobody asks its cache at once, at Start, and dials
// the host the cache names at once too, not at the dialer's next check
// (it used to wait connectInterval, 2 s, for that first dial). A cache
// that names no host is asked again after cacheRetry, then after twice
// that, and so on.
func TestBootstrapAsksAndDialsAtOnceThenBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		up := startServent(t, udpConfig(t, n, "10.0.0.1:6346"))
		ln, err := n.Listen(context.Background(), "tcp", "127.0.0.50:80")
		require.NoError(t, err)
		var named atomic.Bool // the cache names up, once this is set
		asked := make(chan time.Time, 16)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("get") != "1" {
				fmt.Fprint(w, "ERROR\n") // the v1 requests that follow a failed v2 one
				return
			}
			asked <- time.Now()
			if named.Load() {
				fmt.Fprintf(w, "H|%v|60\n", up.Addr())
				return
			}
			fmt.Fprint(w, "I|pong|gwc\n") // an answer that names no host: a failure
		})}
		go srv.Serve(ln)
		defer srv.Close()

		cfg := udpConfig(t, n, "10.0.0.2:6346")
		cfg.GWebCaches = []string{"http://127.0.0.50/gwc.php"}
		start := time.Now()
		failing := startServent(t, cfg)
		synctest.Wait()
		require.Len(t, asked, 1, "asked at Start")
		assert.Zero(t, (<-asked).Sub(start), "the first request goes out at once")
		time.Sleep(8 * cacheRetry)
		synctest.Wait()
		var got []time.Duration
		for len(asked) > 0 {
			got = append(got, (<-asked).Sub(start))
		}
		assert.Equal(t, []time.Duration{cacheRetry, 3 * cacheRetry, 7 * cacheRetry}, got, "then backed off 1, 2 and 4 minutes")
		require.NoError(t, failing.Close())

		named.Store(true)
		start = time.Now()
		cfg = udpConfig(t, n, "10.0.0.3:6346")
		cfg.GWebCaches = []string{"http://127.0.0.50/gwc.php"}
		s := startServent(t, cfg)
		synctest.Wait()
		assert.Zero(t, (<-asked).Sub(start), "asked at Start")
		require.Len(t, s.Peers(), 1, "the host the cache named is dialled at once")
		assert.Equal(t, up.Addr(), s.Peers()[0].Addr)
		assert.Zero(t, time.Since(start))
	})
}

// A servent closed while it waits on a host cache (Ctrl-C during govent
// run's bootstrap) has no verdict on that cache: it logs no failure and
// does not back the cache off. Before, the cut-short ask counted as a
// failure ("host cache failed ... context canceled" in the last lines of
// every such run) and was saved, so the next run waited a minute before
// asking that cache again.
func TestBootstrapClosedWhileAskingIsNoFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		silent := newUDPProbe(t, n, "10.0.0.60:9999") // reads the Ping, never answers
		core, logs := observer.New(zapcore.InfoLevel)
		cfg := udpConfig(t, n, "10.0.0.2:6346")
		cfg.DataDir = t.TempDir()
		cfg.UDPHostCaches = []string{silent.addr().String()}
		cfg.Logger = zap.New(core)
		s := startServent(t, cfg)
		time.Sleep(uhcWait / 2)
		synctest.Wait()
		require.Equal(t, uint64(1), s.Stats().Bootstrap.Contacts, "asking it")
		require.NoError(t, s.Close())
		assert.Empty(t, logs.FilterMessage("host cache failed").All())
		assert.Zero(t, s.Stats().Bootstrap.Failures)

		cfg.Logger = zap.NewNop()
		s2 := startServent(t, cfg)
		time.Sleep(bootCheckEvery)
		synctest.Wait()
		assert.Equal(t, uint64(1), s2.Stats().Bootstrap.Contacts, "asked again at once: not backed off")
	})
}

// A UDP host cache that never answers (UDP blocked) is logged failing
// once at info, not at every backoff: before, each retry (1, 2, 4 ...
// minutes) logged "host cache failed" again.
func TestBootstrapRepeatedFailureLoggedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		silent := newUDPProbe(t, n, "10.0.0.61:9999") // reads the Ping, never answers
		core, logs := observer.New(zapcore.InfoLevel)
		cfg := udpConfig(t, n, "10.0.0.2:6346")
		cfg.UDPHostCaches = []string{silent.addr().String()}
		cfg.Logger = zap.New(core)
		s := startServent(t, cfg)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		require.GreaterOrEqual(t, s.Stats().Bootstrap.Failures, uint64(3), "asked at each backoff")
		assert.Len(t, logs.FilterMessage("host cache failed").All(), 1)
		require.NoError(t, s.Close())
	})
}

// silentUHCs adds k UDP host caches to cfg's fallback list that read our
// Ping and never answer (UDP blocked), and returns them.
func silentUHCs(t *testing.T, n *memnet.Network, cfg *Config, k int) []*udpProbe {
	var probes []*udpProbe
	for i := range k {
		p := newUDPProbe(t, n, fmt.Sprintf("10.0.1.%d:9999", i+1))
		probes = append(probes, p)
		cfg.FallbackCaches = append(cfg.FallbackCaches, "uhc:"+p.addr().String())
	}
	return probes
}

// UDP blocked: none of the UDP host caches answers. The servent asks them
// all at once, not one after the other, so within uhcWait and a little
// more it has asked every one and then the GWebCache, and is connected to
// the host that one gave. Before, it asked them in turn, waiting uhcWait
// on each: with the nine of `govent run`'s list, 90 s of silence.
func TestBootstrapSilentUDPCachesAskedTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		up := startServent(t, udpConfig(t, n, "10.0.0.1:6346"))
		gwc := fakeGWebCache(t, n, "10.0.0.50:80", up.Addr())
		cfg := udpConfig(t, n, "10.0.0.2:6346")
		silent := silentUHCs(t, n, &cfg, 9)
		cfg.FallbackCaches = append(cfg.FallbackCaches, "http://10.0.0.50/gwc.php")
		s := startServent(t, cfg)
		time.Sleep(uhcWait + 5*time.Second)
		synctest.Wait()
		for i, p := range silent {
			m, _ := p.recv(0)
			if assert.NotNil(t, m, "cache %d asked", i) {
				assert.Equal(t, wire.TypePing, m.Header.Type)
			}
		}
		assert.Equal(t, int32(1), gwc.Load(), "the GWebCache asked once none of the UDP caches answered")
		require.Len(t, s.Peers(), 1, "connected to the host the GWebCache gave")
		assert.Equal(t, up.Addr(), s.Peers()[0].Addr)
	})
}

// A UDP host cache that answers while others stay silent gives its hosts
// at once: they are dialled then, not after the silent ones time out, and
// the GWebCache is left alone.
func TestBootstrapAnsweringUDPCacheNotHeldBySilentOnes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		up := startServent(t, udpConfig(t, n, "10.0.0.1:6346"))
		gwc := fakeGWebCache(t, n, "10.0.0.50:80", up.Addr())
		cfg := udpConfig(t, n, "10.0.0.2:6346")
		silentUHCs(t, n, &cfg, 3)
		uhc := newUDPProbe(t, n, "10.0.0.60:9999")
		go func() {
			m, from := uhc.recv(time.Hour)
			if m == nil {
				return
			}
			ipp, _ := wire.NewGGEPExtension("IPP", ippValue([]netip.AddrPort{up.Addr()}), false, false)
			uhc.send(wire.Message{Header: wire.Header{GUID: m.Header.GUID, Type: wire.TypePong, TTL: 1},
				Pong: wire.Pong{Port: 9999, Addr: netip.MustParseAddr("10.0.0.60"), GGEP: wire.GGEP{Extensions: []wire.GGEPExtension{ipp}}}}, from)
		}()
		cfg.FallbackCaches = append(cfg.FallbackCaches, "uhc:10.0.0.60:9999", "http://10.0.0.50/gwc.php")
		start := time.Now()
		s := startServent(t, cfg)
		synctest.Wait()
		require.Len(t, s.Peers(), 1, "the host the answering cache gave, dialled at once")
		assert.Equal(t, up.Addr(), s.Peers()[0].Addr)
		assert.Zero(t, time.Since(start))
		time.Sleep(time.Minute)
		assert.Zero(t, gwc.Load(), "a UDP cache answered: the GWebCache is not asked")
	})
}

// When no cache answers, the log says so once, with when the next one is
// due, rather than leaving the user with one line per cache and silence.
func TestBootstrapNoCacheAnsweredLoggedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		core, logs := observer.New(zapcore.InfoLevel)
		cfg := udpConfig(t, n, "10.0.0.2:6346")
		silentUHCs(t, n, &cfg, 3)
		cfg.FallbackCaches = append(cfg.FallbackCaches, "http://10.0.0.51/dead.php")
		cfg.Logger = zap.New(core)
		start := time.Now()
		s := startServent(t, cfg)
		time.Sleep(uhcWait + 5*time.Second)
		synctest.Wait()
		got := logs.FilterMessage("no host cache answered").All()
		require.Len(t, got, 1, "said within 15 s")
		ctx := got[0].ContextMap()
		assert.EqualValues(t, 4, ctx["asked"])
		assert.Equal(t, start.Add(uhcWait+cacheRetry), ctx["next"], "all due again a minute after they failed: the UDP caches at uhcWait, the GWebCache asked then")
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		require.GreaterOrEqual(t, s.Stats().Bootstrap.Failures, uint64(12), "asked again at each backoff")
		assert.Len(t, logs.FilterMessage("no host cache answered").All(), 1, "said once, not at every retry")
	})
}

// A failed GWebCache is logged with its kind and URL as fields, and an
// error that says only what went wrong: not the kind and URL again, nor
// net/http's `Get "URL?query":` and Go's "dial tcp A: connect:".
func TestGWebCacheFailureLogLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		core, logs := observer.New(zapcore.InfoLevel)
		cfg := udpConfig(t, n, "10.0.0.2:6346")
		cfg.GWebCaches = []string{"http://10.0.0.51/dead.php"}
		cfg.Logger = zap.New(core)
		startServent(t, cfg)
		synctest.Wait()
		failed := logs.FilterMessage("host cache failed").All()
		require.Len(t, failed, 1)
		f := failed[0].ContextMap()
		assert.Equal(t, "GWebCache", f["kind"])
		assert.Equal(t, "http://10.0.0.51/dead.php", f["cache"])
		assert.Equal(t, "connect to 10.0.0.51:80: connection refused", f["error"])
	})
}
