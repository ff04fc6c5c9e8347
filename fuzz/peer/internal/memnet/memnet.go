// Package memnet is an in-memory TCP-like network for the fuzz-peer tests:
// listeners bound to addresses, connections with bounded buffers in each
// direction (a writer blocks when the peer does not read, as with a full
// socket buffer), deadlines, and "connection refused" when nothing listens.
//
// It exists so that the tests can run fuzzer and target inside a
// testing/synctest bubble: every wait is on a sync.Cond or a timer created
// in the bubble, so virtual time advances through silences and timeouts
// without sleeping, and the outcome does not depend on the machine's load.
package memnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// bufferSize is how much one direction of a connection holds before the
// writer blocks; loopback sockets hold a few hundred KiB.
const bufferSize = 256 << 10

// backlog is how many connections wait for Accept before Dial is refused.
const backlog = 128

// ErrRefused is what Dial returns when nothing listens on the address or
// its backlog is full.
var ErrRefused = errors.New("memnet: connection refused")

// Network holds the listeners.
type Network struct {
	mu        sync.Mutex
	listeners map[netip.AddrPort]*Listener
	nextPort  uint16
}

// New returns an empty network.
func New() *Network {
	return &Network{listeners: map[netip.AddrPort]*Listener{}, nextPort: 40000}
}

// Listen binds addr ("ip:port").
func (n *Network) Listen(addr string) (*Listener, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("memnet: listen %q: %w", addr, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.listeners[ap]; ok {
		return nil, fmt.Errorf("memnet: listen %s: address in use", ap)
	}
	l := &Listener{n: n, addr: ap}
	l.cond = sync.NewCond(&l.mu)
	n.listeners[ap] = l
	return l, nil
}

// Dial connects from local (any port) to addr. The zero local means
// 127.0.0.1.
func (n *Network) Dial(ctx context.Context, local netip.Addr, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("memnet: dial %q: %w", addr, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !local.IsValid() {
		local = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	n.mu.Lock()
	l := n.listeners[ap]
	n.nextPort++
	if n.nextPort < 40000 {
		n.nextPort = 40000
	}
	from := netip.AddrPortFrom(local, n.nextPort)
	n.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("memnet: dial %s: %w", ap, ErrRefused)
	}
	client, server := pair(from, ap)
	if !l.enqueue(server) {
		return nil, fmt.Errorf("memnet: dial %s: %w", ap, ErrRefused)
	}
	return client, nil
}

// Listener accepts connections dialled to its address.
type Listener struct {
	n      *Network
	addr   netip.AddrPort
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []*Conn
	closed bool
}

func (l *Listener) enqueue(c *Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || len(l.queue) >= backlog {
		return false
	}
	l.queue = append(l.queue, c)
	l.cond.Signal()
	return true
}

// Accept waits for the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.queue) == 0 && !l.closed {
		l.cond.Wait()
	}
	if l.closed {
		return nil, net.ErrClosed
	}
	c := l.queue[0]
	l.queue = l.queue[1:]
	return c, nil
}

// Close unbinds the address; connections waiting in the backlog are reset.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	queued := l.queue
	l.queue = nil
	l.cond.Broadcast()
	l.mu.Unlock()
	for _, c := range queued {
		c.Close()
	}
	l.n.mu.Lock()
	if l.n.listeners[l.addr] == l {
		delete(l.n.listeners, l.addr)
	}
	l.n.mu.Unlock()
	return nil
}

// Addr is the bound address.
func (l *Listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }

// pipe is one direction of a connection.
type pipe struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte
	wclose bool // the writer closed: reads drain, then EOF
	rclose bool // the reader closed: writes fail
}

func newPipe() *pipe {
	p := &pipe{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// Conn is one end of a connection.
type Conn struct {
	in, out       *pipe
	local, remote netip.AddrPort

	dmu            sync.Mutex
	rdl, wdl       time.Time
	rtimer, wtimer *time.Timer
	closed         bool
}

func pair(client, server netip.AddrPort) (*Conn, *Conn) {
	a, b := newPipe(), newPipe()
	return &Conn{in: b, out: a, local: client, remote: server},
		&Conn{in: a, out: b, local: server, remote: client}
}

func (c *Conn) deadlines() (rd, wd time.Time, closed bool) {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	return c.rdl, c.wdl, c.closed
}

// Read reads what the peer wrote.
func (c *Conn) Read(b []byte) (int, error) {
	p := c.in
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		rd, _, closed := c.deadlines()
		switch {
		case closed:
			return 0, net.ErrClosed
		case len(p.buf) > 0:
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			p.cond.Broadcast()
			return n, nil
		case p.wclose:
			return 0, io.EOF
		case !rd.IsZero() && !time.Now().Before(rd):
			return 0, os.ErrDeadlineExceeded
		}
		p.cond.Wait()
	}
}

// Write writes to the peer, blocking while its buffer is full.
func (c *Conn) Write(b []byte) (int, error) {
	p := c.out
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for n < len(b) {
		_, wd, closed := c.deadlines()
		switch {
		case closed || p.wclose:
			return n, net.ErrClosed
		case p.rclose:
			return n, fmt.Errorf("memnet: write: %w", errors.New("broken pipe"))
		case !wd.IsZero() && !time.Now().Before(wd):
			return n, os.ErrDeadlineExceeded
		case len(p.buf) < bufferSize:
			k := min(len(b)-n, bufferSize-len(p.buf))
			p.buf = append(p.buf, b[n:n+k]...)
			n += k
			p.cond.Broadcast()
			continue
		}
		p.cond.Wait()
	}
	return n, nil
}

// Close closes both directions.
func (c *Conn) Close() error {
	c.dmu.Lock()
	if c.closed {
		c.dmu.Unlock()
		return nil
	}
	c.closed = true
	c.dmu.Unlock()
	for _, p := range []*pipe{c.in, c.out} {
		p.mu.Lock()
		if p == c.in {
			p.rclose = true
			p.buf = nil
		} else {
			p.wclose = true
		}
		p.cond.Broadcast()
		p.mu.Unlock()
	}
	return nil
}

// CloseWrite half-closes: the peer reads EOF after what was written.
func (c *Conn) CloseWrite() error {
	p := c.out
	p.mu.Lock()
	p.wclose = true
	p.cond.Broadcast()
	p.mu.Unlock()
	return nil
}

func (c *Conn) LocalAddr() net.Addr  { return net.TCPAddrFromAddrPort(c.local) }
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.remote) }

func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *Conn) SetReadDeadline(t time.Time) error {
	c.dmu.Lock()
	c.rdl = t
	if c.rtimer != nil {
		c.rtimer.Stop()
		c.rtimer = nil
	}
	if !t.IsZero() {
		c.rtimer = time.AfterFunc(time.Until(t), func() { c.in.wake() })
	}
	c.dmu.Unlock()
	c.in.wake()
	return nil
}

func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.dmu.Lock()
	c.wdl = t
	if c.wtimer != nil {
		c.wtimer.Stop()
		c.wtimer = nil
	}
	if !t.IsZero() {
		c.wtimer = time.AfterFunc(time.Until(t), func() { c.out.wake() })
	}
	c.dmu.Unlock()
	c.out.wake()
	return nil
}

func (p *pipe) wake() {
	p.mu.Lock()
	p.cond.Broadcast()
	p.mu.Unlock()
}
