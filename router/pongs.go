package router

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/govent/govent/wire"
)

// Pong caching (gtk-gnutella doc/gnutella/ping-pong): Pings are never
// flooded. Route hands every Ping that passes its duplicate and TTL checks
// to this servent, which answers it from the Pongs its neighbours sent
// recently: Ping traffic stays one hop and the pinger still hears of hosts
// further away.
const (
	// PongCacheSize is how many Pongs the cache keeps, one per address.
	PongCacheSize = 64
	// PongCacheMaxAge is how long a cached Pong stays good.
	PongCacheMaxAge = 5 * time.Minute
	// PongsPerPing is how many Pongs beyond our own answer a Ping.
	PongsPerPing = 10
	// PingInterval is the least time between two Pings we answer in full
	// from one peer; more frequent ones are dropped (the Ping flood
	// throttle). Alive Pings are always answered.
	PingInterval = time.Second
)

// Pong is a host as a Pong describes it: cached from a neighbour's Pong, or
// ours, to answer Pings with.
type Pong struct {
	Addr      netip.AddrPort
	Files, KB uint32
	Hops      uint8
	// UP is the GGEP "UP" value of an ultrapeer's Pong (gtk-gnutella:
	// ultrapeer version, free leaf slots, free ultrapeer slots), passed on
	// as it came so that whoever learns the host knows it is one; nil for
	// other hosts.
	UP []byte
	// TLS: the host said it takes TLS (GGEP "TLS"), passed on with it.
	TLS bool
	At  time.Time // when it was cached
}

// MaxUPLen bounds the GGEP "UP" value a cached Pong keeps (gtk-gnutella's
// has 3 bytes).
const MaxUPLen = 8

// pongCache keeps the most recent Pong per address, bounded in size.
type pongCache struct {
	mu      sync.Mutex
	entries []Pong // oldest first
}

// LearnPong caches a neighbour's Pong as of now, replacing an older one for
// the same address. A UP value over MaxUPLen is not kept.
func (r *Router) LearnPong(p Pong) {
	if len(p.UP) > MaxUPLen {
		p.UP = nil
	}
	p.UP = slices.Clone(p.UP)
	p.At = r.cfg.Now()
	c := &r.pongs
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.entries {
		if e.Addr == p.Addr {
			c.entries = append(c.entries[:i], c.entries[i+1:]...)
			break
		}
	}
	if len(c.entries) == PongCacheSize {
		c.entries = append(c.entries[:0], c.entries[1:]...)
	}
	c.entries = append(c.entries, p)
}

// CachedPong returns the fresh cached Pong of addr, if there is one.
func (r *Router) CachedPong(addr netip.AddrPort) (Pong, bool) {
	now := r.cfg.Now()
	c := &r.pongs
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.Addr == addr && now.Sub(e.At) <= PongCacheMaxAge {
			return e, true
		}
	}
	return Pong{}, false
}

// AnswerPing decides the answer to a Ping from peer that Route handed us:
// the Pongs to send back (with the Ping's GUID), ours first, or nil when the
// Ping flood throttle drops it. h is the Ping's header as received.
//
// An alive Ping (TTL 1, hops 0 or 1) probes the link and "MUST always be
// replied to" (0.6 section 2.2.4): it gets our one Pong whatever the
// throttle says, as gtk-gnutella does, and does not count against the
// throttle. A wider one, at most once per PingInterval per peer, gets what
// we know of the network too: our ultrapeer neighbours first (their
// listening addresses, from the caller, the asker left out: they are
// surely up, and gtk-gnutella answers so), then cached Pongs, newest first,
// never the asker's own address, up to PongsPerPing.
func (r *Router) AnswerPing(from PeerID, h *wire.Header, own Pong, neighbours []netip.AddrPort, asker netip.AddrPort) []Pong {
	p := r.peers.Load().get(from)
	if p == nil {
		return nil
	}
	alive := h.TTL == 1 && h.Hops <= 1
	if alive {
		return []Pong{own}
	}
	now := r.now()
	if last := p.lastPing.Load(); now-last < int64(PingInterval) || !p.lastPing.CompareAndSwap(last, now) {
		r.stats[0].add(cPingsThrottled, 1)
		return nil
	}
	pongs := []Pong{own}
	for _, a := range neighbours {
		if len(pongs) > PongsPerPing {
			break
		}
		n, ok := r.CachedPong(a)
		if !ok {
			n = Pong{Addr: a}
		}
		pongs = append(pongs, n)
	}
	for _, e := range r.freshPongs(PongsPerPing, asker) {
		if len(pongs) > PongsPerPing {
			break
		}
		if !slices.ContainsFunc(pongs, func(q Pong) bool { return q.Addr == e.Addr }) {
			pongs = append(pongs, e)
		}
	}
	return pongs
}

// freshPongs returns up to n cached Pongs younger than PongCacheMaxAge,
// newest first, skipping the address of the one who asked.
func (r *Router) freshPongs(n int, skip netip.AddrPort) []Pong {
	now := r.cfg.Now()
	c := &r.pongs
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Pong
	for i := len(c.entries) - 1; i >= 0 && len(out) < n; i-- {
		e := c.entries[i]
		if now.Sub(e.At) > PongCacheMaxAge || e.Addr == skip {
			continue
		}
		out = append(out, e)
	}
	return out
}
