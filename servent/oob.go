package servent

import (
	"bytes"
	"crypto/rand"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/servent/library"
	"github.com/govent/govent/wire"
)

// Out-of-band query replies, both sides, as LimeWire and gtk-gnutella do
// them (gtk-gnutella's oob.c and search.c, doc/gnutella/out-of-band-v3):
//
//   - The querier, when unsolicited UDP reaches it (reach.go), sets the OOB
//     flag in its Query, puts its address in the Query's GUID
//     (wire.OOBGUID) and an empty GGEP "SO" in the extension area to say it
//     speaks OOB v3.
//   - A responder with hits keeps them and sends LIME/12 (ReplyNumber) to
//     that address over UDP: version 3 when the Query had "SO".
//   - The querier claims them with LIME/11 (LimeACK) over UDP; for version
//     3 it carries a random security token in GGEP "SO".
//   - The responder sends the claimed hits to the claimer over UDP, the
//     token in each hit's QHD GGEP "SO"; the querier takes only hits it
//     claimed, from the address it claimed them from, with its token.
//
// Unclaimed replies expire unsent. A claim must come from the IP the GUID
// names (so a forged claim cannot turn us into a reflector aimed at a
// third party) and, for a secure reply, carry a token.

const (
	// oobExpiry is how long replies wait for their claim (gtk-gnutella:
	// 2 to 3 minutes) and how long a claim waits for its hits.
	oobExpiry = 2 * time.Minute
	// maxOOBPending bounds the replies waiting for claims, and the claims
	// waiting for hits.
	maxOOBPending = 512
	// oobHitSize is where we start a new UDP QueryHit (gtk-gnutella's
	// OOB_MAX_QHIT_SIZE): hits stay within one unfragmented datagram.
	oobHitSize = 645
	// oobTokenLen is the size of our OOB v3 token (gtk-gnutella's: 4).
	oobTokenLen = 4
)

// OOBStats count out-of-band replies (UDPStats.OOB).
type OOBStats struct {
	// Responder side: ReplyNumbers sent; replies claimed and hits sent for
	// them; replies that expired unclaimed; claims refused: for no reply
	// we hold (or held), from another address than the Query's, or
	// without the token a secure reply requires.
	Offered, Claimed, HitsSent, Unclaimed      uint64
	SpuriousClaims, ForgedClaims, TokenMissing uint64
	// Querier side: ReplyNumbers for our searches, claims sent, hits
	// taken, and hits refused (unclaimed, from elsewhere, a wrong token).
	Offers, ClaimsSent, HitsReceived, HitsRefused uint64
}

// oobReply is a reply we hold for an OOB Query until it is claimed.
type oobReply struct {
	dest    netip.AddrPort // from the Query's GUID
	files   []library.File
	secure  bool
	withH   bool // the querier reads GGEP "H" (answerQuery)
	expires time.Time
}

// oobClaim is a claim we made, waiting for its hits.
type oobClaim struct {
	from    netip.AddrPort
	token   []byte
	left    int
	expires time.Time
}

type oobState struct {
	mu      sync.Mutex
	replies map[wire.GUID]*oobReply
	claims  map[wire.GUID]*oobClaim
	swept   time.Time // the last expireLocked sweep

	offered, claimed, hitsSent, unclaimed         atomic.Uint64
	spurious, forged, tokenMissing                atomic.Uint64
	offers, claimsSent, hitsReceived, hitsRefused atomic.Uint64
}

// expireLocked drops replies and claims past their time, at most once a
// second (lookups check the time of what they find); unclaimed replies
// are counted.
func (o *oobState) expireLocked(now time.Time) {
	if now.Sub(o.swept) < time.Second && !now.Before(o.swept) {
		return
	}
	o.swept = now
	for g, r := range o.replies {
		if !now.Before(r.expires) {
			delete(o.replies, g)
			o.unclaimed.Add(1)
		}
	}
	for g, c := range o.claims {
		if !now.Before(c.expires) {
			delete(o.claims, g)
		}
	}
}

func (o *oobState) stats() OOBStats {
	o.mu.Lock()
	o.expireLocked(time.Now())
	o.mu.Unlock()
	return OOBStats{
		Offered: o.offered.Load(), Claimed: o.claimed.Load(), HitsSent: o.hitsSent.Load(), Unclaimed: o.unclaimed.Load(),
		SpuriousClaims: o.spurious.Load(), ForgedClaims: o.forged.Load(), TokenMissing: o.tokenMissing.Load(),
		Offers: o.offers.Load(), ClaimsSent: o.claimsSent.Load(), HitsReceived: o.hitsReceived.Load(), HitsRefused: o.hitsRefused.Load(),
	}
}

