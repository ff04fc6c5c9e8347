package servent

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/govent/govent/wire"
)

// Admission: what keeps a few sockets from locking everyone out. An
// accepted connection first takes a first-phase place (bounded all told,
// per address by MaxPendingPerIP, and per network, an IPv4 /24 or an IPv6
// /48, by pendingNetShare times that: one host with many addresses cannot
// take them all) until it has said what it is: its
// handshake, its first HTTP request head or its GIV line, all within one
// HandshakeTimeout. When every place is taken, a newcomer takes the place
// of the oldest connection if that one has been at it for pendingEvictAge
// (it is closed): a slow-drip flood from many addresses then has to open
// more than the places every pendingEvictAge to keep real peers, whose
// first phase takes a round trip or two, out. An established link then
// holds a slot, and one address holds at most MaxPeersPerIP ultrapeer and
// MaxLeavesPerIP leaf slots. HTTP sessions count against the uploader's
// session limits instead.
//
// An address is an IPv4 address, or an IPv6 /64: one host gets a /64 for
// free.

// Refusal reasons: the Bye-less answers and the rate-limited log lines.
const (
	reasonFull       = "Full"
	reasonPerAddress = "Too Many Connections From Your Address"
	reasonPerNetwork = "Too Many Connections From Your Network"
	reasonBusy       = "Too Many Pending Connections"
)

const (
	// refuseWait is how long a refused connection may take to send the
	// bytes that tell which status line it understands.
	refuseWait = time.Second
	// maxRefusing bounds the refused connections being answered at once;
	// past it they are closed without a word, so a flood buys nothing.
	maxRefusing = 16
	// pendingEvictAge is how long a connection keeps its first-phase
	// place against newcomers when every place is taken: several round
	// trips of a slow link, a TLS handshake included.
	pendingEvictAge = 2 * time.Second
	// pendingNetShare is how many addresses' worth of first-phase places
	// one network may hold.
	pendingNetShare = 4
)

// admission counts the connections in their first phase.
type admission struct {
	max      int           // first-phase places, all told
	refusing chan struct{} // refusals being answered

	mu      sync.Mutex
	byAddr  map[netip.Addr]int   // first-phase places per address
	byNet   map[netip.Prefix]int // and per network
	pending []*pendingConn       // in their first phase, oldest first
}

// pendingConn is a connection's first-phase place.
type pendingConn struct {
	nc    net.Conn
	key   netip.Addr // addrKey of its address
	net   netip.Prefix
	since time.Time
	gone  bool // evicted: a newcomer has its place
}

func newAdmission(maxPending int) admission {
	return admission{
		max:      maxPending,
		refusing: make(chan struct{}, maxRefusing),
		byAddr:   map[netip.Addr]int{},
		byNet:    map[netip.Prefix]int{},
	}
}

// addrKey is what per-address limits count by.
func addrKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// admit takes a first-phase place for nc, from a, or says why not. When
// the places are all taken it evicts the oldest, if old enough.
func (s *Servent) admit(nc net.Conn, a netip.Addr) (*pendingConn, string) {
	k, nk := addrKey(a), wire.NetworkOf(a)
	ad := &s.pending
	ad.mu.Lock()
	defer ad.mu.Unlock()
	if ad.byAddr[k] >= s.cfg.MaxPendingPerIP {
		s.stats.refusedPendingPerIP.Add(1)
		return nil, reasonPerAddress
	}
	if ad.byNet[nk] >= pendingNetShare*s.cfg.MaxPendingPerIP {
		s.stats.refusedPendingPerIP.Add(1)
		return nil, reasonPerNetwork
	}
	now := time.Now()
	if len(ad.pending) >= ad.max {
		old := ad.pending[0]
		if now.Sub(old.since) < pendingEvictAge {
			s.stats.refusedPending.Add(1)
			return nil, reasonBusy
		}
		ad.dropLocked(0)
		old.gone = true
		_ = old.nc.SetDeadline(now) // its reads fail, and its goroutine ends it
		s.stats.evictedPending.Add(1)
	}
	p := &pendingConn{nc: nc, key: k, net: nk, since: now}
	ad.pending = append(ad.pending, p)
	ad.byAddr[k]++
	ad.byNet[nk]++
	return p, ""
}

// release gives back p's first-phase place and reports whether it was
// still p's: false when a newcomer took it, and p's deadline has passed
// (a handler must then not clear it and go on).
func (s *Servent) release(p *pendingConn) bool {
	ad := &s.pending
	ad.mu.Lock()
	defer ad.mu.Unlock()
	if p.gone {
		return false
	}
	ad.dropLocked(slices.Index(ad.pending, p))
	return true
}

