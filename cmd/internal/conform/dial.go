package conform

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/govent/govent/cmd/internal/link"
)

// How a case's connections are opened and judged: each from the next
// source address (source.go), kept for cleanup and evidence, and looked at
// afterwards for refusals that are about our address rather than about
// what the case tests.

// Resolver looks names up; net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// resolveTarget returns the address of target (host:port). A name is
// looked up once, with r (nil: net.DefaultResolver), bounded by timeout;
// of its addresses the first IPv4 one is taken, else the first. Every
// connection of the run then goes to that address, so that a name is
// tested exactly as its address would be (on loopback, each connection
// from a loopback address of its own).
func resolveTarget(ctx context.Context, r Resolver, target string, timeout time.Duration) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(target); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("conform: target %q: %w", target, err)
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil || pn == 0 {
		return netip.AddrPort{}, fmt.Errorf("conform: target %q: the port must be a number from 1 to 65535", target)
	}
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("conform: %w", err) // "lookup HOST: no such host"
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("conform: %s has no address", host)
	}
	ip := ips[0].Unmap()
	for _, a := range ips {
		if a.Unmap().Is4() {
			ip = a.Unmap()
			break
		}
	}
	return netip.AddrPortFrom(ip, uint16(pn)), nil
}

// Dial connects to the target with o (the run's timeout and the next
// source address filled in) and keeps the link for cleanup. A refused
// handshake is an error naming the status; the returned Link then shows
// the answer.
func (t *T) Dial(o link.Options) (*link.Link, error) {
	o.Timeout = t.cfg.Timeout
	l, err := t.st.connect(t.ctx, t, t.id, true, func(local netip.Addr) (*link.Link, error) {
		o.Local = local
		return link.Dial(t.ctx, t.st.addr, o)
	})
	if err != nil {
		return l, fmt.Errorf("connecting to %s: %w", t.cfg.Target, err)
	}
	return l, nil
}

// DialTCP opens a connection in its handshake phase (see link.DialTCP).
func (t *T) DialTCP() (*link.Link, error) {
	return t.st.connect(t.ctx, t, t.id, false, func(local netip.Addr) (*link.Link, error) {
		return link.DialTCP(t.ctx, t.st.addr, local, t.cfg.Timeout)
	})
}

// connect opens one connection with open from the next source (waiting
// for the pace), and records how the target took it. The link is kept by
// t when t is set. standard says open runs our own CONNECT and reads the
// answer.
func (st *runState) connect(ctx context.Context, t *T, id string, standard bool, open func(netip.Addr) (*link.Link, error)) (*link.Link, error) {
	for {
		src, waited, err := st.src.acquire(ctx)
		if t != nil {
			t.mu.Lock()
			t.paced += waited
			var gate *gateError
			if errors.As(err, &gate) && t.gated == "" {
				t.gated = "not run: " + gate.reason
			}
			t.mu.Unlock()
		}
		if err != nil {
			return nil, err
		}
		l, err := open(src.addr)
		if l == nil && src.addr.IsValid() && errors.Is(err, syscall.EADDRNOTAVAIL) && st.src.spreading() {
			// This system does not route the loopback block to us
			// (only 127.0.0.1 is configured): use the system's choice.
			st.src.noSpread()
			continue
		}
		if l == nil {
			st.src.dialed(src, id, err)
			return nil, err
		}
		if t != nil {
			t.keep(l, standard)
		}
		if standard && t != nil {
			t.observe(l)
		}
		return l, err
	}
}

// keep adds l to the case's links, for cleanup and evidence.
func (t *T) keep(l *link.Link, standard bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.links = append(t.links, l)
	t.conns++
	if standard {
		if t.standard == nil {
			t.standard = map[*link.Link]bool{}
		}
		t.standard[l] = true
	}
}

// keepCallback adds a connection the target opened to us to the case's
// links.
func (t *T) keepCallback(l *link.Link) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.links = append(t.links, l)
}

// observe shows the sources what the target answered on l, once, and
// keeps the first reason it gives why the case cannot be judged.
func (t *T) observe(l *link.Link) {
	t.mu.Lock()
	if t.observed[l] {
		t.mu.Unlock()
		return
	}
	if _, read, _ := l.Greeting(); !read {
		t.mu.Unlock()
		return
	}
	t.observed[l] = true
	standard := t.standard[l]
	t.mu.Unlock()
	why := t.st.src.answered(l, standard, t.id)
	t.mu.Lock()
	if why != "" && t.why == "" {
		t.why = why
	}
	t.mu.Unlock()
}

// unjudged is why the case's outcome says nothing about the target, or
// "": a connection it needed was not opened, or the target refused one
// of its links by a rule about our address rather than about what the
// case tests.
func (t *T) unjudged() string {
	t.mu.Lock()
	links := append([]*link.Link(nil), t.links...)
	t.mu.Unlock()
	for _, l := range links {
		t.observe(l)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gated != "" {
		return t.gated
	}
	if t.why != "" {
		return t.why
	}
	// A limit on the connections one address holds: a case that needs
	// several at once cannot run from one address, and one that needs a
	// single link met the last case's links not yet let go.
	for _, l := range links {
		h, _, err := l.Greeting()
		if err != nil || h == nil || !perAddress(h) {
			continue
		}
		for _, o := range links {
			if o != l && sameLocal(o, l) {
				return fmt.Sprintf("the target limits the connections per address (%q) and the case needs several at once; "+
					"name more local addresses with --source", h.StartLine)
			}
		}
		return fmt.Sprintf("the target limits the connections per address (%q) and still counted an earlier one from %s; "+
			"space the connections with --pace, or name more local addresses with --source", h.StartLine, localAddr(l))
	}
	return ""
}

func localAddr(l *link.Link) netip.Addr {
	ta, _ := l.Conn.LocalAddr().(*net.TCPAddr)
	if ta == nil {
		return netip.Addr{}
	}
	return ta.AddrPort().Addr().Unmap()
}

func sameLocal(a, b *link.Link) bool {
	x, y := localAddr(a), localAddr(b)
	return x.IsValid() && x == y
}

// Listen opens a listener for the target's callbacks, on the address that
// reaches the target.
func (t *T) Listen() (*link.Listener, error) {
	ln, err := link.ListenFor(t.st.addr)
	return t.keepListener(ln, err)
}

// ListenBeside opens a listener on the address l comes from: the address
// the target knows us by on that link. A servent asks for a Push to its
// own address; gtk-gnutella connects back to a loopback or private address
// only when a peer is connected from it (src/core/uploads.c,
// handle_push_request).
func (t *T) ListenBeside(l *link.Link) (*link.Listener, error) {
	ta, ok := l.Conn.LocalAddr().(*net.TCPAddr)
	if !ok {
		return t.Listen()
	}
	ln, err := link.Listen(netip.AddrPortFrom(ta.AddrPort().Addr().Unmap(), 0).String())
	return t.keepListener(ln, err)
}

func (t *T) keepListener(ln *link.Listener, err error) (*link.Listener, error) {
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.listeners = append(t.listeners, ln)
	t.mu.Unlock()
	return ln, nil
}
