package servent

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
)

// A servent that runs for one command (govent search, get) connects to a
// daemon, searches, and goes: the daemon has not cached it as a host to
// dial, through its handshake or its Pongs, and dials nothing once it is
// gone. A long-lived servent connecting the same way is cached.
func TestTransientClientNotCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		dcfg := memConfig(t, n, "10.0.0.1:6346")
		dcfg.ShareDir = shareDir(t, map[string]string{"penny lane.mp3": "penny lane body"})
		daemon := startServent(t, dcfg)
		cfg := memConfig(t, n, "10.0.0.2:40001")
		cfg.Transient = true
		client := startServent(t, cfg)
		require.NoError(t, client.Connect(daemon.Addr()))
		time.Sleep(time.Minute) // handshake, Pings and Pongs, a keepalive
		synctest.Wait()
		require.Len(t, daemon.Peers(), 1, "the client is connected")
		sr, err := client.Search(searchCtx(t), "penny lane")
		require.NoError(t, err)
		res := collect(t, sr, 1, 10*time.Second)
		require.Len(t, res, 1, "its search gets its result")
		assert.Equal(t, client.Addr().Port(), uint16(40001))
		_, cached := daemon.Hosts().Get(client.Addr())
		assert.False(t, cached, "a one-command client is not a host to keep: %v", daemon.Hosts().Hosts())
		require.NoError(t, client.Close())
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		assert.Empty(t, daemon.Hosts().Hosts(), "nothing learnt from the client")

		peer := startServent(t, memConfig(t, n, "10.0.0.3:6346"))
		require.NoError(t, peer.Connect(daemon.Addr()))
		time.Sleep(time.Minute)
		synctest.Wait()
		h, cached := daemon.Hosts().Get(peer.Addr())
		require.True(t, cached, "a long-lived peer is cached")
		assert.True(t, h.Ultrapeer)
	})
}
