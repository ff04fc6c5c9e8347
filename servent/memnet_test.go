package servent

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// memConfig is testConfig on an in-memory network, listening on listen
// ("ip:port") and dialling from that IP, for tests that run in virtual time.
func memConfig(t testing.TB, n *memnet.Network, listen string) Config {
	cfg := testConfig(t)
	cfg.Network = n.Host(netip.MustParseAddrPort(listen).Addr())
	cfg.Listen = listen
	return cfg
}

// udpConfig is memConfig with the UDP socket: for the tests of UDP, OOB
// replies, reachability and UDP host caches.
func udpConfig(t testing.TB, n *memnet.Network, listen string) Config {
	cfg := memConfig(t, n, listen)
	cfg.NoUDP = false
	return cfg
}

// memLeafConfig is memConfig for a leaf.
func memLeafConfig(t testing.TB, n *memnet.Network, listen string) Config {
	cfg := memConfig(t, n, listen)
	cfg.Mode = ModeLeaf
	return cfg
}

// connectMemRaw dials addr on n from 127.0.0.9 as a raw 0.6 ultrapeer and
// reads the servent's 200; with final it also sends the final 200 (else the
// caller does). The connection closes when the test ends.
func connectMemRaw(t *testing.T, n *memnet.Network, addr netip.AddrPort, final bool) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := n.DialFrom(context.Background(), netip.MustParseAddr("127.0.0.9"), "tcp", addr.String())
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	br := bufio.NewReader(nc)
	_, err = nc.Write([]byte(rawConnect()))
	require.NoError(t, err)
	ans, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
	require.NoError(t, err)
	require.Equal(t, status200, ans.StartLine)
	if final {
		_, err = nc.Write([]byte("GNUTELLA/0.6 200 OK\r\n\r\n"))
		require.NoError(t, err)
	}
	return nc, br
}

// writePing sends a keepalive Ping (TTL 1) and returns its GUID.
func writePing(t *testing.T, nc net.Conn) wire.GUID {
	t.Helper()
	ping := wire.Header{GUID: wire.NewGUID(), Type: wire.TypePing, TTL: 1}
	_, err := nc.Write(ping.Append(nil))
	require.NoError(t, err)
	return ping.GUID
}

// Two servents on an in-memory network, in a synctest bubble: they connect,
// a search finds the other's file, and both shut down leaving no goroutine
// behind (synctest.Test fails if one is left).
func TestServentsOnMemnet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		a := startServent(t, memConfig(t, n, "127.0.0.1:6346"))
		cfg := memConfig(t, n, "127.0.0.2:6346")
		cfg.ShareDir = shareDir(t, map[string]string{"penguin song.mp3": "flap flap"})
		b := startServent(t, cfg)
		require.NoError(t, b.Connect(a.Addr()))
		synctest.Wait()
		require.Len(t, a.Peers(), 1)
		assert.Equal(t, "127.0.0.2:6346", a.Peers()[0].Listen.String())
		assert.Equal(t, "127.0.0.2", a.Peers()[0].Addr.Addr().String(), "b dials from its own address")

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sr, err := a.Search(ctx, "penguin")
		require.NoError(t, err)
		res := collect(t, sr, 1, 5*time.Second)
		require.Len(t, res, 1)
		assert.Equal(t, "penguin song.mp3", res[0].Name)
		cancel()
		require.NoError(t, b.Close())
		require.NoError(t, a.Close())
	})
}
