package servent

import (
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
)

// One peer cannot choose the address we advertise with its Remote-IP;
// AddressQuorum peers from distinct addresses that agree do, and a later
// quorum moves it again.
func TestRemoteIPQuorum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		cfg := memConfig(t, n, "127.0.0.1:6346")
		cfg.Listen = "0.0.0.0:6346" // our address is for peers to tell
		cfg.MaxPeers = 32
		startServent(t, cfg)
		at := netip.MustParseAddrPort("127.0.0.1:6346")
		// advertised is what we tell a new peer in Listen-IP.
		advertised := func() string {
			p := dialRawFrom(t, n.Host(ip("127.0.0.250")), at)
			ans := p.handshake06()
			p.nc.Close()
			synctest.Wait()
			v, _ := ans.Get("Listen-IP")
			return v
		}
		say := func(from, remoteIP string) *rawPeer {
			p := dialRawFrom(t, n.Host(ip(from)), at)
			p.handshake06("Remote-IP: " + remoteIP)
			synctest.Wait()
			return p
		}
		require.Equal(t, "127.0.0.1:6346", advertised())

		say("127.0.0.2", "127.0.0.66")
		say("127.0.0.2", "127.0.0.66") // the same liar twice is one voice
		assert.Equal(t, "127.0.0.1:6346", advertised(), "one peer chose our address")
		for _, from := range []string{"127.0.0.3", "127.0.0.4", "127.0.0.5"} {
			say(from, "198.51.100.7") // loopback peers cannot know a public address of ours
		}
		assert.Equal(t, "127.0.0.1:6346", advertised(), "private peers named a public address")

		var agreeing []*rawPeer
		for _, from := range []string{"127.0.0.6", "127.0.0.7"} {
			agreeing = append(agreeing, say(from, "127.0.0.77"))
		}
		assert.Equal(t, "127.0.0.1:6346", advertised(), "two peers are no quorum")
		agreeing = append(agreeing, say("127.0.0.8", "127.0.0.77"))
		assert.Equal(t, "127.0.0.77:6346", advertised(), "three agreeing peers are")

		for _, p := range agreeing {
			p.nc.Close()
		}
		synctest.Wait()
		assert.Equal(t, "127.0.0.77:6346", advertised(), "losing the peers does not move us")
		for _, from := range []string{"127.0.0.9", "127.0.0.10", "127.0.0.11"} {
			say(from, "127.0.0.88")
		}
		assert.Equal(t, "127.0.0.88:6346", advertised(), "a new quorum moves us")
	})
}

func TestPeerNetwork(t *testing.T) {
	for _, tc := range []struct{ peer, want string }{
		{"203.0.113.9", "203.0.113.0/24"},
		{"::ffff:203.0.113.9", "203.0.113.0/24"},
		{"2001:db8:1:2::5", "2001:db8:1::/48"},
		{"127.0.0.3", "127.0.0.3/32"},
		{"192.168.1.20", "192.168.1.20/32"},
	} {
		assert.Equal(t, tc.want, peerNetwork(ip(tc.peer)).String(), tc.peer)
	}
}
