package servent

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/servent/gwc"
	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/wire"
)

// Bootstrap: when the host cache holds no host to dial and we have no link,
// ask a host cache (a GWebCache over HTTP, or a UDP host cache with
// a Ping bearing GGEP "SCP") for hosts. The caches are those the user
// configured, else the fallback list (only when the host cache was empty
// at Start and no peers are configured: a restart with known hosts does
// not bootstrap), then caches other caches told us of. Each round asks
// the UDP host caches that are due all at once (up to maxUHCAtOnce), as
// gtk-gnutella sends its UHC pings to several caches together: one at a
// time, each waiting uhcWait, nine silent ones (UDP blocked) kept the user
// waiting 90 s. Only if none of them answered are the due GWebCaches
// asked, in order, one at a time, until one answers. A cache that fails
// is backed off (doubling from cacheRetry to cacheRetryMax), one that
// answered is not asked again for cacheRevisit, and both are remembered
// across runs (bootpersist.go). Each cache is logged at info the first
// time it is contacted in a run, and its failure once per reason (a retry
// failing the same way, at debug); a round in which no cache answered is
// logged once, with when the next cache is due.

const (
	bootCheckEvery = 5 * time.Second
	cacheRetry     = time.Minute
	cacheRetryMax  = time.Hour
	// cacheRevisit: GWebCaches ask clients not to come back within the
	// hour.
	cacheRevisit = time.Hour
	// uhcWait is how long a UDP host cache has to answer our Ping.
	uhcWait = 10 * time.Second
	// maxUHCAtOnce bounds the UDP host caches pinged together: `govent
	// run`'s list has nine.
	maxUHCAtOnce = 16
	// maxLearnedCaches bounds the caches other caches tell us of.
	maxLearnedCaches = 20
)

// BootstrapStats count host-cache contacts (Stats.Bootstrap).
type BootstrapStats struct {
	// Contacts and Failures count exchanges with caches; Hosts the hosts
	// they gave that the host cache took.
	Contacts, Failures, Hosts uint64
	// Caches is how many caches we know of.
	Caches int
}

// bootCache is one host cache we may ask.
type bootCache struct {
	name     string // a GWebCache URL, or the host:port of a UDP host cache
	udp      bool
	failures int
	next     time.Time
	logged   bool
	learned  bool // another cache named it
	// failed: its last ask failed, with lastWhy (the error, "" for none).
	failed  bool
	lastWhy string
}

type bootState struct {
	mu      sync.Mutex
	caches  []*bootCache
	waiting map[netip.AddrPort]chan int // UDP host caches pinged, by address
	// silentLogged: "no host cache answered" was logged, and no cache
	// has answered since.
	silentLogged bool

	contacts, failures, hosts atomic.Uint64
}

func (b *bootState) stats() BootstrapStats {
	b.mu.Lock()
	n := len(b.caches)
	b.mu.Unlock()
	return BootstrapStats{Contacts: b.contacts.Load(), Failures: b.failures.Load(), Hosts: b.hosts.Load(), Caches: n}
}

// addLocked appends a cache unless it is known.
func (b *bootState) addLocked(name string, udp bool) {
	if b.findLocked(name) == nil {
		b.caches = append(b.caches, &bootCache{name: name, udp: udp})
	}
}

// startBootstrap builds the cache list and starts the loop, if there is
// anything to ask (NoBootstrap leaves nothing: withDefaults clears it). It runs in Start, after the host cache is loaded and
// before configured peers are added to it.
func (s *Servent) startBootstrap() {
	b := &s.boot
	b.mu.Lock()
	for _, u := range s.cfg.GWebCaches {
		b.addLocked(strings.TrimSpace(u), false)
	}
	for _, u := range s.cfg.UDPHostCaches {
		b.addLocked(strings.TrimSpace(u), true)
	}
	// The fallback list (the public caches `govent run` ships) only for
	// a servent told nothing: no peer, no cache of the user's own, and no
	// host known from an earlier run.
	if s.hosts.Len() == 0 && len(s.cfg.Peers) == 0 && len(b.caches) == 0 {
		for _, u := range s.cfg.FallbackCaches {
			if hp, ok := strings.CutPrefix(u, "uhc:"); ok {
				b.addLocked(hp, true)
			} else {
				b.addLocked(u, false)
			}
		}
	}
	if len(b.caches) > 0 {
		if err := b.loadCachesLocked(s.cfg.DataDir); err != nil {
			s.log.Warn("host cache state not loaded", zap.Error(err))
		}
	}
	n := len(b.caches)
	b.waiting = map[netip.AddrPort]chan int{}
	b.mu.Unlock()
	if n == 0 {
		return
	}
	s.wg.Add(1)
	go s.bootstrapLoop()
}