// oobDest returns where an OOB Query wants its replies, and whether we
// send them there: the flag is set, we have UDP, the GUID names an
// address we would accept as a host, and the querier is more than one hop
// away (hops: ours from it). As gtk-gnutella answers (search.c): a
// neighbour's Query is answered over its link, which is the reverse path
// already, costs no claim round trip and loses nothing. A firewalled
// servent answers out of band only when its hits list push proxies
// (GGEP PUSH): without them, only a Push along the Query's reverse path
// could reach it, and an OOB hit leaves no such path.
func (s *Servent) oobDest(m *wire.Message, hops uint8) (netip.AddrPort, bool) {
	f, ok := m.Query.Flags()
	if !ok || !f.Has(wire.QueryFlagOOB) || s.udp == nil || hops <= 1 {
		return netip.AddrPort{}, false
	}
	if s.cfg.Firewalled && len(s.ownProxies()) == 0 {
		return netip.AddrPort{}, false
	}
	dest := m.Header.GUID.OOBAddr()
	if dest.Port() == 0 || !s.hosts.Acceptable(dest) {
		return netip.AddrPort{}, false
	}
	return dest, true
}

// offerOOB holds files for an OOB Query and tells the querier over UDP
// (LIME/12). False means we could not (too many pending): answer in-band.
func (s *Servent) offerOOB(m *wire.Message, dest netip.AddrPort, files []library.File) bool {
	secure := false
	if g := m.Query.Ext.GGEP(); g != nil {
		_, secure = g.Get("SO")
	}
	now := time.Now()
	o := &s.oob
	o.mu.Lock()
	o.expireLocked(now)
	if o.replies == nil {
		o.replies = map[wire.GUID]*oobReply{}
	}
	if len(o.replies) >= maxOOBPending {
		o.mu.Unlock()
		return false
	}
	if _, dup := o.replies[m.Header.GUID]; dup {
		o.mu.Unlock()
		return true // the router already suppresses duplicates; this is the same Query
	}
	f, _ := m.Query.Flags()
	o.replies[m.Header.GUID] = &oobReply{dest: dest, files: files, secure: secure,
		withH: f.Has(wire.QueryFlagGGEPH), expires: now.Add(oobExpiry)}
	o.mu.Unlock()
	rn := wire.ReplyNumber{Hits: uint8(min(len(files), 255)), Unsolicited: s.reach.reachable(now), Secure: secure}
	msg := wire.Message{Header: wire.Header{GUID: m.Header.GUID, Type: wire.TypeVendor, TTL: 1}, Vendor: rn.Vendor()}
	b, err := msg.Append(nil)
	if err != nil {
		return false
	}
	// Counted before it goes: the querier may claim before we return.
	o.offered.Add(1)
	s.sendUDP(b, dest)
	return true
}

// oobClaim delivers the hits a LIME/11 claims.
func (s *Servent) oobClaim(m *wire.Message, from netip.AddrPort) {
	ack, err := wire.DecodeLimeACK(&m.Vendor)
	o := &s.oob
	if err != nil {
		o.forged.Add(1)
		s.udpLog("malformed LIME/11", from, err)
		return
	}
	now := time.Now()
	o.mu.Lock()
	o.expireLocked(now)
	r := o.replies[m.Header.GUID]
	switch {
	case r == nil || !now.Before(r.expires):
		o.mu.Unlock()
		o.spurious.Add(1)
		return
	case r.dest.Addr() != from.Addr():
		o.mu.Unlock()
		o.forged.Add(1)
		s.udpLog("LIME/11 from an address the Query did not name", from, nil)
		return
	case r.secure && ack.Token == nil:
		o.mu.Unlock()
		o.tokenMissing.Add(1)
		s.udpLog("LIME/11 without the OOB v3 token", from, nil)
		return
	}
	delete(o.replies, m.Header.GUID)
	o.mu.Unlock()
	o.claimed.Add(1)
	files := r.files
	if ack.Wanted != 255 {
		files = files[:min(len(files), int(ack.Wanted))]
	}
	for len(files) > 0 {
		n := oobBatch(files)
		b, err := s.queryHit(m.Header.GUID, 1, files[:n], r.withH, ack.Token)
		files = files[n:]
		if err != nil {
			s.log.Warn("building OOB QueryHit", zap.Error(err))
			return
		}
		o.hitsSent.Add(1)
		s.sendUDP(b, from)
	}
}

