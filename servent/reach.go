package servent

import (
	"net/netip"
	"sync"
	"time"

	"github.com/govent/govent/wire"
)

// UDP reachability, as gtk-gnutella judges it (src/core/inet.c): a datagram
// from an address we sent nothing to in the last fwUDPWindow could only
// reach us unsolicited, so a firewall or NAT in front of us lets strangers
// in; a datagram from an address we did send to proves only that answers
// get back. Until unsolicited traffic arrives (and again when none has for
// fwIncomingWindow) we are "UDP-firewalled": our Queries ask for in-band
// replies and our LIME/12 says we cannot take unsolicited UDP.
//
// To provoke the test rather than wait for strangers, each new link is
// asked (GTKG/7 UDP Connect Back, while we are not reachable) to send a
// UDP Ping bearing our servent GUID to our port; such a Ping counts as
// unsolicited, as in gtk-gnutella's pcache.c. While we stay unreachable,
// a few links are asked again every fwUDPWindow: a peer may have dropped
// the request (gtk-gnutella pings one address at most once a minute).

const (
	// fwUDPWindow is how long a NAT keeps a hole open for answers: "2
	// minutes, in most firewalls" (inet.c's FW_UDP_WINDOW).
	fwUDPWindow = 2 * time.Minute
	// fwIncomingWindow is how long reachability lasts without fresh
	// unsolicited traffic (FW_INCOMING_WINDOW).
	fwIncomingWindow = 30 * time.Minute
	// maxSentTo bounds the addresses remembered; past it we cannot tell
	// solicited from unsolicited and count nothing as unsolicited.
	maxSentTo = 8192
	// connectBackLinks is how many links we ask for a connect-back while
	// unreachable, before waiting for the next fwUDPWindow.
	connectBackLinks = 3
	// connectBackEvery is how often one link's connect-back requests are
	// answered.
	connectBackEvery = time.Minute
)

// reachState tracks where we sent UDP and what came back unasked.
type reachState struct {
	mu          sync.Mutex
	sentTo      map[netip.Addr]time.Time
	pruned      time.Time
	unsolicited time.Time // the last unsolicited datagram
	solicited   time.Time // the last solicited one
	asked       int       // connect-backs requested since askedAt
	askedAt     time.Time
}

// recordSent remembers that we sent to a: its answers are solicited.
func (r *reachState) recordSent(a netip.Addr, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sentTo == nil {
		r.sentTo = map[netip.Addr]time.Time{}
	}
	// Prune every window, or sooner when full, but at most once a second:
	// a flood from forged sources must not make every send scan the map.
	if now.Sub(r.pruned) >= fwUDPWindow || (len(r.sentTo) >= maxSentTo && now.Sub(r.pruned) >= time.Second) {
		r.pruned = now
		for k, t := range r.sentTo {
			if now.Sub(t) >= fwUDPWindow {
				delete(r.sentTo, k)
			}
		}
	}
	if len(r.sentTo) < maxSentTo {
		r.sentTo[a] = now
	}
}

// gotIncoming classifies one well-formed datagram from a. Private and
// loopback sources prove nothing about the Internet unless the servent
// runs where they are the network (Config.AllowPrivate).
func (r *reachState) gotIncoming(s *Servent, a netip.Addr, m *wire.Message, now time.Time) {
	if !s.cfg.AllowPrivate && (a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()) {
		return
	}
	connectBack := m.Header.Type == wire.TypePing && m.Header.GUID == s.guid
	r.mu.Lock()
	defer r.mu.Unlock()
	t, sent := r.sentTo[a]
	solicited := sent && now.Sub(t) < fwUDPWindow && len(r.sentTo) < maxSentTo
	if connectBack || (!solicited && len(r.sentTo) < maxSentTo) {
		r.unsolicited = now
	} else {
		r.solicited = now
	}
}

