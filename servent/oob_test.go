package servent

import (
	"context"
	"crypto/sha1"
	"net/netip"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// oobQuery is a Query asking for out-of-band replies at reply, with GGEP
// "SO" (OOB v3) when secure, as gtk-gnutella sends them.
func oobQuery(t testing.TB, reply netip.AddrPort, text string, secure bool) wire.Message {
	t.Helper()
	g, err := wire.OOBGUID(wire.NewGUID(), reply)
	require.NoError(t, err)
	q := wire.Query{Criteria: []byte(text)}
	q.SetFlags(wire.QueryFlagOOB)
	if secure {
		q.Ext = wire.ExtArea{Blocks: []wire.ExtBlock{{Kind: wire.ExtGGEP, GGEP: wire.GGEP{Extensions: []wire.GGEPExtension{{ID: []byte("SO")}}}}}, Terminated: true}
	}
	// Hops 1: it comes from further away than the neighbour that relays
	// it (a neighbour's own Query is answered in-band).
	return wire.Message{Header: wire.Header{GUID: g, Type: wire.TypeQuery, TTL: 2, Hops: 1}, Query: q}
}

func limeACK(t testing.TB, g wire.GUID, wanted uint8, token []byte) wire.Message {
	t.Helper()
	v, err := wire.LimeACK{Wanted: wanted, Token: token}.Vendor()
	require.NoError(t, err)
	return wire.Message{Header: wire.Header{GUID: g, Type: wire.TypeVendor, TTL: 1}, Vendor: v}
}

// oobResponder starts an ultrapeer at 10.0.0.1 sharing one file, with a
// raw ultrapeer neighbour from 10.0.0.9 and a UDP socket there.
func oobResponder(t *testing.T, n *memnet.Network) (*Servent, *rawPeer, *udpProbe) {
	cfg := udpConfig(t, n, "10.0.0.1:6346")
	cfg.ShareDir = shareDir(t, map[string]string{"penguin song.mp3": "flap flap"})
	s := startServent(t, cfg)
	p := dialRawFrom(t, n.Host(netip.MustParseAddr("10.0.0.9")), s.Addr())
	p.handshake06()
	return s, p, newUDPProbe(t, n, "10.0.0.9:7000")
}

// The responder side, against a hand-driven querier: LIME/12 v3 for a
// secure OOB Query; a claim without the token, or from another address,
// gets nothing; the claim with it gets the hits over UDP, the token in
// their QHD; nothing goes in-band; a second claim is spurious.
func TestOOBResponderWantsTheToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s, p, u := oobResponder(t, n)
		q := oobQuery(t, u.addr(), "penguin", true)
		p.send(q)

		m, from := u.recv(5 * time.Second)
		require.NotNil(t, m, "a LIME/12")
		assert.Equal(t, s.Addr(), from)
		assert.Equal(t, q.Header.GUID, m.Header.GUID)
		rn, err := wire.DecodeReplyNumber(&m.Vendor)
		require.NoError(t, err)
		assert.Equal(t, wire.ReplyNumber{Hits: 1, Secure: true, Unsolicited: s.reach.reachable(time.Now())}, rn)

		u.send(limeACK(t, q.Header.GUID, 1, nil), s.Addr())
		other := newUDPProbe(t, n, "10.0.0.10:7000")
		token := []byte{9, 8, 7, 6}
		other.send(limeACK(t, q.Header.GUID, 1, token), s.Addr())
		m, _ = u.recv(time.Second)
		assert.Nil(t, m, "no hits without the token")
		m, _ = other.recv(time.Second)
		assert.Nil(t, m, "no hits for a claimer the Query did not name")
		st := s.Stats().UDP.OOB
		assert.Equal(t, uint64(1), st.TokenMissing)
		assert.Equal(t, uint64(1), st.ForgedClaims)

		u.send(limeACK(t, q.Header.GUID, 1, token), s.Addr())
		m, from = u.recv(time.Second)
		require.NotNil(t, m, "the hits")
		assert.Equal(t, s.Addr(), from)
		require.Equal(t, wire.TypeQueryHit, m.Header.Type)
		assert.Equal(t, q.Header.GUID, m.Header.GUID)
		require.Len(t, m.QueryHit.Results, 1)
		assert.Equal(t, "penguin song.mp3", string(m.QueryHit.Results[0].Name))
		assert.Equal(t, token, hitToken(&m.QueryHit), "the token is echoed in GGEP SO")

		u.send(limeACK(t, q.Header.GUID, 1, token), s.Addr())
		m, _ = u.recv(time.Second)
		assert.Nil(t, m)
		st = s.Stats().UDP.OOB
		assert.Equal(t, OOBStats{Offered: 1, Claimed: 1, HitsSent: 1, SpuriousClaims: 1, ForgedClaims: 1, TokenMissing: 1}, st)

		for {
			_ = p.nc.SetReadDeadline(time.Now().Add(time.Second))
			m, err := p.r.ReadMessage()
			if err != nil {
				break
			}
			assert.NotEqual(t, wire.TypeQueryHit, m.Header.Type, "no hit in-band")
		}
	})
}

