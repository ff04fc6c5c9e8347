package servent

import (
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// When the leaf slots are full, a newcomer leaf takes the slot of a leaf
// that in leafUselessGrace has sent no query route table that routes
// anything (it shares nothing: it answers keepalives and nothing else), as
// gtk-gnutella's node_remove_useless_leaf does; the one connected longest
// goes, with Bye 202. Within the grace, and when every leaf shares, the
// newcomer is refused as before.
func TestUselessLeafMakesRoom(t *testing.T) {
	vtest(t, func(t *testing.T) {
		n := testNetwork(t)
		cfg := memConfig(t, n, "127.0.0.1:6346")
		cfg.Mode, cfg.MaxLeaves = ModeUltrapeer, 2
		var mu sync.Mutex
		byes := map[netip.Addr]uint16{}
		cfg.OnEvent = func(e Event) {
			if e.Kind == EventDisconnected {
				mu.Lock()
				byes[e.Peer.Addr()] = e.ByeSent
				mu.Unlock()
			}
		}
		up := startServent(t, cfg)
		leaf := func(addr string, shares bool) *Servent {
			cfg := memLeafConfig(t, n, addr+":6346")
			if shares {
				cfg.ShareDir = shareDir(t, map[string]string{addr + ".txt": "tusks"})
			}
			return startServent(t, cfg)
		}
		leaves := func() (out []netip.Addr) {
			for _, p := range up.Peers() {
				if p.Leaf {
					out = append(out, p.Addr.Addr())
				}
			}
			return out
		}
		idle := leaf("127.0.0.2", false)
		require.NoError(t, idle.Connect(up.Addr()))
		time.Sleep(time.Minute)
		idler := leaf("127.0.0.3", false)
		require.NoError(t, idler.Connect(up.Addr()))
		synctest.Wait()
		require.ElementsMatch(t, []netip.Addr{ip("127.0.0.2"), ip("127.0.0.3")}, leaves())

		require.Error(t, leaf("127.0.0.4", true).Connect(up.Addr()), "within the grace: full")
		time.Sleep(leafUselessGrace)
		synctest.Wait()
		require.NoError(t, leaf("127.0.0.5", true).Connect(up.Addr()), "a useless leaf made room")
		synctest.Wait()
		assert.ElementsMatch(t, []netip.Addr{ip("127.0.0.3"), ip("127.0.0.5")}, leaves(), "the one connected longest went")
		mu.Lock()
		assert.Equal(t, wire.ByeMakingRoom, byes[ip("127.0.0.2")])
		mu.Unlock()
		assert.Empty(t, idle.Peers())
		assert.EqualValues(t, 1, up.Stats().EvictedUselessLeaves)

		time.Sleep(leafUselessGrace)
		synctest.Wait()
		require.NoError(t, leaf("127.0.0.6", true).Connect(up.Addr()))
		synctest.Wait()
		assert.ElementsMatch(t, []netip.Addr{ip("127.0.0.5"), ip("127.0.0.6")}, leaves())
		require.Error(t, leaf("127.0.0.7", true).Connect(up.Addr()), "every leaf shares: full")
		assert.EqualValues(t, 2, up.Stats().EvictedUselessLeaves)
		assert.ElementsMatch(t, []netip.Addr{ip("127.0.0.5"), ip("127.0.0.6")}, leaves())
	})
}
