// Package hostcache owns the servent's host cache: the Gnutella hosts we
// know of, where we heard of them, and when we may dial them next.
//
// Safety: the cache never invents an address. Every host it returns was
// added through its API: configured by the user (AddConfigured) or learned
// from a peer (Add, AddHeader: Pongs, X-Try, X-Try-Ultrapeers) or from our
// own earlier run (Load, which applies the same checks). Hosts told to us by
// peers pass a filter: no port 0, no unspecified, multicast, broadcast or
// reserved addresses, and, unless AllowPrivate / AllowLoopback, no private,
// link-local, shared (CGNAT) or loopback addresses, so a stranger cannot
// steer us at the local network. Our own addresses (SetSelf) are never kept.
package hostcache

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/govent/govent/httpxfer/atomicfile"
	"github.com/govent/govent/wire"
)

// Sentinel errors; Add wraps them with the address.
var (
	// ErrUnusable rejects addresses nobody can dial.
	ErrUnusable = errors.New("unusable address")
	// ErrPrivate rejects private, link-local and CGNAT addresses learned
	// from peers when AllowPrivate is off.
	ErrPrivate = errors.New("private address")
	// ErrLoopback rejects loopback addresses learned from peers when
	// AllowLoopback is off.
	ErrLoopback = errors.New("loopback address")
	// ErrSelf rejects one of our own addresses.
	ErrSelf = errors.New("our own address")
	// ErrCorrupt says the persisted host file could not be read.
	ErrCorrupt = errors.New("corrupt host file")
)

// Defaults used for zero Config fields.
const (
	DefaultMaxHosts      = 1000
	DefaultMaxUltrapeers = 200
	DefaultBackoffMin    = 30 * time.Second
	DefaultBackoffMax    = time.Hour
	// A configured host is the user's choice and worth a SYN every 45 s
	// for as long as we run: once it comes up it is joined within a
	// minute.
	DefaultConfiguredBackoffMin = 5 * time.Second
	DefaultConfiguredBackoffMax = 45 * time.Second
	DefaultMaxFailures          = 10
	// maxHeaderHosts bounds the hosts taken from one X-Try header.
	maxHeaderHosts = 100
)

// Source says how we learned of a host.
type Source uint8

// Sources, from the most trusted.
const (
	SourceConfig         Source = iota + 1 // the user's configuration
	SourcePong                             // a Pong
	SourceXTry                             // an X-Try handshake header
	SourceXTryUltrapeers                   // an X-Try-Ultrapeers handshake header
	SourceGWebCache                        // a GWebCache's host list
	SourceUDPHostCache                     // a UDP host cache's Pong (GGEP IPP)
)

var sourceNames = map[Source]string{
	SourceConfig:         "config",
	SourcePong:           "pong",
	SourceXTry:           "x-try",
	SourceXTryUltrapeers: "x-try-ultrapeers",
	SourceGWebCache:      "gwebcache",
	SourceUDPHostCache:   "udp-host-cache",
}

func (s Source) String() string {
	if n, ok := sourceNames[s]; ok {
		return n
	}
	return fmt.Sprintf("source(%d)", uint8(s))
}

// Config configures a Cache. The zero value is usable.
type Config struct {
	// MaxHosts and MaxUltrapeers bound the two pools (DefaultMaxHosts,
	// DefaultMaxUltrapeers when zero). Configured hosts count in neither.
	MaxHosts, MaxUltrapeers int
	// AllowPrivate and AllowLoopback let peers teach us private and
	// loopback addresses (tests and loopback demos need them).
	AllowPrivate, AllowLoopback bool
	// BackoffMin is the wait after a first failure, doubling with each
	// further one up to BackoffMax (DefaultBackoffMin, DefaultBackoffMax).
	BackoffMin, BackoffMax time.Duration
	// ConfiguredBackoffMin and ConfiguredBackoffMax are the same for
	// configured hosts (DefaultConfiguredBackoffMin,
	// DefaultConfiguredBackoffMax).
	ConfiguredBackoffMin, ConfiguredBackoffMax time.Duration
	// MaxFailures forgets a learned host after that many failures in a row
	// (DefaultMaxFailures). Configured hosts are never forgotten.
	MaxFailures int
	// DataDir holds the host file (HostFile); empty keeps nothing.
	DataDir string
	// Rand drives backoff jitter and Sample; nil seeds one at random.
	Rand rand.Source
}

// Host is what the cache knows about one host.
type Host struct {
	Addr        netip.AddrPort
	Source      Source
	Ultrapeer   bool
	LastSeen    time.Time // when a peer last vouched for it, or we reached it
	Failures    int       // dial failures since the last success
	NextAttempt time.Time // not dialled before this
}

