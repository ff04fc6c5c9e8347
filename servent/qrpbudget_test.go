package servent

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/router"
	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// bigTables are two tables of 2^bits slots, full enough to justify their
// size, that differ in one keyword: at 2^21 slots, patching one into the
// other is the 2 KiB PATCH that costs its receiver 2 MiB of inflating and
// applying.
func bigTables(t testing.TB, bits uint8) (a, b *router.QueryRouteTable) {
	t.Helper()
	names := make([]string, (1<<bits)/router.QRTMinFill*3/2)
	for i := range names {
		names[i] = fmt.Sprintf("k%dq", i)
	}
	a, err := router.BuildQRT(names, nil, bits)
	require.NoError(t, err)
	require.GreaterOrEqual(t, a.Present(), a.Slots()/router.QRTMinFill)
	b, err = router.BuildQRT(append(names, "zebra"), nil, bits)
	require.NoError(t, err)
	return a, b
}

// qrpMessages encodes the QRP messages bringing prev to next, 8-bit
// entries, zlib, as a peer sends them.
func qrpMessages(t testing.TB, prev, next *router.QueryRouteTable) [][]byte {
	t.Helper()
	msgs, err := router.PatchMessages(prev, next, 8, true, 4096)
	require.NoError(t, err)
	var out [][]byte
	for _, m := range msgs {
		b, err := (&wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeQRP, TTL: 1}, QRP: m}).Append(nil)
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

// rawLeaf is a raw peer that has joined s as its leaf.
func rawLeaf(t testing.TB, n *memnet.Network, from string, s *Servent) *rawPeer {
	t.Helper()
	p := dialRawFrom(t, n.Host(ip(from)), s.Addr())
	code, reason, err := p.tryHandshake(leafConnect)
	require.NoError(t, err)
	require.Equal(t, 200, code, reason)
	p.r = wire.NewReader(p.br, 0)
	return p
}

// A leaf sending hostile table updates (each a PATCH of a few hundred
// bytes that costs us 256 KiB, at 2^18 slots) is cut off once over its
// budget, with a Bye that says why, and cannot start afresh by dialling
// again; a leaf updating at an honest pace is not cut off.
func TestQRPBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s := startServent(t, lockoutConfig(t, n, "127.0.0.1:6346"))
		a, b := bigTables(t, 18)
		first := qrpMessages(t, nil, a)
		there, back := qrpMessages(t, a, b), qrpMessages(t, b, a)
		require.Len(t, there, 1)
		require.Less(t, len(there[0]), 4<<10, "a small PATCH on the wire")

		hostile := rawLeaf(t, n, "127.0.0.2", s)
		for _, m := range first {
			hostile.writeString(string(m))
		}
		for range DefaultQRPBytesPerMinute / (1 << 18) {
			// Written without checking: the servent may hang up midway.
			_, _ = hostile.nc.Write(there[0])
			_, _ = hostile.nc.Write(back[0])
		}
		bye := hostile.readBye()
		assert.EqualValues(t, wire.ByeBadQRP, bye.Code)
		assert.Equal(t, "QRP Updates Over Budget", string(bye.Reason()))
		assert.EqualValues(t, 1, s.Stats().QRPOverBudget)

		// Dialling again buys it nothing: the allowance is its address's.
		again := rawLeaf(t, n, "127.0.0.2", s)
		for _, m := range first {
			_, _ = again.nc.Write(m)
		}
		assert.EqualValues(t, wire.ByeBadQRP, again.readBye().Code)
		assert.EqualValues(t, 2, s.Stats().QRPOverBudget)

		honest := rawLeaf(t, n, "127.0.0.3", s)
		for _, m := range first {
			honest.writeString(string(m))
		}
		for range 10 {
			time.Sleep(30 * time.Second)
			honest.writeString(string(there[0]))
			honest.writeString(string(back[0]))
		}
		synctest.Wait()
		require.Len(t, s.Peers(), 1)
		assert.True(t, s.Peers()[0].HasQRT)
		assert.EqualValues(t, 2, s.Stats().QRPOverBudget)
	})
}

// A RESET to 2^21 slots followed by a table that fills almost none of
// them is refused (gtk-gnutella would have sent a smaller table); a sparse
// table of 2^17 slots, the most ultrapeers exchange, is taken.
func TestQRPTableMustJustifyItsSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s := startServent(t, lockoutConfig(t, n, "127.0.0.1:6346"))
		few := []string{"penny lane.mp3", "yesterday.ogg"}
		sparse21, err := router.BuildQRT(few, nil, 21)
		require.NoError(t, err)
		p := rawLeaf(t, n, "127.0.0.2", s)
		for _, m := range qrpMessages(t, nil, sparse21) {
			_, _ = p.nc.Write(m)
		}
		bye := p.readBye()
		assert.EqualValues(t, wire.ByeBadQRP, bye.Code)
		assert.Equal(t, "QRP Table Larger Than Its Contents", string(bye.Reason()))
		assert.EqualValues(t, 1, s.Stats().QRPRejected)

		sparse17, err := router.BuildQRT(few, nil, 17)
		require.NoError(t, err)
		q := rawLeaf(t, n, "127.0.0.3", s)
		for _, m := range qrpMessages(t, nil, sparse17) {
			q.writeString(string(m))
		}
		synctest.Wait()
		require.Len(t, s.Peers(), 1)
		assert.True(t, s.Peers()[0].HasQRT)
	})
}

// TestQRPPatchEncodedOnce: a leaf that connects to three ultrapeers encodes
// and compresses its table once, not once per link, and every ultrapeer
// holds it.
func TestQRPPatchEncodedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		var ups []*Servent
		for i := range 3 {
			ups = append(ups, startServent(t, memConfig(t, n, fmt.Sprintf("127.0.0.%d:6346", i+1))))
		}
		cfg := memLeafConfig(t, n, "127.0.0.9:6346")
		cfg.ShareDir = shareDir(t, map[string]string{"Penny Lane.mp3": "penny"})
		leaf := startServent(t, cfg)
		for _, u := range ups {
			require.NoError(t, leaf.Connect(u.Addr()))
		}
		synctest.Wait()
		for i, u := range ups {
			p := u.Peers()
			require.Len(t, p, 1)
			assert.True(t, p[0].HasQRT, "ultrapeer %d has the leaf's table", i)
		}
		assert.EqualValues(t, 1, leaf.Stats().QRPEncoded, "one patch for three links")
	})
}
