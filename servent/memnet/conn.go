package memnet

import (
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is one end of an in-memory stream connection. It implements
// net.Conn and CloseWrite, like *net.TCPConn.
type Conn struct {
	local, remote netip.AddrPort
	in, out       *half // in: what the peer wrote to us; out: what we write
	closed        atomic.Bool
	rd, wd        deadline
}

// half is one direction of a connection: what one end writes and the other
// reads, bounded by limit.
type half struct {
	mu    sync.Mutex
	buf   []byte
	limit int
	fin   bool // the writer closed its side: the reader drains, then io.EOF
	gone  bool // the reader closed: writes fail, buffered bytes are dropped
	// readable and writable are closed (and replaced) when data, space or a
	// close arrives: closing a channel wakes every waiter at once.
	readable, writable chan struct{}
}

func newHalf(limit int) *half {
	return &half{limit: limit, readable: make(chan struct{}), writable: make(chan struct{})}
}

// wakeReaders and wakeWriters are called with mu held.
func (h *half) wakeReaders() { close(h.readable); h.readable = make(chan struct{}) }
func (h *half) wakeWriters() { close(h.writable); h.writable = make(chan struct{}) }

func newPair(client, server netip.AddrPort, size int) (*Conn, *Conn) {
	up, down := newHalf(size), newHalf(size)
	return &Conn{local: client, remote: server, in: down, out: up},
		&Conn{local: server, remote: client, in: up, out: down}
}

// Read reads what the peer wrote. It returns io.EOF once the peer closed
// (or half-closed) and everything before was read.
func (c *Conn) Read(p []byte) (int, error) {
	h := c.in
	for {
		if c.closed.Load() {
			return 0, c.opError("read", net.ErrClosed)
		}
		if c.rd.expired() {
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
		h.mu.Lock()
		if len(h.buf) > 0 {
			n := copy(p, h.buf)
			h.buf = h.buf[n:]
			if len(h.buf) == 0 {
				h.buf = nil
			}
			h.wakeWriters()
			h.mu.Unlock()
			return n, nil
		}
		if h.fin {
			h.mu.Unlock()
			return 0, io.EOF
		}
		wait := h.readable
		h.mu.Unlock()
		if len(p) == 0 {
			return 0, nil
		}
		if err := c.rd.wait(wait); err != nil {
			return 0, c.opError("read", err)
		}
	}
}

// Write writes p, blocking while the peer's buffer is full.
func (c *Conn) Write(p []byte) (int, error) {
	h := c.out
	written := 0
	for {
		if c.closed.Load() {
			return written, c.opError("write", net.ErrClosed)
		}
		if c.wd.expired() {
			return written, c.opError("write", os.ErrDeadlineExceeded)
		}
		h.mu.Lock()
		switch {
		case h.fin:
			h.mu.Unlock()
			return written, c.opError("write", os.NewSyscallError("write", syscall.EPIPE))
		case h.gone:
			h.mu.Unlock()
			return written, c.opError("write", os.NewSyscallError("write", syscall.ECONNRESET))
		}
		if n := min(h.limit-len(h.buf), len(p)-written); n > 0 {
			h.buf = append(h.buf, p[written:written+n]...)
			written += n
			h.wakeReaders()
		}
		if written == len(p) {
			h.mu.Unlock()
			return written, nil
		}
		wait := h.writable
		h.mu.Unlock()
		if err := c.wd.wait(wait); err != nil {
			return written, c.opError("write", err)
		}
	}
}

// Close closes both directions: the peer reads what was sent, then io.EOF;
// its further writes fail.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return c.opError("close", net.ErrClosed)
	}
	// The peer's writes are made to fail before its reads see io.EOF: a
	// peer that read to the end and then writes must meet the reset, as
	// over TCP, not slip a write in between the two.
	c.in.mu.Lock()
	c.in.gone = true
	c.in.buf = nil
	c.in.wakeReaders()
	c.in.wakeWriters()
	c.in.mu.Unlock()
	c.out.mu.Lock()
	c.out.fin = true
	c.out.wakeReaders()
	c.out.wakeWriters()
	c.out.mu.Unlock()
	return nil
}

// CloseWrite half-closes: the peer reads what was sent, then io.EOF, and we
// may still read.
func (c *Conn) CloseWrite() error {
	if c.closed.Load() {
		return c.opError("close", net.ErrClosed)
	}
	c.out.mu.Lock()
	c.out.fin = true
	c.out.wakeReaders()
	c.out.wakeWriters()
	c.out.mu.Unlock()
	return nil
}

func (c *Conn) LocalAddr() net.Addr  { return tcpAddr(c.local) }
func (c *Conn) RemoteAddr() net.Addr { return tcpAddr(c.remote) }

func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

func (c *Conn) SetReadDeadline(t time.Time) error  { c.rd.set(t); return nil }
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: tcpAddr(c.local), Addr: tcpAddr(c.remote), Err: err}
}

// deadline is one direction's deadline. Setting it wakes the waiters, so a
// deadline moved into the past interrupts a blocked Read or Write, as on a
// socket.
type deadline struct {
	mu      sync.Mutex
	t       time.Time
	changed chan struct{}
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	d.t = t
	if d.changed != nil {
		close(d.changed)
		d.changed = nil
	}
	d.mu.Unlock()
}

func (d *deadline) expired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.t.IsZero() && !time.Now().Before(d.t)
}

// wait blocks until ready is closed, the deadline passes (an error) or the
// deadline changes (nil: the caller checks again).
func (d *deadline) wait(ready <-chan struct{}) error {
	d.mu.Lock()
	if d.changed == nil {
		d.changed = make(chan struct{})
	}
	t, changed := d.t, d.changed
	d.mu.Unlock()
	var expiry <-chan time.Time
	if !t.IsZero() {
		left := time.Until(t)
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		timer := time.NewTimer(left)
		defer timer.Stop()
		expiry = timer.C
	}
	select {
	case <-ready:
		return nil
	case <-changed:
		return nil
	case <-expiry:
		return os.ErrDeadlineExceeded
	}
}
