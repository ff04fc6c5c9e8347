package memnet

import (
	"context"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// DefaultPacketQueue is how many datagrams a packet connection holds
// before further ones are dropped, as a full socket buffer drops them.
const DefaultPacketQueue = 256

// PacketConn is an in-memory UDP socket. It implements net.PacketConn and
// *net.UDPConn's ReadFromUDPAddrPort and WriteToUDPAddrPort. Datagrams are
// never blocked on: one sent to an address nobody is bound to, or to a full
// queue, is dropped silently, as UDP does.
type PacketConn struct {
	n     *Network
	local netip.AddrPort // as bound (the IP may be unspecified)
	src   netip.Addr     // the source IP of what we send
	rd    deadline

	mu       sync.Mutex
	queue    []datagram
	closed   bool
	readable chan struct{} // closed (and replaced) when a datagram or Close arrives
}

type datagram struct {
	from netip.AddrPort
	b    []byte
}

// ListenPacket binds a packet connection on address ("ip:port"; port 0
// picks a free one). An unspecified IP receives datagrams to that port on
// any address that has no socket of its own, and sends from 127.0.0.1.
// network must be "udp", "udp4" or "udp6".
func (n *Network) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	return n.listenPacket(network, address, netip.AddrFrom4([4]byte{127, 0, 0, 1}))
}

// ListenPacket binds on the host: an unspecified IP sends from the host's.
func (h *Host) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	return h.n.listenPacket(network, address, h.ip)
}

func (n *Network) listenPacket(network, address string, src netip.Addr) (*PacketConn, error) {
	switch network {
	case "udp", "udp4", "udp6":
	default:
		return nil, opError("listen", network, nil, net.UnknownNetworkError(network))
	}
	ap, err := parseAddr(address)
	if err != nil {
		return nil, opError("listen", network, nil, err)
	}
	if !ap.Addr().IsUnspecified() {
		src = ap.Addr()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.packets == nil {
		n.packets = map[netip.AddrPort]*PacketConn{}
	}
	if ap.Port() == 0 {
		ap = netip.AddrPortFrom(ap.Addr(), n.freePortLocked(ap.Addr()))
	}
	if _, busy := n.packets[ap]; busy {
		return nil, opError("listen", network, udpAddr(ap), os.NewSyscallError("bind", syscall.EADDRINUSE))
	}
	pc := &PacketConn{n: n, local: ap, src: src, readable: make(chan struct{})}
	n.packets[ap] = pc
	return pc, nil
}

// deliver queues a copy of b for the socket bound at to, if any.
func (n *Network) deliver(b []byte, from, to netip.AddrPort) {
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	n.mu.Lock()
	pc := n.packets[to]
	if pc == nil {
		pc = n.packets[netip.AddrPortFrom(unspecifiedLike(to.Addr()), to.Port())]
	}
	n.mu.Unlock()
	if pc == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed || len(pc.queue) >= DefaultPacketQueue {
		return
	}
	pc.queue = append(pc.queue, datagram{from: from, b: append([]byte(nil), b...)})
	close(pc.readable)
	pc.readable = make(chan struct{})
}

// ReadFromUDPAddrPort reads one datagram; a datagram longer than b is
// truncated, as recvfrom does.
func (pc *PacketConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		pc.mu.Lock()
		if pc.closed {
			pc.mu.Unlock()
			return 0, netip.AddrPort{}, pc.opError("read", net.ErrClosed)
		}
		if len(pc.queue) > 0 {
			d := pc.queue[0]
			pc.queue[0] = datagram{}
			pc.queue = pc.queue[1:]
			pc.mu.Unlock()
			return copy(b, d.b), d.from, nil
		}
		ready := pc.readable
		pc.mu.Unlock()
		if pc.rd.expired() {
			return 0, netip.AddrPort{}, pc.opError("read", os.ErrDeadlineExceeded)
		}
		if err := pc.rd.wait(ready); err != nil {
			return 0, netip.AddrPort{}, pc.opError("read", err)
		}
	}
}

// ReadFrom is ReadFromUDPAddrPort with a *net.UDPAddr.
func (pc *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := pc.ReadFromUDPAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, udpAddr(from), nil
}

// WriteToUDPAddrPort sends b to addr; it never blocks.
func (pc *PacketConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	pc.mu.Lock()
	closed := pc.closed
	pc.mu.Unlock()
	if closed {
		return 0, pc.opError("write", net.ErrClosed)
	}
	if !addr.IsValid() || addr.Port() == 0 {
		return 0, pc.opError("write", syscall.EINVAL)
	}
	pc.n.deliver(b, netip.AddrPortFrom(pc.src, pc.local.Port()), addr)
	return len(b), nil
}

// WriteTo is WriteToUDPAddrPort with a *net.UDPAddr.
func (pc *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, pc.opError("write", syscall.EINVAL)
	}
	return pc.WriteToUDPAddrPort(b, ua.AddrPort())
}

// Close unbinds the socket; a blocked read returns net.ErrClosed.
func (pc *PacketConn) Close() error {
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		return nil
	}
	pc.closed = true
	pc.queue = nil
	close(pc.readable)
	pc.mu.Unlock()
	pc.n.mu.Lock()
	if pc.n.packets[pc.local] == pc {
		delete(pc.n.packets, pc.local)
	}
	pc.n.mu.Unlock()
	return nil
}

func (pc *PacketConn) LocalAddr() net.Addr { return udpAddr(pc.local) }

// SetDeadline sets the read deadline; writes never block.
func (pc *PacketConn) SetDeadline(t time.Time) error { return pc.SetReadDeadline(t) }

func (pc *PacketConn) SetReadDeadline(t time.Time) error { pc.rd.set(t); return nil }

// SetWriteDeadline is accepted and ignored: writes never block.
func (pc *PacketConn) SetWriteDeadline(t time.Time) error { return nil }

func (pc *PacketConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: udpAddr(pc.local), Err: err}
}

func udpAddr(ap netip.AddrPort) *net.UDPAddr { return net.UDPAddrFromAddrPort(ap) }