// oobBatch is how many of files go in the next UDP QueryHit: at least
// one, and no more once the names and fixed parts pass oobHitSize.
func oobBatch(files []library.File) int {
	size := wire.HeaderLen + 11 + 40 // QueryHit fixed part, QHD and GUID, roughly
	for i, f := range files {
		size += 8 + len(f.Name) + 2 + 41 // index, size, name, NULs, urn:sha1
		if i > 0 && (size > oobHitSize || i >= hitsPerQueryHit) {
			return i
		}
	}
	return len(files)
}

// oobReplyNumber claims the hits a LIME/12 offers for one of our
// searches, with a fresh token when the offer is secure.
func (s *Servent) oobReplyNumber(m *wire.Message, from netip.AddrPort, now time.Time) {
	rn, err := wire.DecodeReplyNumber(&m.Vendor)
	if err != nil {
		s.udpLog("malformed LIME/12", from, err)
		return
	}
	s.mu.Lock()
	sr := s.searches[m.Header.GUID]
	s.mu.Unlock()
	if sr == nil || !sr.oob {
		return // not ours, or it ended
	}
	o := &s.oob
	o.offers.Add(1)
	ack := wire.LimeACK{Wanted: rn.Hits}
	if rn.Secure {
		ack.Token = make([]byte, oobTokenLen)
		_, _ = rand.Read(ack.Token)
	}
	o.mu.Lock()
	o.expireLocked(now)
	if o.claims == nil {
		o.claims = map[wire.GUID]*oobClaim{}
	}
	key := claimKey(m.Header.GUID, from)
	if _, dup := o.claims[key]; dup || len(o.claims) >= maxOOBPending {
		o.mu.Unlock()
		return
	}
	o.claims[key] = &oobClaim{from: from, token: ack.Token, left: int(rn.Hits), expires: now.Add(oobExpiry)}
	o.mu.Unlock()
	v, err := ack.Vendor()
	if err != nil {
		return
	}
	msg := wire.Message{Header: wire.Header{GUID: m.Header.GUID, Type: wire.TypeVendor, TTL: 1}, Vendor: v}
	b, err := msg.Append(nil)
	if err != nil {
		return
	}
	o.claimsSent.Add(1)
	s.sendUDP(b, from)
}

// claimKey names one responder's claim for one search: the search GUID
// mixed with the responder's address, so that two responders' claims for
// the same search do not collide.
func claimKey(g wire.GUID, from netip.AddrPort) wire.GUID {
	a := from.Addr().As16()
	for i := range a {
		g[i] ^= a[i]
	}
	g[0] ^= byte(from.Port())
	g[1] ^= byte(from.Port() >> 8)
	return g
}

// oobHits takes a QueryHit that arrived over UDP: only hits we claimed,
// from the address we claimed them from, with our token when we gave one.
func (s *Servent) oobHits(m *wire.Message, from netip.AddrPort) {
	o := &s.oob
	now := time.Now()
	key := claimKey(m.Header.GUID, from)
	o.mu.Lock()
	o.expireLocked(now)
	c := o.claims[key]
	ok := c != nil && c.left > 0 && now.Before(c.expires) && (c.token == nil || bytes.Equal(hitToken(&m.QueryHit), c.token))
	if ok {
		c.left -= max(1, len(m.QueryHit.Results))
		if c.left <= 0 {
			delete(o.claims, key)
		}
	}
	o.mu.Unlock()
	if !ok {
		o.hitsRefused.Add(1)
		s.udpLog("unrequested UDP QueryHit", from, nil)
		return
	}
	o.hitsReceived.Add(1)
	// One hop, straight from the responder, as a hit from a neighbour
	// counts the link it came on (the header's Hops is the responder's
	// word, 0 from any that follows the spec, and proves nothing).
	s.deliverQueryHit(m, 1, from, true)
}

// hitToken returns the GGEP "SO" of a QueryHit's QHD private data.
func hitToken(qh *wire.QueryHit) []byte {
	if !qh.HasQHD {
		return nil
	}
	e, ok := qh.QHD.GGEP.Get("SO")
	if !ok {
		return nil
	}
	v, err := e.Value()
	if err != nil {
		return nil
	}
	return v
}