// A reply nobody claims expires unsent; a late claim is spurious.
func TestOOBUnclaimedRepliesAreNotSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s, p, u := oobResponder(t, n)
		q := oobQuery(t, u.addr(), "penguin", false)
		p.send(q)
		m, _ := u.recv(5 * time.Second)
		require.NotNil(t, m)
		rn, err := wire.DecodeReplyNumber(&m.Vendor)
		require.NoError(t, err)
		assert.False(t, rn.Secure, "no SO in the Query, a v2 reply")

		time.Sleep(oobExpiry)
		assert.Equal(t, uint64(1), s.Stats().UDP.OOB.Unclaimed)
		u.send(limeACK(t, q.Header.GUID, 255, nil), s.Addr())
		m, _ = u.recv(time.Second)
		assert.Nil(t, m, "expired replies are gone")
		assert.Equal(t, uint64(1), s.Stats().UDP.OOB.SpuriousClaims)
		assert.Zero(t, s.Stats().UDP.OOB.HitsSent)
	})
}

// sharerAndQuerier starts a responder at 10.0.0.1 sharing one file and a
// querier at 10.0.0.2 (configured by tweak) linked to it, and waits for
// the link.
func sharerAndQuerier(t *testing.T, n *memnet.Network, tweak func(*Config)) (up, q *Servent) {
	ucfg := udpConfig(t, n, "10.0.0.1:6346")
	ucfg.ShareDir = shareDir(t, map[string]string{"penguin song.mp3": "flap flap"})
	up = startServent(t, ucfg)
	qcfg := udpConfig(t, n, "10.0.0.2:6346")
	qcfg.Peers = []string{up.Addr().String()}
	tweak(&qcfg)
	q = startServent(t, qcfg)
	synctest.Wait()
	require.Len(t, q.Peers(), 1)
	return up, q
}

// sharerTwoHopsAway starts a responder at 10.0.0.1 sharing one file, an
// ultrapeer at 10.0.0.3 linked to it, and a querier at 10.0.0.2 linked to
// the ultrapeer only.
func sharerTwoHopsAway(t *testing.T, n *memnet.Network) (up, q *Servent) {
	ucfg := udpConfig(t, n, "10.0.0.1:6346")
	ucfg.ShareDir = shareDir(t, map[string]string{"penguin song.mp3": "flap flap"})
	up = startServent(t, ucfg)
	mcfg := udpConfig(t, n, "10.0.0.3:6346")
	mcfg.Peers = []string{up.Addr().String()}
	mid := startServent(t, mcfg)
	qcfg := udpConfig(t, n, "10.0.0.2:6346")
	qcfg.Peers = []string{mid.Addr().String()}
	q = startServent(t, qcfg)
	synctest.Wait()
	require.Len(t, q.Peers(), 1)
	require.Len(t, mid.Peers(), 2)
	return up, q
}

