package servent

import (
	"bytes"
	"crypto/sha1"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
)

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestPushDownloadFromDialOnlyServent: the uploader has no listening port
// at all, so no inbound connection can reach it; it only dials out. The
// downloader finds the file through a search, sees the push flag, routes a
// Push through the middle servent, receives the GIV on its own port and
// gets the file, intact, on that connection.
func TestPushDownloadFromDialOnlyServent(t *testing.T) {
	vtest(t, func(t *testing.T) {
		body := randomBytes(3<<20+123, 1)
		cfgU := testConfig(t)
		cfgU.NoListen = true
		cfgU.ShareDir = shareDir(t, map[string]string{"hidden treasure.bin": string(body)})
		uploader := startServent(t, cfgU)
		require.False(t, uploader.Addr().IsValid(), "a dial-only servent has no address")

		middle := startServent(t, testConfig(t))
		cfgD := testConfig(t)
		cfgD.DownloadDir = t.TempDir()
		downloader := startServent(t, cfgD)

		require.NoError(t, uploader.Connect(middle.Addr()))
		require.NoError(t, downloader.Connect(middle.Addr()))
		waitFor(t, "middle has both", func() bool { return len(middle.Peers()) == 2 })

		sr, err := downloader.Search(searchCtx(t), "treasure")
		require.NoError(t, err)
		res := collect(t, sr, 1, 5*time.Second)
		require.Len(t, res, 1)
		r := res[0]
		assert.True(t, r.Push, "a dial-only servent sets the push flag")
		assert.Equal(t, uint16(0), r.Addr.Port(), "and gives no address to dial")
		assert.Equal(t, uploader.GUID(), r.ServentGUID)
		assert.EqualValues(t, 2, r.Hops, "two links: uploader to middle, middle to us")

		got, err := downloader.Download(searchCtx(t), httpxfer.Request{
			Name: r.Name, Size: int64(r.Size), SHA1: r.SHA1, Sources: []httpxfer.Source{SourceOf(r)},
		})
		require.NoError(t, err)
		data, err := os.ReadFile(got.Path)
		require.NoError(t, err)
		assert.Equal(t, sha1.Sum(body), sha1.Sum(data))
		assert.Equal(t, filepath.Join(cfgD.DownloadDir, "hidden treasure.bin"), got.Path)
	})
}

// TestDirectFailureFallsBackToPush: the hit announces an address nobody
// listens on and no push flag; the direct dial fails and the downloader
// falls back to a Push routed by servent GUID.
func TestDirectFailureFallsBackToPush(t *testing.T) {
	vtest(t, func(t *testing.T) {
		body := randomBytes(200<<10, 2)
		dead, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		deadAddr := addrPortOf(dead.Addr())
		dead.Close() // connections to it are refused from now on

		cfgU := testConfig(t)
		cfgU.AdvertiseAddr = deadAddr
		cfgU.ShareDir = shareDir(t, map[string]string{"fallback.dat": string(body)})
		uploader := startServent(t, cfgU)
		cfgD := testConfig(t)
		cfgD.DownloadDir = t.TempDir()
		downloader := startServent(t, cfgD)
		require.NoError(t, uploader.Connect(downloader.Addr()))
		waitFor(t, "the downloader has the link", func() bool { return len(downloader.Peers()) == 1 })

		sr, err := downloader.Search(searchCtx(t), "fallback")
		require.NoError(t, err)
		res := collect(t, sr, 1, 5*time.Second)
		require.Len(t, res, 1)
		require.False(t, res[0].Push)
		require.Equal(t, deadAddr, res[0].Addr)

		got, err := downloader.Download(searchCtx(t), httpxfer.Request{
			Name: res[0].Name, Size: int64(res[0].Size), SHA1: res[0].SHA1, Sources: []httpxfer.Source{SourceOf(res[0])},
		})
		require.NoError(t, err)
		data, err := os.ReadFile(got.Path)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(body, data))
	})
}

// TestGIVWithoutPendingPushIsClosed: a GIV nobody asked for, and a garbled
// one, are closed without anything served or crashing.
func TestGIVWithoutPendingPushIsClosed(t *testing.T) {
	vtest(t, func(t *testing.T) {
		s := startServent(t, testConfig(t))
		for name, giv := range map[string]string{
			"no pending push": "GIV 2:48c831020b29cc9f54ca85f81b70fef8/file\n\n",
			"garbled":         "GIV banana\n\n",
			"bad guid":        "GIV 2:zzzz31020b29cc9f54ca85f81b70fef8/file\n\n",
		} {
			t.Log(name)
			p := dialRaw(t, s.Addr())
			p.writeString(giv)
			p.expectClosed()
		}
		assert.Empty(t, s.Peers())
	})
}

// TestPushForOthersWithoutRoute: a Push for a servent GUID that is not ours
// and that no QueryHit taught us is dropped, not flooded and not answered.
func TestPushForOthersWithoutRoute(t *testing.T) {
	vtest(t, func(t *testing.T) {
		s := startServent(t, testConfig(t))
		other := startServent(t, testConfig(t))
		require.NoError(t, other.Connect(s.Addr()))
		p := dialRaw(t, s.Addr())
		p.handshake06()
		waitFor(t, "both peers", func() bool { return len(s.Peers()) == 2 })
		before := s.router.Stats().Dropped

		stranger := wire.NewGUID()
		p.send(wire.Message{
			Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePush, TTL: 5},
			Push:   wire.Push{ServentGUID: stranger, Index: 1, Addr: netip.MustParseAddr("127.0.0.1"), Port: 1},
		})
		waitFor(t, "the Push dropped for want of a route", func() bool {
			st := s.router.Stats()
			return st.Dropped[routerDropNoPushRoute()] > before[routerDropNoPushRoute()]
		})
		assert.Zero(t, s.Stats().Forwarded, "nothing was forwarded")
		// And our own servent GUID is not involved: nobody dialled port 1.
		assert.Len(t, s.Peers(), 2, "the sender stays connected: a stray Push is not a protocol error")
	})
}

func routerDropNoPushRoute() router.DropReason { return router.DropNoPushRoute }
