package servent

import (
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/router"
	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/wire"
)

// handle routes one descriptor that arrived on c: the router decides, the
// servent delivers. It runs on c's reader goroutine. A non-nil error ends
// the connection.
func (s *Servent) handle(c *conn, m *wire.Message) error {
	switch m.Header.Type {
	case wire.TypeBye:
		c.peerBye.Store(uint32(m.Bye.Code))
		s.log.Info("peer said Bye", zap.Stringer("peer", c.peer.remote),
			zap.Uint16("code", m.Bye.Code), zap.ByteString("reason", m.Bye.Reason()))
		// Do not answer a Bye with one: close (the Bye spec, section 4).
		c.close(0, "")
		return errPeerBye
	case wire.TypeQRP:
		// Link-level: the peer's query route table.
		return s.handleQRP(c, m)
	case wire.TypeVendor, wire.TypeStdVendor, wire.TypeHSEP:
		// Link-level: read and ignored (see vendor.go).
		return nil
	}
	if m.Header.Type == wire.TypeQuery && c.q.InFlowControl() {
		// The 0.6 draft: a connection in flow control stops taking
		// Queries from its peer, whose answers it could not send anyway.
		s.stats.routeDrops.Add(1)
		return nil
	}
	dec, out := s.router.Route(c.id, &m.Header, m.Payload, c.routeBuf[:0])
	c.routeBuf = out
	if dec.Dropped() {
		c.stats.dropped.Add(1)
		s.stats.routeDrops.Add(1)
		return nil
	}
	switch m.Header.Type {
	case wire.TypePing:
		// Pong caching: Pings are answered from the cache, never
		// flooded; only the router's duplicate check applies.
		if dec.Local {
			s.answerPing(c, m, dec.Header.Hops)
		}
		return nil
	case wire.TypePong:
		s.learnPong(c, m)
	case wire.TypeQuery:
		if s.observed() {
			s.emit(Event{Kind: EventQuery, Peer: c.peer.name(), GUID: m.Header.GUID, Hops: dec.Header.Hops, Detail: string(m.Query.Criteria)})
		}
	}
	// An auto-mode leaf's router still routes: as a leaf we forward nothing.
	if len(out) > 0 && !s.IsLeaf() {
		// Our leaves' Queries are widened step by step (dynquery.go);
		// when too many are in progress, or NoDynamicQuery, they are
		// flooded like others.
		dynamic := m.Header.Type == wire.TypeQuery && c.kind == router.Leaf &&
			!s.cfg.NoDynamicQuery && s.dynamicQuery(c, m, dec.Header, out)
		if !dynamic {
			s.forward(c, m, dec.Header, out)
		}
	}
	if m.Header.Type == wire.TypeQueryHit {
		s.countHits(m.Header.GUID, len(m.QueryHit.Results))
	}
	if !dec.Local {
		return nil
	}
	switch m.Header.Type {
	case wire.TypeQuery:
		s.answerQuery(c, m, dec.Header.Hops)
	case wire.TypeQueryHit:
		s.deliverHit(c, m, dec.Header.Hops)
	case wire.TypePush:
		s.xfer.handlePush(m.Push)
	}
	return nil
}

// forward encodes the descriptor once with its outgoing header and queues
// it for every target.
func (s *Servent) forward(from *conn, m *wire.Message, h wire.Header, targets []router.PeerID) {
	h.Length = uint32(len(m.Payload))
	b := h.Append(from.fwdBuf[:0])
	b = append(b, m.Payload...)
	from.fwdBuf = b
	for _, id := range targets {
		t := s.connByID(id)
		if t == nil {
			continue
		}
		if t.enqueue(b, false) {
			s.stats.forwarded.Add(1)
		} else {
			s.stats.queueDrops.Add(1)
		}
		if h.Type == wire.TypeQueryHit && s.observed() {
			s.emit(Event{Kind: EventQueryHit, Peer: from.peer.name(), To: t.peer.name(), GUID: h.GUID, Hops: h.Hops})
		}
	}
}

// learnPong feeds a Pong's host to the host cache and the pong cache.
func (s *Servent) learnPong(c *conn, m *wire.Message) {
	p := &m.Pong
	ap := p.AddrPort()
	if !ap.IsValid() || ap.Port() == 0 {
		return
	}
	now := time.Now()
	up := ultrapeerPong(p)
	if err := s.hosts.Add(ap, hostcache.SourcePong, up != nil, now); err != nil {
		return // unusable or our own address: not worth caching either
	}
	s.pongs.add(cachedPong{addr: ap, files: p.Files, kb: p.KB, hops: m.Header.Hops, up: up, at: now})
}

