package servent

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent/hostcache"
)

// What a running servent learnt is on disk within a save period, without a
// shutdown, so that a kill -9 or a crash loses at most that period: a host
// learnt since start is in hosts.json after hostsSaveEvery (63 s,
// gtk-gnutella's), a host that took TLS in tls-hosts.json after
// tlsHostsSaveEvery (10 min), neither before. While nothing changes
// nothing is written: a marker put in each file by hand survives the next
// periods.
func TestCachesSavedWhileRunning(t *testing.T) {
	vtest(t, func(t *testing.T) {
		dir := t.TempDir()
		cfg := testConfig(t)
		cfg.DataDir = dir
		s := startServent(t, cfg)
		hostsFile := filepath.Join(dir, hostcache.HostFile)
		tlsFile := filepath.Join(dir, TLSHostsFile)
		learnt := netip.MustParseAddrPort("127.0.0.7:6346")
		takesTLS := netip.MustParseAddrPort("127.0.0.8:6346")

		time.Sleep(time.Second)
		require.NoError(t, s.Hosts().Add(learnt, hostcache.SourcePong, true, time.Now()))
		s.xfer.tlsHosts.Add(takesTLS)
		time.Sleep(hostsSaveEvery - 2*time.Second)
		synctest.Wait()
		assert.NoFileExists(t, hostsFile, "not yet a period")

		time.Sleep(2 * time.Second)
		synctest.Wait()
		saved := hostcache.New(hostcache.Config{DataDir: dir, AllowPrivate: true, AllowLoopback: true})
		require.NoError(t, saved.Load())
		_, ok := saved.Get(learnt)
		assert.True(t, ok, "the host learnt is saved after a period, without a shutdown")
		assert.NoFileExists(t, tlsFile, "the TLS cache has a period of its own")

		time.Sleep(tlsHostsSaveEvery - hostsSaveEvery)
		synctest.Wait()
		tls := httpxfer.NewTLSHosts()
		require.NoError(t, tls.Load(tlsFile))
		assert.True(t, tls.Known(takesTLS), "the host that takes TLS is saved after its period")

		mark := func(name string) { require.NoError(t, os.WriteFile(name, []byte("marker"), 0o600)) }
		marked := func(name string) bool {
			b, err := os.ReadFile(name)
			require.NoError(t, err)
			return string(b) == "marker"
		}
		mark(hostsFile)
		mark(tlsFile)
		time.Sleep(tlsHostsSaveEvery)
		synctest.Wait()
		assert.True(t, marked(hostsFile), "nothing learnt: hosts.json not rewritten")
		assert.True(t, marked(tlsFile), "nothing learnt: tls-hosts.json not rewritten")

		again := netip.MustParseAddrPort("127.0.0.9:6346")
		require.NoError(t, s.Hosts().Add(again, hostcache.SourcePong, true, time.Now()))
		time.Sleep(hostsSaveEvery)
		synctest.Wait()
		saved = hostcache.New(hostcache.Config{DataDir: dir, AllowPrivate: true, AllowLoopback: true})
		require.NoError(t, saved.Load())
		_, ok = saved.Get(again)
		assert.True(t, ok, "a host learnt later is saved in the next period")
	})
}

// The PARQ upload queue an earlier run saved is loaded at start and saved
// again at shutdown (httpxfer/parq_persist.go).
func TestUploadQueueKeptAcrossRestart(t *testing.T) {
	vtest(t, func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, UploadQueueFile)
		at := time.Now().Add(time.Minute)
		saved := `{"format":1,"entries":[{"id":"feed42","ip":"10.0.0.1","target":"/get/1/f.bin","retry_at":"` +
			at.Format(time.RFC3339Nano) + `","expires":"` + at.Add(httpxfer.QueueLifetime).Format(time.RFC3339Nano) + `"}]}`
		require.NoError(t, os.WriteFile(file, []byte(saved), 0o600))
		cfg := testConfig(t)
		cfg.DataDir = dir
		s := startServent(t, cfg)
		assert.Equal(t, 1, s.xfer.up.QueueLength(), "loaded at start")
		require.NoError(t, os.Remove(file))
		s.Close()
		u := httpxfer.NewUploader(httpxfer.UploaderConfig{})
		require.NoError(t, u.LoadQueue(file))
		assert.Equal(t, 1, u.QueueLength(), "saved at shutdown")
	})
}

// A host cache restored with hosts still in backoff says so once at
// start, with how many and when the first may be dialled again; without
// any, nothing is logged (the backoff came back silently).
func TestRestoredBackoffLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		prev := hostcache.New(hostcache.Config{DataDir: dir, AllowPrivate: true, AllowLoopback: true})
		for i := range 3 {
			a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(10 + i)}), 6346)
			require.NoError(t, prev.Add(a, hostcache.SourcePong, true, time.Now()))
			if i > 0 {
				_, ok := prev.Failed(a, time.Now())
				require.True(t, ok)
			}
		}
		require.NoError(t, prev.Save())

		start := func() *observer.ObservedLogs {
			core, logs := observer.New(zapcore.InfoLevel)
			cfg := testConfig(t)
			cfg.DataDir, cfg.Logger = dir, zap.New(core)
			s, err := New(cfg)
			require.NoError(t, err)
			s.Close() // the line is said by New, at start
			return logs
		}
		lines := start().FilterMessage("host cache: hosts in backoff from the last run").All()
		require.Len(t, lines, 1)
		f := lines[0].ContextMap()
		assert.Equal(t, int64(2), f["backoff"])
		assert.Equal(t, int64(3), f["hosts"])
		assert.Regexp(t, `^[0-9]+s$`, f["first_retry_in"], "the shortest backoff left, within a minute after one failure")

		time.Sleep(time.Hour) // every backoff over
		assert.Empty(t, start().FilterMessage("host cache: hosts in backoff from the last run").All())
	})
}
