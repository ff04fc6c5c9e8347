package servent

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/sendq"
	"github.com/govent/govent/wire"
)

func TestTwoServentsSearch(t *testing.T) {
	vtest(t, func(t *testing.T) {
		cfgA := testConfig(t)
		cfgA.ShareDir = shareDir(t, map[string]string{"Penny Lane.mp3": "penny lane bytes", "other.txt": "x"})
		a := startServent(t, cfgA)
		b := startServent(t, testConfig(t))
		require.NoError(t, b.Connect(a.Addr()))
		waitFor(t, "both sides connected", func() bool { return len(a.Peers()) == 1 && len(b.Peers()) == 1 })

		sr, err := b.Search(searchCtx(t), "penny")
		require.NoError(t, err)
		res := collect(t, sr, 1, 5*time.Second)
		require.Len(t, res, 1)
		assert.Equal(t, "Penny Lane.mp3", res[0].Name)
		assert.Equal(t, a.Addr(), res[0].Addr)
		assert.Equal(t, a.GUID(), res[0].ServentGUID)
		assert.Equal(t, "GOVT", res[0].Vendor)
		assert.True(t, res[0].HasSHA1)
		assert.EqualValues(t, len("penny lane bytes"), res[0].Size)
		assert.EqualValues(t, 1, res[0].Hops, "a neighbour's hit travelled one link")
	})
}

func TestPeerCountersByTypeAndDirection(t *testing.T) {
	vtest(t, func(t *testing.T) {
		cfgA := testConfig(t)
		cfgA.ShareDir = shareDir(t, map[string]string{"counted song.mp3": "bytes"})
		a := startServent(t, cfgA)
		b := startServent(t, testConfig(t))
		require.NoError(t, b.Connect(a.Addr()))
		waitFor(t, "both sides connected", func() bool { return len(a.Peers()) == 1 && len(b.Peers()) == 1 })
		sr, err := b.Search(searchCtx(t), "counted")
		require.NoError(t, err)
		require.Len(t, collect(t, sr, 1, 5*time.Second), 1)

		waitFor(t, "a counted the query", func() bool { return a.Peers()[0].Counters.InMessages[wire.TypeQuery] == 1 })
		ca := a.Peers()[0].Counters
		assert.EqualValues(t, 1, ca.InMessages[wire.TypeQuery])
		assert.Greater(t, ca.InBytes[wire.TypeQuery], uint64(wire.HeaderLen))
		assert.EqualValues(t, 1, ca.Out.Class[sendq.ClassQueryHit].Sent, "a sent one QueryHit")
		assert.Positive(t, ca.OutBytes)
		assert.Positive(t, ca.WireOut)
		waitFor(t, "b counted the hit", func() bool { return b.Peers()[0].Counters.InMessages[wire.TypeQueryHit] == 1 })
		cb := b.Peers()[0].Counters
		assert.EqualValues(t, 1, cb.Out.Class[sendq.ClassQuery].Sent, "b sent one Query")
		assert.Zero(t, cb.Malformed)
	})
}

// TestTCPFromDialsFromItsAddress: a servent on TCPFrom(ip) reaches its
// peers from ip, so they see it at the address it listens on.
func TestTCPFromDialsFromItsAddress(t *testing.T) {
	a := startServent(t, testConfig(t))
	cfg := testConfig(t)
	cfg.Listen = "127.0.0.7:0"
	cfg.Network = TCPFrom(netip.MustParseAddr("127.0.0.7"))
	b := startServent(t, cfg)
	require.NoError(t, b.Connect(a.Addr()))
	waitFor(t, "connected", func() bool { return len(a.Peers()) == 1 })
	assert.Equal(t, "127.0.0.7", a.Peers()[0].Addr.Addr().String())
}