// ultrapeerPong returns a copy of the GGEP "UP" extension that ultrapeers
// put in Pongs, nil when there is none (or it is implausibly long).
func ultrapeerPong(p *wire.Pong) []byte {
	e, ok := p.GGEP.Get("UP")
	if !ok {
		return nil
	}
	v, err := e.Value()
	if err != nil || len(v) > maxUPLen {
		return nil
	}
	return append(make([]byte, 0, len(v)), v...)
}

// sendPing sends one of our own Pings with the given TTL to c.
func (s *Servent) sendPing(c *conn, ttl uint8) {
	h := wire.Header{GUID: wire.NewGUID(), Type: wire.TypePing, TTL: ttl}
	s.router.RegisterOwn(&h)
	var buf [wire.HeaderLen]byte
	c.enqueue(h.Append(buf[:0]), true)
}

// answerPing sends our own Pong and cached Pongs back to the pinger, at most
// once per pingInterval per connection (the Ping flood throttle). An alive
// Ping (TTL 1, hops 0 or 1) probes the link and "MUST always be replied to"
// (0.6 section 2.2.4): it gets our one Pong whatever the throttle says, as
// gtk-gnutella does, and does not count against the throttle.
func (s *Servent) answerPing(c *conn, m *wire.Message, hops uint8) {
	now := time.Now()
	alive := m.Header.TTL == 1 && m.Header.Hops <= 1
	if !alive && now.Sub(c.lastPing) < pingInterval {
		s.stats.pingsThrottled.Add(1)
		return
	}
	if !alive {
		c.lastPing = now
	}
	ttl := max(hops, 1)
	pongs := []cachedPong{s.ownPong()}
	if !alive {
		// An alive Ping asks only about us (a keepalive); a wider one
		// gets what we know of the network too: our ultrapeer neighbours
		// first, as gtk-gnutella answers them (they are surely up), then
		// cached Pongs.
		pongs = s.neighbourPongs(pongs, c, now)
		for _, p := range s.pongs.fresh(pongsPerPing, now, c.peer.listen) {
			if len(pongs) > pongsPerPing {
				break
			}
			if !slices.ContainsFunc(pongs, func(q cachedPong) bool { return q.addr == p.addr }) {
				pongs = append(pongs, p)
			}
		}
	}
	var b []byte
	for _, p := range pongs {
		msg := wire.Message{
			Header: wire.Header{GUID: m.Header.GUID, Type: wire.TypePong, TTL: ttl},
			Pong:   wire.Pong{Port: p.addr.Port(), Addr: p.addr.Addr(), Files: p.files, KB: p.kb},
		}
		if p.up != nil {
			if e, err := wire.NewGGEPExtension("UP", p.up, false, false); err == nil {
				msg.Pong.GGEP.Extensions = []wire.GGEPExtension{e}
			}
		}
		var err error
		if b, err = msg.Append(b[:0]); err != nil {
			continue // an IPv6 host cannot be put in a Pong
		}
		c.enqueue(b, true)
	}
}

// ownPong describes us; as an ultrapeer we say so with GGEP "UP", as
// gtk-gnutella does: ultrapeer version 2, free leaf and ultrapeer slots.
func (s *Servent) ownPong() cachedPong {
	files, kb := s.sharedCounts()
	p := cachedPong{addr: s.advertised(), files: files, kb: kb}
	if !s.IsLeaf() {
		s.mu.Lock()
		leaves := max(0, min(s.slotLimit(slotLeaf)-s.leafSlots, 255))
		peers := max(0, min(s.slotLimit(slotPeer)-s.slots, 255))
		s.mu.Unlock()
		p.up = []byte{2, byte(leaves), byte(peers)}
	}
	return p
}

// neighbourPongs appends Pongs for our ultrapeer neighbours other than c,
// up to pongsPerPing in all, with what their own Pongs told us.
func (s *Servent) neighbourPongs(pongs []cachedPong, c *conn, now time.Time) []cachedPong {
	s.mu.Lock()
	var addrs []netip.AddrPort
	for _, n := range s.conns {
		if n != c && n.peer.ultrapeer && n.kind != router.Leaf && n.peer.listen.IsValid() {
			addrs = append(addrs, n.peer.listen)
		}
	}
	s.mu.Unlock()
	for _, a := range addrs {
		if len(pongs) > pongsPerPing {
			break
		}
		p, ok := s.pongs.get(a, now)
		if !ok {
			p = cachedPong{addr: a}
		}
		pongs = append(pongs, p)
	}
	return pongs
}

// sharedCounts returns the files and kilobytes we share, for Pongs.
func (s *Servent) sharedCounts() (files, kb uint32) {
	if s.lib == nil {
		return 0, 0
	}
	return uint32(min(s.lib.Count(), 1<<32-1)), uint32(min(s.lib.SharedKB(), 1<<32-1))
}
