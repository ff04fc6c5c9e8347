// Package memnet is an in-memory TCP-like network: listeners and stream
// connections between IP:port addresses, with bounded buffers (a writer
// blocks while its peer's buffer is full, as TCP pushes back), read and write
// deadlines, half-close, and refused dials; and UDP-like packet sockets
// (packet.go) whose datagrams are dropped, never blocked on, when nobody is
// bound or the queue is full. It is built only on channels and
// the time package, so under testing/synctest every wait is virtual: a test
// can hold a link idle for ten minutes in no real time. The servent takes it
// through Config.Network; tests and the network simulator use it to run many
// servents in one process without sockets.
//
// Addresses are literal IPs: nothing is ever resolved. Connections report
// *net.TCPAddr addresses, so code written for TCP reads them unchanged.
package memnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
)

// DefaultBufferSize is how many bytes one direction of a connection holds
// before its writer blocks: about what a loopback TCP socket buffers.
const DefaultBufferSize = 256 << 10

// backlog is how many dialled connections a listener holds before Accept
// takes them; a dial past it waits, as a SYN would be retried.
const backlog = 128

// Network is one in-memory network. The zero value is not usable; call New.
type Network struct {
	// BufferSize is the per-direction buffer of new connections; zero means
	// DefaultBufferSize.
	BufferSize int

	mu        sync.Mutex
	listeners map[netip.AddrPort]*listener
	packets   map[netip.AddrPort]*PacketConn // packet.go
	nextPort  map[netip.Addr]uint16
}

// New returns an empty network.
func New() *Network {
	return &Network{listeners: map[netip.AddrPort]*listener{}, nextPort: map[netip.Addr]uint16{}}
}

// Listen listens on address ("ip:port"; port 0 picks a free one). An
// unspecified IP (":6346", "0.0.0.0:6346") accepts dials to that port on any
// address that has no listener of its own. network must be "tcp", "tcp4" or
// "tcp6".
func (n *Network) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, opError("listen", network, nil, err)
	}
	ap, err := parseAddr(address)
	if err != nil {
		return nil, opError("listen", network, nil, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if ap.Port() == 0 {
		ap = netip.AddrPortFrom(ap.Addr(), n.freePortLocked(ap.Addr()))
	}
	if _, busy := n.listeners[ap]; busy {
		return nil, opError("listen", network, tcpAddr(ap), os.NewSyscallError("bind", syscall.EADDRINUSE))
	}
	l := &listener{n: n, addr: ap, conns: make(chan *Conn, backlog), done: make(chan struct{})}
	n.listeners[ap] = l
	return l, nil
}

// Dial connects to address from 127.0.0.1. It fails with ECONNREFUSED when
// nothing listens there.
func (n *Network) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	return n.DialFrom(ctx, netip.AddrFrom4([4]byte{127, 0, 0, 1}), network, address)
}

// DialContext is Dial under the name net.Dialer uses.
func (n *Network) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return n.Dial(ctx, network, address)
}

// DialFrom connects to address from the local IP from (a fresh port on it),
// so tests can be many hosts at once.
func (n *Network) DialFrom(ctx context.Context, from netip.Addr, network, address string) (net.Conn, error) {
	if err := checkNetwork(network); err != nil {
		return nil, opError("dial", network, nil, err)
	}
	to, err := parseAddr(address)
	if err != nil {
		return nil, opError("dial", network, nil, err)
	}
	n.mu.Lock()
	l := n.listeners[to]
	if l == nil {
		l = n.listeners[netip.AddrPortFrom(unspecifiedLike(to.Addr()), to.Port())]
	}
	local := netip.AddrPortFrom(from, n.freePortLocked(from))
	n.mu.Unlock()
	if l == nil {
		return nil, opError("dial", network, tcpAddr(to), os.NewSyscallError("connect", syscall.ECONNREFUSED))
	}
	size := n.BufferSize
	if size <= 0 {
		size = DefaultBufferSize
	}
	client, server := newPair(local, to, size)
	select {
	case l.conns <- server:
		select {
		case <-l.done:
			// The listener closed as this dial went in: its Close may
			// have reset what it found queued before this one came, and
			// no Accept takes it now. Refused, as a later dial would be.
			server.Close()
			client.Close()
		default:
			return client, nil
		}
	case <-l.done:
	case <-ctx.Done():
		return nil, opError("dial", network, tcpAddr(to), ctx.Err())
	}
	return nil, opError("dial", network, tcpAddr(to), os.NewSyscallError("connect", syscall.ECONNREFUSED))
}

// freePortLocked hands out ports from 1024 up, skipping listening ones.
func (n *Network) freePortLocked(a netip.Addr) uint16 {
	for {
		p := n.nextPort[a]
		if p < 1024 {
			p = 1024
		}
		n.nextPort[a] = p + 1
		ap := netip.AddrPortFrom(a, p)
		if _, busy := n.listeners[ap]; busy {
			continue
		}
		if _, busy := n.packets[ap]; !busy {
			return p
		}
	}
}

func (n *Network) remove(l *listener) {
	n.mu.Lock()
	if n.listeners[l.addr] == l {
		delete(n.listeners, l.addr)
	}
	n.mu.Unlock()
}

func checkNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return nil
	}
	return net.UnknownNetworkError(network)
}

// parseAddr reads "ip:port" or ":port"; host names are refused, never
// resolved.
func parseAddr(address string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if host == "" {
		host = "0.0.0.0"
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(host, port))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("memnet: %q is not a literal IP address and port: %w", address, err)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

func unspecifiedLike(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

func tcpAddr(ap netip.AddrPort) *net.TCPAddr { return net.TCPAddrFromAddrPort(ap) }

func opError(op, network string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: network, Addr: addr, Err: err}
}

// listener accepts the connections dialled to its address.
type listener struct {
	n     *Network
	addr  netip.AddrPort
	conns chan *Conn
	once  sync.Once
	done  chan struct{}
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, opError("accept", "tcp", tcpAddr(l.addr), net.ErrClosed)
	}
}

// Close stops accepting; connections dialled but not yet accepted are
// reset.
func (l *listener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.n.remove(l)
		for {
			select {
			case c := <-l.conns:
				c.Close()
			default:
				return
			}
		}
	})
	return nil
}

func (l *listener) Addr() net.Addr { return tcpAddr(l.addr) }

// Host is the network as one host sees it: its dials come from its own IP,
// so that a servent on a Host is told apart by address, as on a real
// network. It implements the servent's Network.
type Host struct {
	n  *Network
	ip netip.Addr
}

// Host returns the view of the network from ip.
func (n *Network) Host(ip netip.Addr) *Host { return &Host{n: n, ip: ip} }

// Listen is Network.Listen.
func (h *Host) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return h.n.Listen(ctx, network, address)
}

// DialContext dials from the host's IP.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return h.n.DialFrom(ctx, h.ip, network, address)
}

// LookupNetIP resolves nothing: every name is unknown (a *net.DNSError),
// so a servent on memnet never falls back to the system resolver.
func (n *Network) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return nil, &net.DNSError{Err: "memnet resolves no names", Name: host, IsNotFound: true}
}

// LookupNetIP is Network.LookupNetIP.
func (h *Host) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return h.n.LookupNetIP(ctx, network, host)
}
