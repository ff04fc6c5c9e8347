package netsim

import (
	"net/netip"

	"github.com/govent/govent/servent"
	"github.com/govent/govent/servent/memnet"
)

// fabric is the network the servents run on: for node k (0 is the
// bootstrap node), the network it listens and dials through, and the
// address it listens on.
type fabric interface {
	node(k int) (servent.Network, string)
}

// nodeAddr is node k's own address: 127.4.0.1 and up, in 127.0.0.0/8 so
// that a --realtime run needs nothing but loopback, and away from
// 127.0.0.1 where other servents of the machine usually are, from
// fuzz-peer's 127.1.0.0/22 and from govent workload's 127.2.0.0/16.
func nodeAddr(k int) netip.Addr {
	v := uint32(127<<24|4<<16) + 1 + uint32(k)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// memFabric is an in-memory network: each node on its own address, the
// Gnutella port.
type memFabric struct{ n *memnet.Network }

func (f memFabric) node(k int) (servent.Network, string) {
	ip := nodeAddr(k)
	return f.n.Host(ip), netip.AddrPortFrom(ip, servent.DefaultPort).String()
}

// tcpFabric is the operating system's TCP: each node on its own loopback
// address, or every node on bind's address, on free ports (the bootstrap
// node on bind's port when it has one).
type tcpFabric struct{ bind netip.AddrPort }

func (f tcpFabric) node(k int) (servent.Network, string) {
	if f.bind.IsValid() {
		port := uint16(0)
		if k == 0 {
			port = f.bind.Port()
		}
		return servent.TCPFrom(f.bind.Addr()), netip.AddrPortFrom(f.bind.Addr(), port).String()
	}
	ip := nodeAddr(k)
	return servent.TCPFrom(ip), netip.AddrPortFrom(ip, 0).String()
}
