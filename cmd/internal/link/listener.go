package link

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Listener takes the connections a servent under test opens to us: the
// GIV after a Push, or a servent dialling an address we advertised. It
// accepts at most a few connections and hands each over once.
type Listener struct {
	ln    net.Listener
	conns chan *Link
	done  chan struct{}
}

// maxCallbacks bounds the connections a Listener keeps waiting for the
// caller: a servent that dials us in a loop cannot pile them up.
const maxCallbacks = 8

// Listen listens on addr (host:port, port 0 for any) until Close.
func Listen(addr string) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	l := &Listener{ln: ln, conns: make(chan *Link, maxCallbacks), done: make(chan struct{})}
	go l.acceptLoop()
	return l, nil
}

// ListenFor listens on the local address that reaches target, so that a
// remote servent can dial us back on the interface it sees us on (loopback
// for a servent on loopback). Finding that address sends nothing: a UDP
// socket is only bound and routed, never written to.
func ListenFor(target string) (*Listener, error) {
	uc, err := net.Dial("udp", target)
	if err != nil {
		return nil, fmt.Errorf("finding our address towards %s: %w", target, err)
	}
	local := uc.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	uc.Close()
	return Listen(netip.AddrPortFrom(local, 0).String())
}

func (l *Listener) acceptLoop() {
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			return
		}
		select {
		case l.conns <- &Link{Conn: nc, br: bufio.NewReader(nc)}:
		default:
			nc.Close()
		}
	}
}

// Addr is where the listener accepts.
func (l *Listener) Addr() netip.AddrPort {
	return l.ln.Addr().(*net.TCPAddr).AddrPort()
}

// Accept returns the next connection the servent opened, as a Link in its
// handshake phase whose reads and writes are bounded by wait, waiting at
// most wait for it (ErrTimeout).
func (l *Listener) Accept(wait time.Duration) (*Link, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case c := <-l.conns:
		c.timeout = wait
		return c, nil
	case <-t.C:
		return nil, ErrTimeout
	case <-l.done:
		return nil, errors.New("listener closed")
	}
}

// Close stops listening and closes connections nobody took.
func (l *Listener) Close() {
	select {
	case <-l.done:
		return
	default:
	}
	close(l.done)
	l.ln.Close()
	for {
		select {
		case c := <-l.conns:
			c.Conn.Close()
		default:
			return
		}
	}
}
