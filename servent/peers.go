package servent

import (
	"net/netip"
	"time"

	"github.com/govent/govent/router"
	"github.com/govent/govent/servent/sendq"
	"github.com/govent/govent/wire"
)

// What the servent tells about its established connections: one entry
// per link, with its counters, for `govent peers`, status and metrics.

// PeerInfo describes one established connection.
type PeerInfo struct {
	Addr      netip.AddrPort // the TCP peer
	Listen    netip.AddrPort // where it accepts connections, if it said
	UserAgent string
	Outgoing  bool
	Ultrapeer bool
	// Leaf says the peer is our leaf (we are its ultrapeer).
	Leaf bool
	// HasQRT says the peer sent us a complete query route table.
	HasQRT bool
	// TLS says the link runs over TLS.
	TLS   bool
	Since time.Time
	// Dropped counts descriptors for this peer that its full queue refused.
	Dropped uint64
	// Counters are the connection's traffic by direction and type.
	Counters PeerCounters
}

// PeerCounters count one connection's traffic. Received descriptors are
// counted by payload type; sent ones by send-queue class (Ping, Query, Pong,
// QueryHit, Push, control), with the queue's drops by reason.
type PeerCounters struct {
	InMessages map[wire.PayloadType]uint64
	InBytes    map[wire.PayloadType]uint64 // header included
	Out        sendq.Stats
	OutBytes   uint64 // descriptor bytes written, before compression
	WireOut    uint64 // the same bytes as they went on the socket (compressed where the link is)
	Malformed  uint64 // unparsable descriptors received
	Unrouted   uint64 // received descriptors the router dropped (router.Stats has the reasons)
}

func (c *conn) counters(st sendq.Stats) PeerCounters {
	pc := PeerCounters{
		InMessages: map[wire.PayloadType]uint64{},
		InBytes:    map[wire.PayloadType]uint64{},
		Out:        st,
		OutBytes:   c.stats.outBytes.Load(),
		WireOut:    c.stats.wireOut.Load(),
		Malformed:  c.stats.malformed.Load(),
		Unrouted:   c.s.router.PeerStats(c.id).Dropped,
	}
	for t := range c.stats.inMsgs {
		if n := c.stats.inMsgs[t].Load(); n > 0 {
			pc.InMessages[wire.PayloadType(t)] = n
			pc.InBytes[wire.PayloadType(t)] = c.stats.inBytes[t].Load()
		}
	}
	return pc
}

// Peers lists the established connections.
func (s *Servent) Peers() []PeerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PeerInfo, 0, len(s.conns))
	for _, c := range s.conns {
		st := c.q.Stats()
		var dropped uint64
		for i := range st.Class {
			dropped += st.Class[i].TotalDropped()
		}
		out = append(out, PeerInfo{
			Addr: c.peer.remote, Listen: c.peer.listen, UserAgent: c.peer.userAgent,
			Outgoing: c.peer.outgoing, Ultrapeer: c.peer.ultrapeer, Since: c.started, Dropped: dropped,
			Leaf: c.kind == router.Leaf, HasQRT: s.router.QRT(c.id) != nil, Counters: c.counters(st),
			TLS: c.peer.tls,
		})
	}
	return out
}