// host is a Host with its place in the eviction heap.
type host struct {
	Host
	configured bool // the user asked for it: no policy, no eviction
	slot       int  // position in its pool's heap; -1 when configured
}

// Cache is the host cache. Its methods are safe for concurrent use.
type Cache struct {
	cfg Config

	saveMu sync.Mutex // one file write at a time, in snapshot order
	saved  atomicfile.Last

	mu    sync.Mutex
	rand  *rand.Rand
	hosts map[netip.AddrPort]*host
	pools [2]pool // [0] normal hosts, [1] ultrapeers
	self  map[netip.AddrPort]bool
}

// New returns an empty cache. Call Load to restore the hosts of an earlier
// run.
func New(cfg Config) *Cache {
	if cfg.MaxHosts <= 0 {
		cfg.MaxHosts = DefaultMaxHosts
	}
	if cfg.MaxUltrapeers <= 0 {
		cfg.MaxUltrapeers = DefaultMaxUltrapeers
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(DefaultBackoffMax, cfg.BackoffMin)
	}
	if cfg.ConfiguredBackoffMin <= 0 {
		cfg.ConfiguredBackoffMin = DefaultConfiguredBackoffMin
	}
	if cfg.ConfiguredBackoffMax < cfg.ConfiguredBackoffMin {
		cfg.ConfiguredBackoffMax = max(DefaultConfiguredBackoffMax, cfg.ConfiguredBackoffMin)
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	src := cfg.Rand
	if src == nil {
		src = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	return &Cache{
		cfg:   cfg,
		rand:  rand.New(src),
		hosts: make(map[netip.AddrPort]*host),
		self:  make(map[netip.AddrPort]bool),
	}
}

// normalize maps IPv4-in-IPv6 to IPv4 so a host has one key.
func normalize(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// usable rejects what nobody should dial, whoever told us.
func usable(a netip.AddrPort) error {
	ip := a.Addr()
	switch {
	case !ip.IsValid() || a.Port() == 0:
		return fmt.Errorf("%w %v: no address or port 0", ErrUnusable, a)
	case ip.IsUnspecified(), ip.IsMulticast():
		return fmt.Errorf("%w %v", ErrUnusable, a)
	case ip.Is4() && (ip.As4()[0] == 0 || ip.As4()[0] >= 240):
		// 0.0.0.0/8 is "this network"; 240/4 is reserved and holds
		// the broadcast address 255.255.255.255.
		return fmt.Errorf("%w %v: reserved", ErrUnusable, a)
	}
	return nil
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// allowed applies the policy for addresses learned from strangers.
func (c *Cache) allowed(a netip.AddrPort) error {
	ip := a.Addr()
	switch {
	case ip.IsLoopback():
		if !c.cfg.AllowLoopback {
			return fmt.Errorf("%w %v", ErrLoopback, a)
		}
	case ip.IsPrivate() || ip.IsLinkLocalUnicast() || cgnat.Contains(ip):
		if !c.cfg.AllowPrivate {
			return fmt.Errorf("%w %v", ErrPrivate, a)
		}
	}
	return nil
}

// Acceptable reports whether a stranger may point us at addr: it is
// usable and passes the private and loopback policy (the checks Add
// applies, for addresses we send to rather than dial: OOB replies).
func (c *Cache) Acceptable(addr netip.AddrPort) bool {
	addr = normalize(addr)
	return usable(addr) == nil && c.allowed(addr) == nil
}

// SetSelf names our own listening addresses (as configured, or as peers
// report them in Remote-IP): they are dropped and never learned again.
func (c *Cache) SetSelf(addrs ...netip.AddrPort) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range addrs {
		a = normalize(a)
		c.self[a] = true
		if h, ok := c.hosts[a]; ok {
			c.removeLocked(h)
		}
	}
}

// AddConfigured adds a host the user configured. Only unusable addresses
// and our own are refused: the user may point us at the local network.
// Configured hosts are never evicted nor forgotten after failures.
func (c *Cache) AddConfigured(addr netip.AddrPort, now time.Time) error {
	addr = normalize(addr)
	if err := usable(addr); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.self[addr] {
		return fmt.Errorf("%w %v", ErrSelf, addr)
	}
	if h, ok := c.hosts[addr]; ok {
		c.pools[poolOf(h)].remove(h)
		h.configured, h.Source = true, SourceConfig
		h.slot = -1
		h.LastSeen = later(h.LastSeen, now)
		return nil
	}
	c.hosts[addr] = &host{Host: Host{Addr: addr, Source: SourceConfig, LastSeen: now}, configured: true, slot: -1}
	return nil
}

// Add learns a host from a peer: src says how, ultrapeer whether it was
// said to be one, seen when. A known host is refreshed: its newest sighting
// is kept, and once called an ultrapeer it stays one. When a pool is full
// the worst host (most failures, then oldest) makes room, which may be the
// newcomer itself.
func (c *Cache) Add(addr netip.AddrPort, src Source, ultrapeer bool, seen time.Time) error {
	addr = normalize(addr)
	if err := usable(addr); err != nil {
		return err
	}
	if err := c.allowed(addr); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.self[addr] {
		return fmt.Errorf("%w %v", ErrSelf, addr)
	}
	h, ok := c.hosts[addr]
	if !ok {
		h = &host{Host: Host{Addr: addr, Source: src, Ultrapeer: ultrapeer, LastSeen: seen}}
		c.hosts[addr] = h
		c.insertLocked(h)
		return nil
	}
	if h.configured {
		h.Ultrapeer = h.Ultrapeer || ultrapeer
		h.LastSeen = later(h.LastSeen, seen)
		return nil
	}
	c.pools[poolOf(h)].remove(h)
	h.Source = src
	h.Ultrapeer = h.Ultrapeer || ultrapeer
	h.LastSeen = later(h.LastSeen, seen)
	c.insertLocked(h)
	return nil
}

// AddHeader learns the hosts of an X-Try or X-Try-Ultrapeers header value,
// read with wire.ParseAddrList ("ip:port,ip:port,...", IPv6 as
// [addr]:port, an old servent's timestamp after an entry ignored, malformed
// entries skipped). Hosts from X-Try-Ultrapeers are ultrapeers. At most 100
// addresses are taken; refused ones are skipped. It returns how many hosts
// were accepted.
func (c *Cache) AddHeader(value string, src Source, seen time.Time) int {
	n := 0
	for _, addr := range wire.ParseAddrList(value, maxHeaderHosts) {
		if c.Add(addr, src, src == SourceXTryUltrapeers, seen) == nil {
			n++
		}
	}
	return n
}

// Get returns what the cache knows about addr.
func (c *Cache) Get(addr netip.AddrPort) (Host, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hosts[normalize(addr)]
	if !ok {
		return Host{}, false
	}
	return h.Host, true
}

// LearnedLen is the number of hosts learnt from peers, host caches or an
// earlier run: those a servent may dial beside its configured ones.
func (c *Cache) LearnedLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pools[0].Len() + c.pools[1].Len()
}

// Len is the number of hosts known, configured ones included.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.hosts)
}

// Hosts returns every known host, most recently seen first.
func (c *Cache) Hosts() []Host {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Host, 0, len(c.hosts))
	for _, h := range c.hosts {
		out = append(out, h.Host)
	}
	slices.SortFunc(out, fresher)
	return out
}

