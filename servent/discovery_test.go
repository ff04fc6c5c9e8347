package servent

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// A leaf that keeps three ultrapeers but knows only one, whose ultrapeer
// neighbours all arrived after the leaf connected (so its hello Ping could
// not tell of them), asks for hosts while it is short of links and reaches
// the other two within a minute. It learns them as ultrapeers: the answer
// to a TTL-2 Ping names the ultrapeer's ultrapeer neighbours, with GGEP
// "UP" as their own Pongs carried it.
func TestLeafShortOfLinksFindsUltrapeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		hub := startServent(t, memConfig(t, n, "127.0.0.1:6346"))
		cfg := memLeafConfig(t, n, "127.0.0.2:6346")
		cfg.Peers = []string{hub.Addr().String()}
		cfg.Connections = 3
		leaf := startServent(t, cfg)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		require.Len(t, leaf.Peers(), 1)

		var later []*Servent
		for _, addr := range []string{"127.0.0.3:6346", "127.0.0.4:6346"} {
			up := startServent(t, memConfig(t, n, addr))
			require.NoError(t, up.Connect(hub.Addr()))
			later = append(later, up)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Len(t, leaf.Peers(), 3, "found the ultrapeers that came later")
		for _, up := range later {
			assert.True(t, leaf.connected(up.Addr()), "%s", up.Addr())
			h, ok := leaf.Hosts().Get(up.Addr())
			require.True(t, ok)
			assert.True(t, h.Ultrapeer, "%s learnt as an ultrapeer", up.Addr())
			assert.Equal(t, hostcache.SourcePong, h.Source)
		}
	})
}

// An ultrapeer's Pong says so with GGEP "UP" (gtk-gnutella's version 2,
// free leaf slots, free ultrapeer slots); a leaf's does not.
func TestPongSaysUltrapeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		up := startServent(t, memConfig(t, n, "127.0.0.1:6346"))
		leaf := startServent(t, memLeafConfig(t, n, "127.0.0.2:6346"))
		for _, tc := range []struct {
			s    *Servent
			want []byte
		}{
			{up, []byte{2, DefaultMaxLeaves, DefaultMaxPeers}},
			{leaf, nil},
		} {
			nc, br := connectMemRaw(t, n, tc.s.Addr(), true)
			ping := writePing(t, nc)
			r := wire.NewReader(br, 0)
			for {
				m, err := r.ReadMessage()
				require.NoError(t, err)
				if m.Header.Type != wire.TypePong || m.Header.GUID != ping {
					continue
				}
				e, ok := m.Pong.GGEP.Get("UP")
				if tc.want == nil {
					assert.False(t, ok, "a leaf's Pong")
					break
				}
				require.True(t, ok, "an ultrapeer's Pong")
				v, err := e.Value()
				require.NoError(t, err)
				// The raw peer itself takes an ultrapeer slot.
				assert.Equal(t, []byte{2, tc.want[1], tc.want[2] - 1}, v)
				break
			}
			nc.Close()
		}
	})
}