// reachable reports whether unsolicited UDP reached us recently.
func (r *reachState) reachable(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.unsolicited.IsZero() && now.Sub(r.unsolicited) < fwIncomingWindow
}

// askConnectBack reports whether a new link should be asked for a UDP
// connect-back now.
func (r *reachState) askConnectBack(now time.Time) bool {
	if r.reachable(now) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.askedAt) >= fwUDPWindow {
		r.askedAt, r.asked = now, 0
	}
	if r.asked >= connectBackLinks {
		return false
	}
	r.asked++
	return true
}

// wantOOB says whether our Queries ask for out-of-band replies: we have a
// UDP socket and unsolicited UDP reaches us. A leaf asks too, as
// gtk-gnutella leaves do: its ultrapeer decides (gtk-gnutella's proxies
// the Query or clears the flag, ours clears it, stripLeafOOB), since it
// counts the hits it routes back for dynamic querying.
func (s *Servent) wantOOB() bool {
	if s.udp == nil || s.cfg.Firewalled {
		return false
	}
	return s.reach.reachable(time.Now())
}

// stripLeafOOB clears the OOB flag of our leaf's Query, in the payload we
// route and in its decoded form: our dynamic querying widens a leaf's
// Query until enough hits came back through us, and hits sent out of band
// to the leaf would never be counted, so the Query would go everywhere.
// gtk-gnutella's ultrapeers do the same when they cannot OOB-proxy it
// (dq.c, query_strip_oob_flag); we do not proxy.
func stripLeafOOB(m *wire.Message) {
	f, ok := m.Query.Flags()
	if !ok || !f.Has(wire.QueryFlagOOB) {
		return
	}
	m.Query.Word &^= uint16(wire.QueryFlagOOB)
	wire.PutQueryWord(m.Payload, m.Query.Word)
}

// requestConnectBack asks the peer of a new link to UDP-ping us (GTKG/7v1
// carrying our UDP port and servent GUID), while we are not known to be
// reachable.
func (s *Servent) requestConnectBack(c *conn) {
	if s.udp == nil || !c.peer.vendorMessages || !s.reach.askConnectBack(time.Now()) {
		return
	}
	v := wire.UDPConnectBack{Port: s.udp.addr.Port(), GUID: s.guid}.Vendor()
	m := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeVendor, TTL: 1}, Vendor: v}
	if b, err := m.Append(nil); err == nil {
		c.enqueue(b, true)
	}
}

// reachLoop asks a few links for a connect-back every fwUDPWindow while
// unsolicited UDP does not reach us.
func (s *Servent) reachLoop() {
	defer s.wg.Done()
	tick := time.NewTicker(fwUDPWindow)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-s.ctx.Done():
			return
		}
		if s.reach.reachable(time.Now()) {
			continue
		}
		s.mu.Lock()
		conns := make([]*conn, 0, connectBackLinks)
		for _, c := range s.conns {
			if len(conns) == connectBackLinks {
				break
			}
			if c.peer.vendorMessages {
				conns = append(conns, c)
			}
		}
		s.mu.Unlock()
		for _, c := range conns {
			s.requestConnectBack(c)
		}
	}
}

// handleConnectBack answers a peer's GTKG/7: a UDP Ping with the GUID it
// gave, to its address at the port it named, at most once a minute per
// link (gtk-gnutella's UDP_PING_FREQ), so that a link cannot make us ping
// in a loop.
func (s *Servent) handleConnectBack(c *conn, m *wire.Message) {
	cb, err := wire.DecodeUDPConnectBack(&m.Vendor, m.Header.GUID)
	if err != nil || s.udp == nil {
		return
	}
	now := time.Now()
	last := c.connectBackAt.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < connectBackEvery || !c.connectBackAt.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	// Its Pong, if it sends one, teaches us its host.
	_ = s.pingUDP(netip.AddrPortFrom(c.peer.remote.Addr(), cb.Port), cb.GUID)
}
