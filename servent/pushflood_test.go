package servent

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// listenCount listens at ap on n and counts the connections made to it,
// closing each at once.
func listenCount(t *testing.T, n *memnet.Network, ap string) (*atomic.Int32, netip.AddrPort) {
	t.Helper()
	addr := netip.MustParseAddrPort(ap)
	ln, err := n.Host(addr.Addr()).Listen(t.Context(), "tcp", ap)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var got atomic.Int32
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			got.Add(1)
			nc.Close()
		}
	}()
	return &got, addr
}

// A Push names the address we connect to, and nothing proves it is the
// sender's: a flood of Pushes (new message IDs, so no duplicates) naming
// one victim makes us connect there at most 5 times in
// pushAnswerWindow, as gtk-gnutella answers at most PUSH_REPLY_MAX (5)
// Pushes per address in PUSH_REPLY_FREQ (30 s). Other addresses are still
// answered, and so is the victim once the window is over.
func TestPushFloodAnswersFewPerAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		cfg := memConfig(t, n, "127.0.0.1:6346")
		cfg.ShareDir = shareDir(t, map[string]string{"penguin.ogg": "feathers"})
		s := startServent(t, cfg)
		p := dialRawFrom(t, n.Host(ip("127.0.0.2")), s.Addr())
		p.handshake06()
		victim, va := listenCount(t, n, "10.9.9.9:25")
		other, oa := listenCount(t, n, "10.9.9.10:6346")
		push := func(to netip.AddrPort) {
			p.send(wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePush, TTL: 1},
				Push: wire.Push{ServentGUID: s.GUID(), Index: s.Library().All()[0].Index, Addr: to.Addr(), Port: to.Port()}})
		}
		for range 200 {
			push(va)
			time.Sleep(10 * time.Millisecond)
		}
		push(oa)
		time.Sleep(5 * time.Second)
		assert.EqualValues(t, pushAnswersPerAddr, victim.Load(), "the victim, connected to no more than its share")
		assert.EqualValues(t, 1, other.Load(), "another address is answered")

		time.Sleep(pushAnswerWindow)
		push(va)
		time.Sleep(5 * time.Second)
		assert.EqualValues(t, pushAnswersPerAddr+1, victim.Load(), "a new window")
	})
}