func (s *Servent) bootstrapLoop() {
	defer s.wg.Done()
	defer func() {
		if err := s.boot.saveCaches(s.cfg.DataDir); err != nil {
			s.log.Warn("saving host caches", zap.Error(err))
		}
	}()
	tr := &http.Transport{
		DialContext:       s.cfg.Network.DialContext,
		DisableKeepAlives: true,
		// A cache's answer is a few hundred bytes; its headers no more.
		MaxResponseHeaderBytes: 16 << 10,
		TLSHandshakeTimeout:    10 * time.Second,
	}
	defer tr.CloseIdleConnections()
	client := &gwc.Client{HTTP: &http.Client{Transport: tr, Timeout: gwc.DefaultTimeout}, Version: Version}
	tick := time.NewTicker(bootCheckEvery)
	defer tick.Stop()
	for {
		if s.needHosts() {
			s.bootRound(client)
		}
		select {
		case <-tick.C:
		case <-s.ctx.Done():
			return
		}
	}
}

// needHosts: we have no link and the host cache knows no host beside the
// configured ones. Once one link is up, hosts come from the network itself
// (Pongs, X-Try), and while learned hosts remain the dialer works through
// them (forgetting those that keep failing), as gtk-gnutella asks caches
// only when it knows nobody.
func (s *Servent) needHosts() bool {
	return s.connectionCount() == 0 && s.hosts.LearnedLen() == 0
}

// dueCaches returns the caches that are due, in order: up to maxUHCAtOnce
// UDP host caches, and the GWebCaches.
func (b *bootState) dueCaches(now time.Time) (udp, web []*bootCache) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.caches {
		switch {
		case now.Before(c.next):
		case !c.udp:
			web = append(web, c)
		case len(udp) < maxUHCAtOnce:
			udp = append(udp, c)
		}
	}
	return udp, web
}

// bootRound asks the due UDP host caches together, then, if none
// answered, the due GWebCaches one by one until one answers. A UDP cache
// that answers while others are still waited on hands its hosts over at
// once (askCache wakes the dialer); the others keep their uhcWait, so that
// their verdict (and backoff) is honest.
func (s *Servent) bootRound(client *gwc.Client) {
	udp, web := s.boot.dueCaches(time.Now())
	if len(udp)+len(web) == 0 {
		return
	}
	var answered atomic.Bool
	var wg sync.WaitGroup
	for _, c := range udp {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.askCache(client, c) {
				answered.Store(true)
			}
		}()
	}
	wg.Wait()
	asked := len(udp)
	if !answered.Load() && s.needHosts() {
		for _, c := range web {
			if s.ctx.Err() != nil {
				return
			}
			asked++
			if s.askCache(client, c) {
				answered.Store(true)
				break
			}
			if !s.needHosts() {
				return
			}
		}
	}
	if s.ctx.Err() != nil {
		return
	}
	b := &s.boot
	b.mu.Lock()
	if answered.Load() {
		b.silentLogged = false
		b.mu.Unlock()
		return
	}
	// The next round: when the first cache is due again, or the next
	// check for one a cache just told us of.
	soon := time.Now().Add(bootCheckEvery)
	next := b.caches[0].next
	for _, c := range b.caches {
		if c.next.Before(next) {
			next = c.next
		}
	}
	if next.Before(soon) {
		next = soon
	}
	repeated := b.silentLogged
	b.silentLogged = true
	b.mu.Unlock()
	log := s.log.Info
	if repeated {
		log = s.log.Debug
	}
	log("no host cache answered", zap.Int("asked", asked), zap.Time("next", next))
}

