package servent

import (
	"net/netip"

	"go.uber.org/zap"

	"github.com/govent/govent/wire"
)

// Our address as peers see it. Peers tell us in Remote-IP; one peer's word
// is not enough, or any peer could put the address of its choice in every
// Pong and QueryHit we send. As gtk-gnutella does (settings_addr_changed),
// an address is taken only when AddressQuorum peers on distinct networks
// name it, and a private address only from private peers (a public one
// from public peers). The choice is re-made as links come and go, and kept
// until another address wins a quorum: losing peers does not move us.

// peerNetwork is what counts as one voice: a public peer's network
// (wire.NetworkOf), or a private or loopback peer's own address (a LAN,
// or a test network on loopback, shares one /24).
func peerNetwork(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if privateAddr(a) {
		p, _ := a.Prefix(a.BitLen())
		return p
	}
	return wire.NetworkOf(a)
}

// privateAddr reports whether a is no Internet address: loopback, private,
// link-local.
func privateAddr(a netip.Addr) bool {
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()
}

// credibleReport reports whether peer may tell us that we are reported.
func credibleReport(reported, peer netip.Addr) bool {
	reported, peer = reported.Unmap(), peer.Unmap()
	return reported.IsValid() && !reported.IsUnspecified() && !reported.IsMulticast() &&
		reported.Is4() == peer.Is4() && privateAddr(reported) == privateAddr(peer)
}

// electAddrLocked re-counts the Remote-IP votes of the established links
// and moves s.elected to an address that has a quorum; s.mu is held.
func (s *Servent) electAddrLocked() {
	votes := map[netip.Addr]map[netip.Prefix]bool{}
	for _, c := range s.conns {
		r, peer := c.peer.remoteIP.Unmap(), c.peer.remote.Addr()
		if !credibleReport(r, peer) {
			continue
		}
		if votes[r] == nil {
			votes[r] = map[netip.Prefix]bool{}
		}
		votes[r][peerNetwork(peer)] = true
	}
	var best netip.Addr
	most := 0
	for a, v := range votes {
		if n := len(v); n > most || n == most && a.Less(best) {
			best, most = a, n
		}
	}
	// The address we have keeps its place on a tie.
	if most < s.cfg.AddressQuorum || best == s.elected || len(votes[s.elected]) >= most {
		return
	}
	s.log.Info("our address, as peers see it", zap.Stringer("addr", best), zap.Int("networks_agreeing", most),
		zap.Stringer("was", s.elected))
	s.elected = best
	if s.addr.Port() != 0 {
		s.hosts.SetSelf(netip.AddrPortFrom(best, s.addr.Port()))
	}
}