// dropLocked removes the place at i; ad.mu is held.
func (ad *admission) dropLocked(i int) {
	p := ad.pending[i]
	ad.pending = slices.Delete(ad.pending, i, i+1)
	if ad.byAddr[p.key]--; ad.byAddr[p.key] <= 0 {
		delete(ad.byAddr, p.key)
	}
	if ad.byNet[p.net]--; ad.byNet[p.net] <= 0 {
		delete(ad.byNet, p.net)
	}
}

// refuseEarly answers a connection refused before it said anything. When a
// refusal slot is free it waits briefly for the first bytes and answers in
// the protocol they name (GNUTELLA/0.6 503, HTTP/1.1 503); otherwise, or
// when nothing comes, it closes.
func (s *Servent) refuseEarly(nc net.Conn, reason string) {
	s.rateLog("connection refused: "+reason, nc, errors.New("refused before its first phase"))
	select {
	case s.pending.refusing <- struct{}{}:
	default:
		nc.Close()
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.pending.refusing }()
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(refuseWait))
		br := bufio.NewReaderSize(nc, 512)
		first, err := br.Peek(4)
		if err != nil {
			return
		}
		var answer string
		switch sniff(first) {
		case protoGnutella:
			answer = "GNUTELLA/0.6 503 " + reason + "\r\nUser-Agent: " + UserAgent + "\r\n\r\n"
		case protoHTTP:
			answer = "HTTP/1.1 503 " + reason + "\r\nServer: " + UserAgent +
				"\r\nRetry-After: 60\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
		default:
			return
		}
		if _, err := io.WriteString(nc, answer); err != nil {
			return
		}
		lingeringClose(nc)
	}()
}

// lingeringClose half-closes and reads what the peer still sends until it
// closes too (or the deadline on nc passes): closing with unread bytes
// would reset the connection and could destroy the answer before the peer
// reads it.
func lingeringClose(nc net.Conn) {
	if hc, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
}

// slotAddr is one address's count of one kind of slot.
type slotAddr struct {
	kind slotKind
	addr netip.Addr
}

// perAddrLimit is how many slots of kind one address may hold.
func (s *Servent) perAddrLimit(kind slotKind) int {
	if kind == slotLeaf {
		return s.cfg.MaxLeavesPerIP
	}
	return s.cfg.MaxPeersPerIP
}

// reserveFor takes a slot of kind for the peer that dialled us, within the
// slot limit and its address's share, or says why not.
func (s *Servent) reserveFor(p *peerInfo, kind slotKind) string {
	k := slotAddr{kind, addrKey(p.remote.Addr())}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.slotsFor(kind)
	switch {
	case s.closed || *n >= s.slotLimit(kind):
		s.stats.refusedFull.Add(1)
		return reasonFull
	case s.slotsByAddr[k] >= s.perAddrLimit(kind):
		s.stats.refusedPerIP.Add(1)
		return reasonPerAddress
	}
	*n++
	s.slotsByAddr[k]++
	p.slot, p.slotAddr = kind, k.addr
	return ""
}

// releaseFor gives back the slot p holds (reserveFor's, or reserveSlot's
// for a peer we dialled).
func (s *Servent) releaseFor(p *peerInfo) {
	s.mu.Lock()
	s.releaseForLocked(p)
	s.mu.Unlock()
}

func (s *Servent) releaseForLocked(p *peerInfo) {
	*s.slotsFor(p.slot)--
	if !p.slotAddr.IsValid() {
		return
	}
	k := slotAddr{p.slot, p.slotAddr}
	if s.slotsByAddr[k]--; s.slotsByAddr[k] <= 0 {
		delete(s.slotsByAddr, k)
	}
}

// moveFor turns p's slot into one of kind to, if one is free within the
// limit and p's address's share.
func (s *Servent) moveFor(p *peerInfo, to slotKind) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := slotAddr{to, p.slotAddr}
	if *s.slotsFor(to) >= s.slotLimit(to) || p.slotAddr.IsValid() && s.slotsByAddr[k] >= s.perAddrLimit(to) {
		return false
	}
	s.releaseForLocked(p)
	*s.slotsFor(to)++
	if p.slotAddr.IsValid() {
		s.slotsByAddr[k]++
	}
	p.slot = to
	return true
}
