package servent

import "github.com/govent/govent/router"

// Stats is a snapshot of the servent's counters.
type Stats struct {
	Peers           int
	HandshakeFailed uint64
	RefusedFull     uint64
	Malformed       uint64
	// Forwarded counts the copies of routed descriptors queued for their
	// targets, QueueDrops those refused (the target's queue was full or
	// in flow control, or the target had gone): together they are
	// Router.Sent, every copy the router sent somewhere. RouteDrops is
	// Router.TotalDropped(): received descriptors the router dropped
	// (Router.Dropped has the reasons).
	Forwarded  uint64
	RouteDrops uint64
	QueueDrops uint64
	Answered   uint64
	// PingsThrottled is Router.PingsThrottled: Pings not answered for
	// coming too soon after their link's last one.
	PingsThrottled uint64
	// InputWaits counts the times a link's reader paused because a queue it
	// feeds was congested: the servent let TCP push back on the sender
	// instead of reading what it could not send.
	InputWaits uint64
	Router     router.Stats

	// Refused connections, by reason (each also logged, rate-limited):
	// RefusedFull found no slot of the kind it asked for (503 Full; a 0.4
	// connect is closed); RefusedRole asked for the wrong kind for our
	// role (a leaf takes ultrapeers only); RefusedPending and
	// RefusedPendingPerIP found too many connections in their first phase,
	// all told or from their address or network (answered 503 when they
	// speak within a second); RefusedPerIP came from an address that holds its
	// MaxPeersPerIP or MaxLeavesPerIP share (503).
	RefusedRole         uint64
	RefusedPending      uint64
	RefusedPendingPerIP uint64
	RefusedPerIP        uint64
	// EvictedPending counts the connections closed in their first phase,
	// after pendingEvictAge, to give their place to a newcomer when every
	// place was taken.
	EvictedPending uint64
	// EvictedUselessLeaves counts the leaves told Bye 202 to give their
	// slot to a newcomer leaf, having shared nothing for leafUselessGrace.
	EvictedUselessLeaves uint64
	// HTTP sessions refused with 503 (over MaxHTTPSessions with none idle
	// to close, or over MaxHTTPSessionsPerIP), and idle keep-alives closed
	// to make room for a newcomer.
	RefusedHTTP uint64
	EvictedHTTP uint64
	// QRP: links closed (Bye 413) for going over their QRP budget, and
	// for a table we would not apply (malformed, over the size limit, or
	// larger than its contents justify); QRPEncoded counts the patches we
	// encoded and compressed to send (once per table and starting point,
	// however many links take it).
	QRPOverBudget uint64
	QRPRejected   uint64
	QRPEncoded    uint64
	// DynamicQueries is how many leaf Queries are being widened now.
	DynamicQueries int
	// Push proxies and the relay (pushproxy.go, relay.go).
	PushProxy PushProxyStats
	Relay     RelayStats
	// UDP: the UDP socket, out-of-band replies and reachability.
	UDP UDPStats
	// Bootstrap: host caches contacted and what they gave.
	Bootstrap BootstrapStats
}

// Stats returns the servent's counters.
func (s *Servent) Stats() Stats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	http := s.xfer.up.SessionStats()
	rs := s.router.Stats()
	return Stats{
		Peers:           n,
		HandshakeFailed: s.stats.handshakeFailed.Load(),
		RefusedFull:     s.stats.refusedFull.Load(),
		Malformed:       s.stats.malformed.Load(),
		Forwarded:       s.stats.forwarded.Load(),
		RouteDrops:      rs.TotalDropped(),
		QueueDrops:      s.stats.queueDrops.Load(),
		Answered:        s.stats.answered.Load(),
		PingsThrottled:  rs.PingsThrottled,
		InputWaits:      s.stats.inputWaits.Load(),
		Router:          rs,

		RefusedRole:          s.stats.refusedRole.Load(),
		RefusedPending:       s.stats.refusedPending.Load(),
		RefusedPendingPerIP:  s.stats.refusedPendingPerIP.Load(),
		RefusedPerIP:         s.stats.refusedPerIP.Load(),
		EvictedPending:       s.stats.evictedPending.Load(),
		EvictedUselessLeaves: s.stats.evictedUseless.Load(),
		RefusedHTTP:          http.Refused,
		EvictedHTTP:          http.Evicted,
		QRPOverBudget:        s.stats.qrpOverBudget.Load(),
		QRPRejected:          s.stats.qrpRejected.Load(),
		QRPEncoded:           s.stats.qrpEncoded.Load(),
		DynamicQueries:       s.router.DynamicQueries(),
		PushProxy:            s.xfer.px.snapshot(),
		Relay:                s.xfer.relay.snapshot(),
		UDP:                  s.udpStats(),
		Bootstrap:            s.boot.stats(),
	}
}
