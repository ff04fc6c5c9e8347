package servent

import (
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/router"
	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/wire"
)

// handle delivers what the router decided for one descriptor that arrived
// on c and passed Screen: the router decides, the servent delivers. It
// runs on c's reader goroutine. A non-nil error ends the connection.
func (s *Servent) handle(c *conn, m *wire.Message) error {
	switch m.Header.Type {
	case wire.TypeBye:
		c.peerBye.Store(uint32(m.Bye.Code))
		s.log.Info("peer said Bye", zap.Stringer("peer", c.peer.remote),
			zap.Uint16("code", m.Bye.Code), zap.String("reason", clipLine(string(m.Bye.Reason()))))
		// Do not answer a Bye with one: close (the Bye spec, section 4).
		c.close(0, "")
		return errPeerBye
	case wire.TypeQRP:
		// Link-level: the peer's query route table.
		return s.handleQRP(c, m)
	case wire.TypeVendor, wire.TypeStdVendor, wire.TypeHSEP:
		// Link-level (vendor.go).
		s.handleVendor(c, m)
		return nil
	}
	var q *router.QueryHashes
	if m.Header.Type == wire.TypeQuery {
		if c.kind == router.Leaf {
			stripLeafOOB(m)
		}
		// Hashed once here; the router matches every table against them.
		c.qh.SetQuery(&m.Query)
		q = &c.qh
	}
	dec, out := s.router.Route(c.id, &m.Header, m.Payload, q, c.routeBuf[:0])
	c.routeBuf = out
	if dec.Dropped() {
		s.logDrop(c, &m.Header, dec.Reason.String())
		return nil
	}
	switch m.Header.Type {
	case wire.TypePing:
		// Pong caching: the router floods no Ping; we answer it.
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
	if len(out) > 0 {
		s.forward(c, m, dec.Header, out)
	}
	if dec.Dynamic != nil {
		// Our leaf's Query: the ultrapeers get it step by step.
		s.dynamicQuery(c, dec.Dynamic, m.Payload)
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
// it for every target, spending from's credit and noting the congested
// queues whose turn from does not hold for its input budget (awaitRoom).
func (s *Servent) forward(from *conn, m *wire.Message, h wire.Header, targets []router.PeerID) {
	h.Length = uint32(len(m.Payload))
	b := h.Append(from.fwdBuf[:0])
	b = append(b, m.Payload...)
	from.fwdBuf = b
	var buf [64]*conn
	from.credit -= len(b)
	for _, t := range s.deliver(b, targets, buf[:0]) {
		if t.q.Congested() && !from.holdsTurn(t.q) {
			from.congested = append(from.congested, t.q)
		}
		if h.Type == wire.TypeQueryHit && s.observed() {
			s.emit(Event{Kind: EventQueryHit, Peer: from.peer.name(), To: t.peer.name(), GUID: h.GUID, Hops: h.Hops})
		}
	}
}

// deliver queues one encoded routed descriptor for the router's targets
// and counts each copy as queued or dropped. It appends the targets still
// there to conns and returns it.
func (s *Servent) deliver(b []byte, targets []router.PeerID, conns []*conn) []*conn {
	s.mu.Lock()
	for _, id := range targets {
		if t := s.conns[id]; t != nil {
			conns = append(conns, t)
		} else {
			// Gone between the decision and now.
			s.stats.queueDrops.Add(1)
		}
	}
	s.mu.Unlock()
	for _, t := range conns {
		if t.enqueue(b, false) {
			s.stats.forwarded.Add(1)
		} else {
			s.stats.queueDrops.Add(1)
		}
	}
	return conns
}

// Pongs from one link the host cache learns, at most, per window: pong
// caching answers a Ping with ten or so, and a neighbour that answers with
// thousands would otherwise replace every host the cache knows.
const (
	maxPongsLearnt  = 64
	pongLearnWindow = time.Minute
)

// learnPong feeds a Pong's host, from c, to the host cache and the
// router's pong cache, within c's share (maxPongsLearnt). It runs on c's
// reader goroutine.
func (s *Servent) learnPong(c *conn, m *wire.Message) {
	p := &m.Pong
	ap := p.AddrPort()
	if !ap.IsValid() || ap.Port() == 0 {
		return
	}
	now := time.Now()
	if now.Sub(c.pongWindow) >= pongLearnWindow {
		c.pongWindow, c.pongsLearnt = now, 0
	}
	if c.pongsLearnt >= maxPongsLearnt {
		s.limited.Log(zap.InfoLevel, "Pongs over budget", "Pong not learnt: the link sent too many",
			zap.Stringer("peer", c.peer.remote), zap.Int("per_window", maxPongsLearnt), zap.Duration("window", pongLearnWindow))
		return
	}
	c.pongsLearnt++
	up := ultrapeerPong(p)
	if err := s.hosts.Add(ap, hostcache.SourcePong, up != nil, now); err != nil {
		return // unusable or our own address: not worth caching either
	}
	tls := hasTLS(&p.GGEP)
	if tls {
		s.xfer.tlsHosts.Add(ap)
	}
	s.router.LearnPong(router.Pong{Addr: ap, Files: p.Files, KB: p.KB, Hops: m.Header.Hops, UP: up, TLS: tls})
}

// ultrapeerPong returns the GGEP "UP" extension that ultrapeers put in
// Pongs, nil when there is none (or it is implausibly long).
func ultrapeerPong(p *wire.Pong) []byte {
	e, ok := p.GGEP.Get("UP")
	if !ok {
		return nil
	}
	v, err := e.Value()
	if err != nil || len(v) > router.MaxUPLen {
		return nil
	}
	return v
}

// sendPing sends one of our own Pings with the given TTL to c.
func (s *Servent) sendPing(c *conn, ttl uint8) {
	h := wire.Header{GUID: wire.NewGUID(), Type: wire.TypePing, TTL: ttl}
	s.router.RegisterOwn(&h)
	var buf [wire.HeaderLen]byte
	c.enqueue(h.Append(buf[:0]), true)
}

// answerPing sends back to the pinger the Pongs the router's pong-cache
// policy chose (router.AnswerPing: alive Pings get ours, others ours, our
// ultrapeer neighbours' and cached ones, throttled per link). hops is our
// distance from the pinger, the TTL the Pongs need.
func (s *Servent) answerPing(c *conn, m *wire.Message, hops uint8) {
	pongs := s.router.AnswerPing(c.id, &m.Header, s.ownPong(), s.neighbourAddrs(c), c.peer.listen)
	ttl := max(hops, 1)
	var b []byte
	for _, p := range pongs {
		msg := wire.Message{
			Header: wire.Header{GUID: m.Header.GUID, Type: wire.TypePong, TTL: ttl},
			Pong:   wirePong(p),
		}
		var err error
		if b, err = msg.Append(b[:0]); err != nil {
			continue // an IPv6 host cannot be put in a Pong
		}
		c.enqueue(b, true)
	}
}

// wirePong is the Pong that describes p: GGEP "UP" for an ultrapeer,
// "TLS" for a host that takes TLS.
func wirePong(p router.Pong) wire.Pong {
	w := wire.Pong{Port: p.Addr.Port(), Addr: p.Addr.Addr(), Files: p.Files, KB: p.KB}
	if p.UP != nil {
		if e, err := wire.NewGGEPExtension("UP", p.UP, false, false); err == nil {
			w.GGEP.Extensions = []wire.GGEPExtension{e}
		}
	}
	if p.TLS {
		w.GGEP.Extensions = append(w.GGEP.Extensions, tlsExtension())
	}
	return w
}

// ownPong describes us; as an ultrapeer we say so with GGEP "UP", as
// gtk-gnutella does: ultrapeer version 2, free leaf and ultrapeer slots.
func (s *Servent) ownPong() router.Pong {
	files, kb := s.sharedCounts()
	p := router.Pong{Addr: s.hostAddr(), Files: files, KB: kb, TLS: s.tlsConf != nil}
	if !s.IsLeaf() {
		s.mu.Lock()
		leaves := max(0, min(s.slotLimit(slotLeaf)-s.leafSlots, 255))
		peers := max(0, min(s.slotLimit(slotPeer)-s.slots, 255))
		s.mu.Unlock()
		p.UP = []byte{2, byte(leaves), byte(peers)}
	}
	return p
}

// neighbourAddrs lists the listening addresses of our ultrapeer
// neighbours other than c, for the Pongs that answer c's Ping.
func (s *Servent) neighbourAddrs(c *conn) []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	var addrs []netip.AddrPort
	for _, n := range s.conns {
		if n != c && n.peer.ultrapeer && n.kind != router.Leaf && n.peer.listen.IsValid() {
			addrs = append(addrs, n.peer.listen)
		}
	}
	return addrs
}

// sharedCounts returns the files and kilobytes we share, for Pongs.
func (s *Servent) sharedCounts() (files, kb uint32) {
	if s.lib == nil {
		return 0, 0
	}
	return uint32(min(s.lib.Count(), 1<<32-1)), uint32(min(s.lib.SharedKB(), 1<<32-1))
}
