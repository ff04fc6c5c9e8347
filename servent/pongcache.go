package servent

import (
	"net/netip"
	"sync"
	"time"
)

// Pong caching (gtk-gnutella doc/gnutella/ping-pong): instead of flooding
// Pings, a servent answers them from the Pongs its neighbours sent recently.
// That keeps Ping traffic to one hop and still tells the pinger about hosts
// further away.
const (
	pongCacheSize   = 64
	pongCacheMaxAge = 5 * time.Minute
	pongsPerPing    = 10
	// pingInterval is the least time between two Pings we answer on one
	// connection; more frequent ones are dropped (Ping flood throttle).
	pingInterval = time.Second
)

// cachedPong is a Pong a neighbour sent, kept to answer other Pings.
type cachedPong struct {
	addr      netip.AddrPort
	files, kb uint32
	hops      uint8
	// up is the GGEP "UP" value of an ultrapeer's Pong (gtk-gnutella:
	// ultrapeer version, free leaf slots, free ultrapeer slots), passed on
	// as it came so that whoever learns the host knows it is one; nil for
	// other hosts.
	up []byte
	at time.Time
}

// maxUPLen bounds the GGEP "UP" value we keep (gtk-gnutella's has 3 bytes).
const maxUPLen = 8

// pongCache keeps the most recent Pong per address, bounded in size.
type pongCache struct {
	mu      sync.Mutex
	entries []cachedPong // oldest first
}

// add records a Pong, replacing an older one for the same address.
func (c *pongCache) add(p cachedPong) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.entries {
		if e.addr == p.addr {
			c.entries = append(c.entries[:i], c.entries[i+1:]...)
			break
		}
	}
	if len(c.entries) == pongCacheSize {
		c.entries = append(c.entries[:0], c.entries[1:]...)
	}
	c.entries = append(c.entries, p)
}

// get returns the cached Pong of addr, if there is a fresh one.
func (c *pongCache) get(addr netip.AddrPort, now time.Time) (cachedPong, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.addr == addr && now.Sub(e.at) <= pongCacheMaxAge {
			return e, true
		}
	}
	return cachedPong{}, false
}

// fresh returns up to n cached Pongs younger than the maximum age, newest
// first, skipping the address of the one who asked.
func (c *pongCache) fresh(n int, now time.Time, skip netip.AddrPort) []cachedPong {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []cachedPong
	for i := len(c.entries) - 1; i >= 0 && len(out) < n; i-- {
		e := c.entries[i]
		if now.Sub(e.at) > pongCacheMaxAge || e.addr == skip {
			continue
		}
		out = append(out, e)
	}
	return out
}