// Govents: the querier learns it is reachable (its neighbour answers the
// connect-back request), so its search asks for OOB replies; the
// responder two hops away sends its hits over UDP, claimed with the
// token; a forged hit for the same search is refused.
func TestOOBBetweenGovents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		up, leaf := sharerTwoHopsAway(t, n)
		require.True(t, leaf.Stats().UDP.Reachable, "the connect-back Ping arrived")

		sr, err := leaf.Search(searchCtx(t), "penguin")
		require.NoError(t, err)
		assert.Equal(t, leaf.Addr(), sr.GUID.OOBAddr(), "our address in the GUID")
		res := collect(t, sr, 1, 5*time.Second)
		require.Len(t, res, 1)
		assert.Equal(t, "penguin song.mp3", res[0].Name)
		assert.Equal(t, uint8(1), res[0].Hops, "straight from the responder")
		assert.True(t, res[0].OOB, "out of band")
		assert.Equal(t, up.Addr(), res[0].Via)
		synctest.Wait() // the responder counts what it sent after sending it
		// Counted as descriptors, over UDP: the LIME/12 offer and the
		// hit in, the LIME/11 claim out; the reverse at the responder.
		lu, uu := leaf.Stats().UDP, up.Stats().UDP
		assert.Equal(t, uint64(1), lu.InMessages[wire.TypeQueryHit])
		assert.Equal(t, uint64(1), lu.InMessages[wire.TypeVendor])
		assert.Positive(t, lu.InBytes[wire.TypeQueryHit])
		assert.Equal(t, uint64(1), lu.OutMessages[wire.TypeVendor])
		assert.Equal(t, uint64(1), uu.OutMessages[wire.TypeQueryHit])
		assert.Equal(t, lu.InBytes[wire.TypeQueryHit], uu.OutBytes[wire.TypeQueryHit])

		ust, lst := up.Stats().UDP.OOB, leaf.Stats().UDP.OOB
		assert.Equal(t, uint64(1), ust.Offered)
		assert.Equal(t, uint64(1), ust.Claimed)
		assert.Zero(t, ust.TokenMissing, "the leaf's claim carried the token")
		assert.Equal(t, uint64(1), lst.ClaimsSent)
		assert.Equal(t, uint64(1), lst.HitsReceived)
		assert.Zero(t, leaf.Peers()[0].Counters.InMessages[wire.TypeQueryHit], "nothing in-band")

		// A stranger sends a hit for our search, unclaimed.
		forger := newUDPProbe(t, n, "10.0.0.66:6346")
		b, err := up.queryHit(sr.GUID, 1, up.Library().Search("penguin", 1), false, nil)
		require.NoError(t, err)
		forger.sendRaw(b, leaf.Addr())
		synctest.Wait()
		assert.Equal(t, uint64(1), leaf.Stats().UDP.OOB.HitsRefused)
		assert.Empty(t, collect(t, sr, 1, time.Second))
	})
}

// A leaf reachable over UDP asks for out-of-band replies, as gtk-gnutella
// leaves do; its Govent ultrapeer, which does not proxy them, clears the
// flag (as gtk-gnutella's does when it cannot proxy, dq.c), so that the
// hits come back through it, where dynamic querying counts them: its own
// answer and a neighbour's, both in-band.
func TestLeafOOBQueryComesBackInBand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		up, leaf := sharerAndQuerier(t, n, func(c *Config) { c.Mode = ModeLeaf })
		other := udpConfig(t, n, "10.0.0.3:6346")
		other.ShareDir = shareDir(t, map[string]string{"penguin dance.mp3": "shuffle"})
		other.Peers = []string{up.Addr().String()}
		sharer := startServent(t, other)
		synctest.Wait()
		require.True(t, leaf.Stats().UDP.Reachable)
		require.Len(t, sharer.Peers(), 1)

		sr, err := leaf.Search(searchCtx(t), "penguin")
		require.NoError(t, err)
		assert.Equal(t, leaf.Addr(), sr.GUID.OOBAddr(), "an OOB Query: our address in the GUID")
		res := collect(t, sr, 2, 10*time.Second)
		require.Len(t, res, 2)
		hops := map[string]uint8{}
		for _, r := range res {
			assert.False(t, r.OOB, "%s came in-band", r.Name)
			hops[r.Name] = r.Hops
		}
		assert.Equal(t, map[string]uint8{"penguin song.mp3": 1, "penguin dance.mp3": 2}, hops)
		assert.Zero(t, up.Stats().UDP.OOB.Offered+sharer.Stats().UDP.OOB.Offered, "nobody was asked for OOB replies")
		assert.Zero(t, leaf.Stats().UDP.OOB.Offers)
		assert.Equal(t, uint64(2), leaf.Peers()[0].Counters.InMessages[wire.TypeQueryHit])
	})
}

