package servent

import (
	"bufio"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The slots a link holds, on loopback TCP: a short-lived tool (govent
// search, get, browse) takes the slot kind it needs and gives it back when
// it goes, and the per-address shares hold against a crowd of sockets.

// loopbackDaemon is a servent on loopback TCP with the per-address limits
// at their defaults, as a daemon on the Internet has them: everything the
// tests connect from 127.0.0.1 counts as one address.
func loopbackDaemon(t *testing.T, mode Mode) *Servent {
	cfg := testConfig(t)
	cfg.Mode = mode
	cfg.MaxPendingPerIP, cfg.MaxPeersPerIP, cfg.MaxLeavesPerIP = 0, 0, 0
	cfg.ShareDir = shareDir(t, map[string]string{"walrus.txt": "tusks"})
	return startServent(t, cfg)
}

// toolConfig is a servent as govent search starts one (startClient in
// cmd/govent): one peer, Transient, on loopback.
func toolConfig(t *testing.T) Config {
	cfg := testConfig(t)
	cfg.MaxPeers = 1
	cfg.Transient = true
	return cfg
}

// searchOnce is one govent search: connect, query, get the result, go.
func searchOnce(t *testing.T, d *Servent) {
	t.Helper()
	tool := startServent(t, toolConfig(t))
	require.NoError(t, tool.Connect(d.Addr()))
	sr, err := tool.Search(searchCtx(t), "walrus")
	require.NoError(t, err)
	require.Len(t, collect(t, sr, 1, rawWait), 1, "the search gets its result")
	require.NoError(t, tool.Close())
}

// slotsHeld is what s counts as held: ultrapeer and leaf slots, and the
// per-address shares of the peers that dialled it.
func slotsHeld(s *Servent) (peers, leaves, addrs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slots, s.leafSlots, len(s.slotsByAddr)
}

// Short-lived tools from the address of a daemon's real peers take none of
// the ultrapeer slots those peers need: a tool says it is a leaf and holds
// a leaf slot, and two real ultrapeers from its address get in while it
// runs and after a few searches have come and gone.
func TestToolTakesLeafSlot(t *testing.T) {
	d := loopbackDaemon(t, ModeUltrapeer)
	for range 5 {
		searchOnce(t, d)
	}
	tool := startServent(t, toolConfig(t))
	require.NoError(t, tool.Connect(d.Addr()), "a search under way")
	waitFor(t, "the tool's link", func() bool { return len(d.Peers()) == 1 })
	assert.True(t, d.Peers()[0].Leaf, "the tool holds a leaf slot")
	for i := range DefaultMaxPeersPerIP {
		p := dialRaw(t, d.Addr())
		code, reason, err := p.tryHandshake(rawConnect())
		require.NoError(t, err)
		assert.Equal(t, 200, code, "real ultrapeer %d: %s", i, reason)
	}
	assert.Zero(t, d.Stats().RefusedPerIP)
}

// A daemon that is a leaf takes ultrapeers only: a tool that it refuses as
// a leaf asks again as an ultrapeer, and its search, sent at once, finds
// the daemon's files (before the daemon's query route table is in: it
// found nothing in 10 s when the tool sent its own Queries only to leaves
// whose tables match).
func TestToolThroughLeafDaemon(t *testing.T) {
	d := loopbackDaemon(t, ModeLeaf)
	searchOnce(t, d)
	assert.EqualValues(t, 1, d.Stats().RefusedRole, "first asked as a leaf")
}

// A slot is given back when its link goes, however it goes: tools that
// said Bye, and raw peers that closed without one right after their
// handshake. Once the daemon has seen them go it holds no slot at all.
func TestSlotsFreedWhenLinksGo(t *testing.T) {
	d := loopbackDaemon(t, ModeUltrapeer)
	for range 3 {
		searchOnce(t, d)
		for _, connect := range []string{rawConnect(), leafConnect} {
			p := dialRaw(t, d.Addr())
			code, reason, err := p.tryHandshake(connect)
			require.NoError(t, err)
			require.Equal(t, 200, code, reason)
			p.nc.Close()
		}
	}
	waitFor(t, "every link gone", func() bool { return len(d.Peers()) == 0 })
	waitFor(t, "every slot free", func() bool {
		peers, leaves, addrs := slotsHeld(d)
		return peers == 0 && leaves == 0 && addrs == 0
	})
}

// A few hundred sockets at once from one address hold no more than its
// shares: DefaultMaxPeersPerIP ultrapeer and DefaultMaxLeavesPerIP leaf
// slots, however many handshakes get through its first-phase cap, and a
// peer from another address still gets in.
func TestPerAddressSharesHoldAgainstACrowd(t *testing.T) {
	d := loopbackDaemon(t, ModeUltrapeer)
	const crowd = 300
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		got   = map[string]int{}
		conns []net.Conn
	)
	for i := range crowd {
		connect, kind := rawConnect(), "ultrapeer"
		if i%2 == 0 {
			connect, kind = leafConnect, "leaf"
		}
		wg.Go(func() {
			nc, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(d.Addr()))
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			p := &rawPeer{t: t, nc: nc, br: bufio.NewReader(nc)}
			code, _, err := p.tryHandshake(connect)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				got["closed"]++
			case code == 200:
				got[kind]++
			default:
				got["refused"]++
			}
		})
	}
	wg.Wait()
	t.Logf("%d sockets from one address: %v", crowd, got)
	assert.LessOrEqual(t, got["ultrapeer"], DefaultMaxPeersPerIP)
	assert.LessOrEqual(t, got["leaf"], DefaultMaxLeavesPerIP)
	assert.LessOrEqual(t, len(d.Peers()), DefaultMaxPeersPerIP+DefaultMaxLeavesPerIP)

	other := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: rawWait}
	nc, err := other.Dial("tcp", d.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	p := &rawPeer{t: t, nc: nc.(*net.TCPConn), br: bufio.NewReader(nc)}
	code, reason, err := p.tryHandshake(rawConnect())
	require.NoError(t, err)
	assert.Equal(t, 200, code, "another address gets in: %s", reason)
	for _, nc := range conns {
		nc.Close()
	}
	waitFor(t, "the crowd gone", func() bool { return len(d.Peers()) == 1 })
	require.Eventually(t, func() bool {
		peers, leaves, _ := slotsHeld(d)
		return peers == 1 && leaves == 0
	}, time.Minute, 5*time.Millisecond, "only the other address's slot is held")
	assert.Equal(t, netip.MustParseAddr("127.0.0.2"), d.Peers()[0].Addr.Addr())
}