// NextLearned picks the host to dial now among the hosts learnt from
// peers (the dialer keeps the configured hosts on a schedule of its own):
// the most recently seen first; with preferUltrapeers, ultrapeers before
// other hosts. Hosts in backoff are skipped. The host is reserved for its
// first backoff step (its next attempt moves) so that concurrent dialers
// get different hosts; the caller reports the outcome with Failed or
// Connected, and skips hosts it is already connected to.
func (c *Cache) NextLearned(now time.Time, preferUltrapeers bool) (netip.AddrPort, bool) {
	return c.next(now, preferUltrapeers, true)
}

func (c *Cache) next(now time.Time, preferUltrapeers, learnedOnly bool) (netip.AddrPort, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best *host
	for _, h := range c.hosts {
		if h.NextAttempt.After(now) || learnedOnly && h.configured {
			continue
		}
		if best == nil || c.dialBefore(h, best, preferUltrapeers) {
			best = h
		}
	}
	if best == nil {
		return netip.AddrPort{}, false
	}
	minWait, _ := c.backoff(best)
	best.NextAttempt = now.Add(minWait)
	return best.Addr, true
}

// dialBefore orders candidates for next.
func (c *Cache) dialBefore(a, b *host, preferUltrapeers bool) bool {
	if a.configured != b.configured {
		return a.configured
	}
	if preferUltrapeers && a.Ultrapeer != b.Ultrapeer {
		return a.Ultrapeer
	}
	return fresher(a.Host, b.Host) < 0
}

// fresher orders hosts by last sighting, newest first, then by address so
// that the order is reproducible.
func fresher(a, b Host) int {
	if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
		return c
	}
	return a.Addr.Compare(b.Addr)
}

