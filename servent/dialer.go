package servent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/govent/govent/router"
	"github.com/govent/govent/servent/hostcache"
)

// connectInterval is how often the servent checks its connection count.
const connectInterval = 2 * time.Second

// maxDialing bounds dials in flight at once.
const maxDialing = 4

// askHostsEvery is how often a servent short of links asks its ultrapeer
// neighbours for hosts (a TTL-2 Ping, which an ultrapeer answers with its
// ultrapeer neighbours): the hosts it learnt earlier may all have left.
const askHostsEvery = 15 * time.Second

// resolveRetry is how long a configured name that did not resolve waits
// before it is looked up again: the longest wait between dials of a
// configured address.
const resolveRetry = hostcache.DefaultConfiguredBackoffMax

// errNoSlot: Connect found every connection slot taken.
var errNoSlot = errors.New("all connection slots in use")

// configuredPeer is one of Config.Peers: a host:port as the user wrote it,
// resolved to an address once it resolves.
type configuredPeer struct {
	name string
	addr netip.AddrPort // invalid until resolved
	// Until it resolves: when to look it up again.
	failures int
	next     time.Time
}

// dialState is the keepConnected loop's bookkeeping, shared with its dial
// goroutines.
type dialState struct {
	mu       sync.Mutex
	inFlight map[netip.AddrPort]bool
}

// KeepConnected keeps peers (host:port) connected from now on as
// Config.Peers are kept, for a servent started without Config.Peers or
// Config.Connections whose caller dialled them itself first, to say why
// each failed: a one-command tool (govent get, search) that its
// ultrapeer drops, to make room for another leaf, joins again once a slot
// is free, and its Pushes and re-searches have a link again.
func (s *Servent) KeepConnected(peers []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ctx == nil:
		return errors.New("KeepConnected before Start")
	case s.closed:
		return errors.New("KeepConnected after Close")
	case len(s.cfg.Peers) > 0 || s.cfg.Connections > 0 || s.keeping:
		return errors.New("KeepConnected: the servent keeps its peers connected already")
	}
	s.keeping = true
	s.wg.Add(1) // under mu, before shutdown (which sets closed under it) waits
	go s.keepConnected(peers, 0)
	return nil
}

// keepConnected keeps every configured peer connected, retrying each with
// the host cache's backoff (5 s doubling to 45 s, less up to a quarter of
// jitter) for as long as the servent runs, and keeps target links up
// (zero: one per configured peer), filling what the configured peers
// leave from hosts the cache learnt from peers. Nothing else is dialled.
func (s *Servent) keepConnected(names []string, target int) {
	defer s.wg.Done()
	peers := make([]*configuredPeer, len(names))
	for i, name := range names {
		peers[i] = &configuredPeer{name: name}
	}
	if target == 0 {
		target = len(peers)
	}
	if target == 0 {
		return
	}
	s.dials = dialState{inFlight: map[netip.AddrPort]bool{}}
	sem := make(chan struct{}, maxDialing)
	tick := time.NewTicker(connectInterval)
	defer tick.Stop()
	var asked time.Time
	for {
		s.resolvePeers(peers)
		want := target
		if s.IsLeaf() {
			// A leaf keeps a few ultrapeers, never more.
			want = min(want, s.cfg.LeafUltrapeers)
		}
		if s.connectionCount() < want && time.Since(asked) >= askHostsEvery {
			asked = time.Now()
			s.askForHosts()
		}
		s.fillConnections(want, peers, sem)
		// A configured peer is dialled when its backoff ends, as its
		// warning announced, not at the next check up to
		// connectInterval later.
		var due <-chan time.Time
		if d := s.nextPeerDue(peers); d > 0 && d < connectInterval {
			due = time.After(d) // collected once it fires or is dropped (Go 1.23)
		}
		select {
		case <-tick.C:
		case <-due:
		case <-s.dialNow:
		case <-s.ctx.Done():
			return
		}
	}
}

// nextPeerDue is how long until the first configured peer that is not
// connected nor being dialled is due again; 0 if none waits.
func (s *Servent) nextPeerDue(peers []*configuredPeer) time.Duration {
	var first time.Duration
	for _, p := range peers {
		if !p.addr.IsValid() || s.connected(p.addr) || s.dialing(p.addr) {
			continue
		}
		h, ok := s.hosts.Get(p.addr)
		if d := time.Until(h.NextAttempt); ok && d > 0 && (first == 0 || d < first) {
			first = d
		}
	}
	return first
}

// dialing reports whether a is being dialled.
func (s *Servent) dialing(a netip.AddrPort) bool {
	s.dials.mu.Lock()
	defer s.dials.mu.Unlock()
	return s.dials.inFlight[a]
}

// wakeDialer has keepConnected fill its connections now rather than at
// its next check, connectInterval away: a servent that knew nobody dials
// the hosts a cache gave as soon as it has them.
func (s *Servent) wakeDialer() {
	select {
	case s.dialNow <- struct{}{}:
	default: // a wake is pending already
	}
}