// askCache asks one cache, records how it went, and reports whether it
// gave hosts.
func (s *Servent) askCache(client *gwc.Client, c *bootCache) bool {
	b := &s.boot
	b.mu.Lock()
	first := !c.logged
	c.logged = true
	b.mu.Unlock()
	kind := "GWebCache"
	if c.udp {
		kind = "UDP host cache"
	}
	if first {
		s.log.Info("asking a host cache for hosts", zap.String("kind", kind), zap.String("cache", c.name))
	}
	b.contacts.Add(1)
	var got int
	var err error
	if c.udp {
		got, err = s.askUDPCache(c.name)
	} else {
		got, err = s.askGWebCache(client, c.name)
	}
	if s.ctx.Err() != nil {
		// Closed while asking (Ctrl-C): no verdict on the cache. Counted
		// a failure, it was logged as one and saved backed off, so the
		// next run waited a minute to ask it again.
		return false
	}
	now := time.Now()
	b.mu.Lock()
	if err != nil || got == 0 {
		c.failures++
		c.next = now.Add(min(cacheRetry<<min(c.failures-1, 10), cacheRetryMax))
	} else {
		c.failures = 0
		c.next = now.Add(cacheRevisit)
	}
	failures, next := c.failures, c.next
	why := ""
	if err != nil {
		why = err.Error()
	}
	// A cache that fails again the same way (UDP blocked: every backoff
	// times out) is logged once at info, then at debug: one line per
	// cache per reason, not one at every retry for hours.
	failed := err != nil || got == 0
	repeated := failed && c.failed && c.lastWhy == why
	c.failed, c.lastWhy = failed, why
	b.mu.Unlock()
	if err != nil || got == 0 {
		b.failures.Add(1)
		log := s.log.Info
		if repeated {
			log = s.log.Debug
		}
		log("host cache failed", zap.String("kind", kind), zap.String("cache", c.name),
			zap.Int("failures", failures), zap.Time("next", next), zap.Error(err))
		return false
	}
	b.hosts.Add(uint64(got))
	s.log.Debug("host cache answered", zap.String("cache", c.name), zap.Int("hosts", got))
	s.wakeDialer()
	return true
}

// askGWebCache fetches hosts and caches from a GWebCache.
func (s *Servent) askGWebCache(client *gwc.Client, url string) (int, error) {
	a, err := client.Fetch(s.ctx, url)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	got, private := 0, 0
	for _, h := range a.Hosts {
		switch err := s.hosts.Add(h, hostcache.SourceGWebCache, true, now); {
		case err == nil:
			got++
		case errors.Is(err, hostcache.ErrPrivate), errors.Is(err, hostcache.ErrLoopback):
			private++
		}
	}
	b := &s.boot
	b.mu.Lock()
	for _, u := range a.Caches {
		if len(b.caches) < len(s.cfg.GWebCaches)+len(s.cfg.UDPHostCaches)+len(s.cfg.FallbackCaches)+maxLearnedCaches && b.findLocked(u) == nil {
			b.addLocked(u, false)
			b.findLocked(u).learned = true
		}
	}
	b.mu.Unlock()
	if got == 0 {
		// Without a reason the user sees a cache that answered fail; a
		// cache on a private network names hosts we are told to skip.
		if private > 0 {
			return 0, fmt.Errorf("no usable host (%d private skipped; --allow-private to use them)", private)
		}
		if len(a.Hosts) == 0 {
			return 0, errors.New("the cache named no host")
		}
		return 0, fmt.Errorf("no usable host (%d named)", len(a.Hosts))
	}
	return got, nil
}

// askUDPCache pings a UDP host cache with GGEP "SCP" and waits for its
// Pong (udpPong reports the hosts it took, through udpCacheAnswered).
func (s *Servent) askUDPCache(hostport string) (int, error) {
	if s.udp == nil {
		return 0, errNoUDP
	}
	to, err := s.resolveHostPort(hostport)
	if err != nil {
		return 0, err
	}
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	ch := make(chan int, 1)
	b := &s.boot
	b.mu.Lock()
	if _, busy := b.waiting[to]; busy {
		// Two names for one address, asked together: one Pong would
		// answer both, and the second's cleanup drop the first's wait.
		b.mu.Unlock()
		return 0, fmt.Errorf("%v is being asked under another name", to)
	}
	b.waiting[to] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.waiting, to)
		b.mu.Unlock()
	}()
	scp := byte(0)
	if !s.IsLeaf() {
		scp = 1 // SCP_F_ULTRA: we are an ultrapeer
	}
	e, err := wire.NewGGEPExtension("SCP", []byte{scp}, false, false)
	if err != nil {
		return 0, err
	}
	if err := s.pingUDP(to, wire.NewGUID(), e); err != nil {
		return 0, err
	}
	timer := time.NewTimer(uhcWait)
	defer timer.Stop()
	select {
	case n := <-ch:
		return n, nil
	case <-timer.C:
		return 0, errUHCSilent
	case <-s.ctx.Done():
		return 0, s.ctx.Err()
	}
}

// udpCacheAnswered hands the hosts a UDP host cache's Pong gave to the
// bootstrapper waiting for it, if any.
func (b *bootState) udpCacheAnswered(from netip.AddrPort, hosts int) {
	b.mu.Lock()
	ch := b.waiting[from]
	b.mu.Unlock()
	if ch != nil {
		select {
		case ch <- hosts:
		default:
		}
	}
}

var (
	errNoUDP     = errors.New("no UDP socket to ask a UDP host cache with")
	errUHCSilent = fmt.Errorf("the UDP host cache sent no Pong within %v", uhcWait)
)