// Failed records a failed dial (or a refused handshake): the host is not
// tried again for BackoffMin doubled per earlier failure, at most
// BackoffMax (ConfiguredBackoffMin and ConfiguredBackoffMax for a
// configured host), shortened by up to a quarter at random so that hosts
// that failed together are not retried together. A learned host that
// failed MaxFailures times in a row is forgotten. It returns what the cache
// now knows of the host: ok is false when it is forgotten or was unknown.
func (c *Cache) Failed(addr netip.AddrPort, now time.Time) (Host, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hosts[normalize(addr)]
	if !ok {
		return Host{}, false
	}
	h.Failures++
	if !h.configured && h.Failures >= c.cfg.MaxFailures {
		c.removeLocked(h)
		return Host{}, false
	}
	d, most := c.backoff(h)
	for i := 1; i < h.Failures && d < most; i++ {
		d *= 2
	}
	d = min(d, most)
	d -= time.Duration(c.rand.Int64N(int64(d)/4 + 1))
	h.NextAttempt = now.Add(d)
	if !h.configured {
		c.pools[poolOf(h)].fix(h)
	}
	return h.Host, true
}

// backoff returns the first and the longest wait between attempts at h.
func (c *Cache) backoff(h *host) (first, most time.Duration) {
	if h.configured {
		return c.cfg.ConfiguredBackoffMin, c.cfg.ConfiguredBackoffMax
	}
	return c.cfg.BackoffMin, c.cfg.BackoffMax
}

// Connected records a successful handshake: the failure count and backoff
// are cleared and the host counts as seen now. NextLearned does not offer
// it for its first backoff step, as it is connected.
func (c *Cache) Connected(addr netip.AddrPort, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hosts[normalize(addr)]
	if !ok {
		return
	}
	h.Failures = 0
	minWait, _ := c.backoff(h)
	h.NextAttempt = now.Add(minWait)
	h.LastSeen = later(h.LastSeen, now)
	if !h.configured {
		c.pools[poolOf(h)].fix(h)
	}
}

// Sample returns up to n hosts to hand to other servents (X-Try,
// X-Try-Ultrapeers, Pongs): random ones among those without failures, only
// ultrapeers if asked. Hosts a stranger could not have taught us (a
// configured private address, say) are never passed on.
func (c *Cache) Sample(n int, ultrapeers bool) []netip.AddrPort {
	if n <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var cand []netip.AddrPort
	for _, h := range c.hosts {
		if h.Failures > 0 || (ultrapeers && !h.Ultrapeer) || c.allowed(h.Addr) != nil {
			continue
		}
		cand = append(cand, h.Addr)
	}
	// Map order is not random enough to rely on, nor reproducible: sort,
	// then draw with the injected source.
	slices.SortFunc(cand, netip.AddrPort.Compare)
	n = min(n, len(cand))
	for i := range n {
		j := i + c.rand.IntN(len(cand)-i)
		cand[i], cand[j] = cand[j], cand[i]
	}
	return cand[:n:n]
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func poolOf(h *host) int {
	if h.Ultrapeer {
		return 1
	}
	return 0
}

// insertLocked puts a learned host in its pool and evicts the worst host
// if the pool is over its bound.
func (c *Cache) insertLocked(h *host) {
	p := &c.pools[poolOf(h)]
	limit := c.cfg.MaxHosts
	if h.Ultrapeer {
		limit = c.cfg.MaxUltrapeers
	}
	heap.Push(p, h)
	for p.Len() > limit {
		worst := heap.Pop(p).(*host)
		delete(c.hosts, worst.Addr)
	}
}

// removeLocked forgets h.
func (c *Cache) removeLocked(h *host) {
	if !h.configured {
		c.pools[poolOf(h)].remove(h)
	}
	delete(c.hosts, h.Addr)
}

// pool is a min-heap of learned hosts with the worst one on top: most
// failures first, then the one seen longest ago.
type pool []*host

func (p pool) Len() int { return len(p) }

func (p pool) Less(i, j int) bool {
	if p[i].Failures != p[j].Failures {
		return p[i].Failures > p[j].Failures
	}
	return fresher(p[i].Host, p[j].Host) > 0
}

func (p pool) Swap(i, j int) {
	p[i], p[j] = p[j], p[i]
	p[i].slot, p[j].slot = i, j
}

func (p *pool) Push(x any) {
	h := x.(*host)
	h.slot = len(*p)
	*p = append(*p, h)
}

func (p *pool) Pop() any {
	old := *p
	h := old[len(old)-1]
	old[len(old)-1] = nil
	*p = old[:len(old)-1]
	h.slot = -1
	return h
}

func (p *pool) remove(h *host) {
	if h.slot >= 0 {
		heap.Remove(p, h.slot)
	}
}

func (p *pool) fix(h *host) {
	if h.slot >= 0 {
		heap.Fix(p, h.slot)
	}
}