// resolvePeers turns the configured host:port strings that are due into
// addresses and marks them as configured in the host cache. A name that
// does not resolve is looked up again after resolveRetry.
func (s *Servent) resolvePeers(peers []*configuredPeer) {
	now := time.Now()
	for _, p := range peers {
		if p.addr.IsValid() || now.Before(p.next) {
			continue
		}
		ap, err := s.resolveHostPort(p.name)
		if err == nil {
			err = s.hosts.AddConfigured(ap, now)
		}
		if errors.Is(err, hostcache.ErrUnusable) || errors.Is(err, hostcache.ErrSelf) {
			// Nothing will change that: say so once and stop trying.
			s.log.Warn("configured peer ignored", zap.String("peer", p.name), zap.Error(err))
			p.next = time.Unix(1<<62, 0)
			continue
		}
		if err != nil {
			p.failures++
			p.next = now.Add(resolveRetry)
			s.peerFailed(p.name, err, p.failures, p.next)
			continue
		}
		p.addr = ap
	}
}

// resolver is what a Network may offer to look names up with (net.Resolver
// has it; memnet's resolves nothing).
type resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

func (s *Servent) resolveHostPort(hostport string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap, nil
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, err
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil || pn == 0 {
		return netip.AddrPort{}, fmt.Errorf("%q: the port must be a number from 1 to 65535", hostport)
	}
	r, ok := s.cfg.Network.(resolver)
	if !ok {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("%s has no address", host)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(pn)), nil
}

// fillConnections dials every configured peer that is due and not
// connected, then hosts from the cache while fewer than target links are
// up or being dialled.
func (s *Servent) fillConnections(target int, peers []*configuredPeer, sem chan struct{}) {
	now := time.Now()
	for _, p := range peers {
		if !p.addr.IsValid() {
			continue
		}
		if h, ok := s.hosts.Get(p.addr); ok && now.Before(h.NextAttempt) {
			continue
		}
		if !s.connected(p.addr) && !s.startDial(p.addr, p.name, sem) {
			return
		}
	}
	want := target - s.connectionCount() - len(sem)
	for tries := 0; want > 0 && tries < 2*target; tries++ {
		a, ok := s.hosts.NextLearned(now, true)
		if !ok {
			return
		}
		if s.connected(a) {
			continue
		}
		if !s.startDial(a, "", sem) {
			return
		}
		want--
	}
}

// startDial dials a in the background unless it is being dialled already;
// name is set for a configured peer. It reports false when maxDialing dials
// are in flight.
func (s *Servent) startDial(a netip.AddrPort, name string, sem chan struct{}) bool {
	d := &s.dials
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inFlight[a] {
		return true
	}
	select {
	case sem <- struct{}{}:
	default:
		return false
	}
	d.inFlight[a] = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.Connect(a)
		d.mu.Lock()
		delete(d.inFlight, a)
		d.mu.Unlock()
		<-sem
		switch {
		case err == nil:
		case s.ctx.Err() != nil || errors.Is(err, errNoSlot):
		case name != "":
			h, _ := s.hosts.Get(a)
			s.peerFailed(name, err, h.Failures, h.NextAttempt)
		default:
			// A learnt host: at info, but rate-limited, for they are many.
			retry := "never: dropped from the host cache"
			h, ok := s.hosts.Get(a)
			if ok {
				retry = time.Until(h.NextAttempt).Round(time.Second).String()
			}
			s.limited.Log(zapcore.InfoLevel, "connection attempt failed", "connection attempt failed", zap.Stringer("peer", a), zap.Error(err),
				zap.Int("failures", h.Failures), zap.String("retry_in", retry))
		}
	}()
	return true
}

// peerFailed warns that a configured peer could not be reached, why, how
// many times in a row, and when it is tried next: every failed attempt, as
// the servent's rate-limited log lets one line per peer a second through
// (shorter than the shortest backoff, so that only a burst, a lookup and a
// dial together, is merged and counted as suppressed in the next line).
func (s *Servent) peerFailed(name string, err error, failures int, next time.Time) {
	s.limited.Log(zapcore.WarnLevel, "configured peer unreachable "+name, "configured peer unreachable",
		zap.String("peer", name), zap.Error(err), zap.Int("failures", failures), zap.Time("next_attempt", next),
		zap.String("retry_in", time.Until(next).Round(100*time.Millisecond).String()))
}

// askForHosts sends a TTL-2 Ping to each ultrapeer neighbour.
func (s *Servent) askForHosts() {
	s.mu.Lock()
	var ups []*conn
	for _, c := range s.conns {
		if c.peer.ultrapeer && c.kind != router.Leaf {
			ups = append(ups, c)
		}
	}
	s.mu.Unlock()
	for _, c := range ups {
		s.sendPing(c, 2)
	}
}

func (s *Servent) connectionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
