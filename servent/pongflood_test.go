package servent

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// One neighbour cannot replace the host cache: answering our hello Ping
// with 3000 Pongs, each a host of its own, teaches the cache at most
// maxPongsLearnt of them in pongLearnWindow, and the hosts the cache knew
// from others stay. (Pong caching answers a Ping with ten or so.)
func TestPongFloodCannotFlushTheHostCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s := startServent(t, memConfig(t, n, "127.0.0.1:6346"))
		now := time.Now()
		for i := range 200 {
			require.NoError(t, s.Hosts().Add(netip.AddrPortFrom(netip.AddrFrom4([4]byte{80, 1, byte(i), 1}), 6346), hostcache.SourcePong, false, now))
		}
		time.Sleep(time.Second)
		p := dialRawFrom(t, n.Host(ip("127.0.0.2")), s.Addr())
		p.handshake06()
		ping := p.readUntil("our hello Ping", func(m *wire.Message) bool { return m.Header.Type == wire.TypePing && m.Header.TTL == 2 })
		for i := range 3000 {
			p.send(wire.Message{Header: wire.Header{GUID: ping.Header.GUID, Type: wire.TypePong, TTL: 1, Hops: 1},
				Pong: wire.Pong{Port: 6346, Addr: netip.AddrFrom4([4]byte{90, byte(i >> 8), byte(i), 1})}})
		}
		synctest.Wait()
		var known, flood int
		for _, h := range s.Hosts().Hosts() {
			switch h.Addr.Addr().As4()[0] {
			case 80:
				known++
			case 90:
				flood++
			}
		}
		assert.LessOrEqual(t, flood, maxPongsLearnt, "hosts learnt from the flood")
		assert.Equal(t, 200, known, "the hosts known before stay")
	})
}
