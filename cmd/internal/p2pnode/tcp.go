package p2pnode

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/govent/govent/servent"
)

// BoundTCP is the operating system's TCP, dialling from the local address
// ip, so that a servent's peers see it at the address it listens on and
// many servents of one process are told apart by address, as the
// per-address limits expect. On Linux every 127.x.y.z is local.
func BoundTCP(ip netip.Addr) servent.Network { return boundTCP{ip} }

type boundTCP struct{ ip netip.Addr }

func (b boundTCP) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, network, address)
}

func (b boundTCP) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(b.ip, 0))}
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("p2pnode: dial from %v: %w", b.ip, err)
	}
	return c, nil
}