// A neighbour's OOB Query is answered over the link, as gtk-gnutella
// does: the link is the reverse path already.
func TestOOBQueryOfANeighbourAnsweredInBand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up, q := sharerAndQuerier(t, memnet.New(), func(*Config) {})
		require.True(t, q.Stats().UDP.Reachable)
		sr, err := q.Search(searchCtx(t), "penguin")
		require.NoError(t, err)
		assert.Equal(t, q.Addr(), sr.GUID.OOBAddr(), "an OOB Query")
		res := collect(t, sr, 1, 5*time.Second)
		require.Len(t, res, 1)
		assert.False(t, res[0].OOB)
		assert.Equal(t, uint8(1), res[0].Hops)
		assert.Zero(t, up.Stats().UDP.OOB.Offered)
		assert.Equal(t, uint64(1), q.Peers()[0].Counters.InMessages[wire.TypeQueryHit])
	})
}

// A querier that unsolicited UDP does not reach (here: its only UDP
// traffic comes from private addresses, which prove nothing) asks for
// in-band hits and gets them over its link.
func TestInBandWhenNotUDPReachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up, leaf := sharerAndQuerier(t, memnet.New(), func(c *Config) { c.AllowPrivate = false })
		require.False(t, leaf.Stats().UDP.Reachable)

		sr, err := leaf.Search(searchCtx(t), "penguin")
		require.NoError(t, err)
		res := collect(t, sr, 1, 5*time.Second)
		require.Len(t, res, 1)
		assert.Equal(t, uint8(1), res[0].Hops, "through the link")
		assert.Zero(t, up.Stats().UDP.OOB.Offered)
		assert.Equal(t, uint64(1), leaf.Peers()[0].Counters.InMessages[wire.TypeQueryHit])
	})
}

// A firewalled leaf with a push proxy answers out of band (its hits list
// the proxy in GGEP PUSH); the downloader, which has no route for a Push
// to an OOB responder, asks the proxy and gets the file. Without the
// proxy, the download fails saying why.
func TestOOBHitFromFirewalledLeafDownloadsThroughItsProxy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		body := randomBytes(100<<10, 21)
		up := startServent(t, udpConfig(t, n, "10.0.0.1:6346"))
		lc := udpConfig(t, n, "10.0.0.2:6346")
		lc.Mode, lc.Firewalled = ModeLeaf, true
		lc.ShareDir = shareDir(t, map[string]string{"far away.bin": string(body)})
		lc.Peers = []string{up.Addr().String()}
		leaf := startServent(t, lc)
		dc := udpConfig(t, n, "10.0.0.3:6346")
		dc.DownloadDir = t.TempDir()
		dc.Peers = []string{up.Addr().String()}
		down := startServent(t, dc)
		synctest.Wait()
		require.Equal(t, []netip.AddrPort{up.Addr()}, leaf.ownProxies())
		require.True(t, down.Stats().UDP.Reachable)

		sr, err := down.Search(searchCtx(t), "far away")
		require.NoError(t, err)
		res := collect(t, sr, 1, 5*time.Second)
		require.Len(t, res, 1)
		r := res[0]
		assert.True(t, r.OOB, "two hops away: out of band")
		assert.True(t, r.Push)
		assert.Equal(t, []netip.AddrPort{up.Addr()}, r.Proxies)
		assert.Equal(t, uint64(1), leaf.Stats().UDP.OOB.HitsSent)
		_, routed := down.router.PushRoute(leaf.GUID())
		assert.False(t, routed, "no route for a Push: the hit did not come along one")

		req := RequestOf(r)
		got, err := down.Download(searchCtx(t), req)
		require.NoError(t, err)
		data, err := os.ReadFile(got.Path)
		require.NoError(t, err)
		assert.Equal(t, sha1.Sum(body), sha1.Sum(data))
		assert.Positive(t, up.Stats().PushProxy.Sent, "Pushes sent by the proxy")

		// The same source, its proxies unknown (neither remembered from
		// its hit nor carried by the source): the download asks for its
		// urn first, and the hit teaches them again.
		down.xfer.px.known.Remove(leaf.GUID())
		req.Sources[0].Proxies = nil
		req.Name = "again.bin"
		_, err = down.Download(searchCtx(t), req)
		require.NoError(t, err)

		// Gone, so that no hit answers: a clear error.
		require.NoError(t, leaf.Close())
		synctest.Wait()
		down.xfer.px.known.Remove(leaf.GUID())
		req.Name = "third.bin"
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // past the search for a route
		defer cancel()
		_, err = down.Download(ctx, req)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "lists no push proxy")
		assert.Contains(t, err.Error(), "no route for a Push to "+leaf.GUID().String())
	})
}
