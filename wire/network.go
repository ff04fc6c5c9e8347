package wire

import "net/netip"

// NetworkOf is the network an address counts against wherever one party
// must not count as many: per-network limits and shares, reporters and
// votes. It is the address's /24 for IPv4 and its /48 for IPv6, the
// longest prefixes routed between networks on the Internet, so the
// smallest block one party holds as its own: a /48 is what an IPv6 site
// is assigned (RFC 6177) and what a tunnel broker gives anyone for the
// asking. gtk-gnutella counts X-NAlt reporters (dmesh.c) and address
// votes (settings.c) by /16 and /64; its /64 is not followed, since one
// party with a /48 would speak as 65536 networks, nor its /16, which
// makes one of a whole provider's customers. An IPv4-mapped address
// counts as IPv4; an invalid one (a net.Pipe's) is the zero Prefix.
func NetworkOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}
