package servent

import (
	"context"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"
)

// connectInterval is how often the servent checks its connection count.
const connectInterval = 2 * time.Second

// maxDialing bounds dials in flight at once.
const maxDialing = 4

// keepConnected keeps Config.Connections connections up: configured peers
// first, then hosts the cache learnt from peers. Nothing else is dialled.
func (s *Servent) keepConnected() {
	defer s.wg.Done()
	configured := s.resolvePeers()
	target := s.cfg.Connections
	if target == 0 {
		target = len(configured)
	}
	if target == 0 {
		return
	}
	sem := make(chan struct{}, maxDialing)
	tick := time.NewTicker(connectInterval)
	defer tick.Stop()
	for {
		want := target
		if s.IsLeaf() {
			// A leaf keeps a few ultrapeers, never more.
			want = min(want, s.cfg.LeafUltrapeers)
		}
		s.fillConnections(want, configured, sem)
		select {
		case <-tick.C:
		case <-s.ctx.Done():
			return
		}
	}
}

// resolvePeers turns the configured host:port strings into addresses and
// marks them as configured in the host cache.
func (s *Servent) resolvePeers() []netip.AddrPort {
	var out []netip.AddrPort
	now := time.Now()
	for _, p := range s.cfg.Peers {
		ap, err := resolveHostPort(s.ctx, p)
		if err != nil {
			s.log.Warn("configured peer ignored", zap.String("peer", p), zap.Error(err))
			continue
		}
		if err := s.hosts.AddConfigured(ap, now); err != nil {
			s.log.Warn("configured peer ignored", zap.String("peer", p), zap.Error(err))
			continue
		}
		out = append(out, ap)
	}
	return out
}

func resolveHostPort(ctx context.Context, hostport string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ta, err := (&net.Resolver{}).LookupNetIP(ctx, "ip", hostOnly(hostport))
	if err != nil {
		return netip.AddrPort{}, err
	}
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, err
	}
	pn, err := net.LookupPort("tcp", port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ta[0].Unmap(), uint16(pn)), nil
}

func hostOnly(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}

// fillConnections starts dials until enough connections are up or dialling.
func (s *Servent) fillConnections(target int, configured []netip.AddrPort, sem chan struct{}) {
	now := time.Now()
	want := target - s.connectionCount() - len(sem)
	var cands []netip.AddrPort
	for _, a := range configured {
		if h, ok := s.hosts.Get(a); ok && now.Before(h.NextAttempt) {
			continue
		}
		if !s.connected(a) {
			cands = append(cands, a)
		}
	}
	for tries := 0; len(cands) < want && tries < 2*target; tries++ {
		a, ok := s.hosts.Next(now, true)
		if !ok {
			break
		}
		if !s.connected(a) && !containsAddr(cands, a) {
			cands = append(cands, a)
		}
	}
	for _, a := range cands {
		if want <= 0 {
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			return
		}
		want--
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-sem }()
			if err := s.Connect(a); err != nil && s.ctx.Err() == nil {
				s.log.Debug("dial failed", zap.Stringer("peer", a), zap.Error(err))
			}
		}()
	}
}

func (s *Servent) connectionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
