package servent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/httpxfer/atomicfile"
	"github.com/govent/govent/httpxfer/smallfile"
	"github.com/govent/govent/router"
	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/servent/internal/ratelimit"
	"github.com/govent/govent/servent/library"
	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/neterr"
)

// Servent is one Gnutella node.
type Servent struct {
	cfg        Config
	log        *zap.Logger
	guid       wire.GUID
	router     *router.Router
	tableClock *router.CoarseClock // the router's GUID tables read it; Start runs it
	hosts      *hostcache.Cache
	lib        *library.Library // nil when nothing is shared
	// limited logs what a peer may cause again and again, at most one
	// line a second per key: a reason, or a reason and one address.
	limited *ratelimit.Logger
	xfer    *transfers

	ln      net.Listener
	addr    netip.AddrPort // where we listen
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	pending admission // connections in their first phase (admission.go)

	startedAt time.Time
	qrp       qrpState

	// mu guards the registry of established connections (conns, the one
	// map of them) and the slot counts.
	mu        sync.Mutex
	conns     map[router.PeerID]*conn
	slots     int // established or handshaking ultrapeer/neighbour connections
	leafSlots int // established or handshaking leaf connections
	searches  map[wire.GUID]*Search
	elected   netip.Addr // our address as a quorum of peers sees it (selfaddr.go)
	closed    bool
	// handshakes counts the Gnutella handshakes in flight, begun while
	// not closed (beginHandshake): shutdown lets them end before it
	// cancels ctx.
	handshakes sync.WaitGroup
	// slotsByAddr counts the slots of the peers that dialled us, per
	// address (admission.go).
	slotsByAddr map[slotAddr]int

	closeOnce sync.Once
	dataLock  *os.File // flock on DataDir/lock from New to Close (datalock.go)

	// tlsConf is the TLS of links and of the listening port; nil with
	// NoTLS, or when we have no certificate.
	tlsConf *tls.Config

	stats     servStats
	retired   retired      // the counters of closed links (traffic.go)
	deflating atomic.Int32 // established links we compress
	dials     dialState    // keepConnected's
	keeping   bool         // KeepConnected was called; under mu
	// dialNow wakes keepConnected before its next check: the bootstrap
	// learnt hosts to dial (wakeDialer).
	dialNow chan struct{}

	udp   *udpSock // nil without UDP (udp.go); set before Start returns
	reach reachState
	oob   oobState
	boot  bootState
}

// servStats are the servent-wide counters. Routing decisions and their
// drops are the router's to count (router.Stats); these count what the
// servent itself does.
type servStats struct {
	handshakeFailed atomic.Uint64
	refusedFull     atomic.Uint64
	refusedPending  atomic.Uint64
	evictedPending  atomic.Uint64 // first-phase places given to a newcomer
	evictedUseless  atomic.Uint64 // leaf slots taken from leaves that share nothing
	malformed       atomic.Uint64
	forwarded       atomic.Uint64 // copies of routed descriptors queued
	queueDrops      atomic.Uint64 // copies the target's queue refused, or whose target had gone
	answered        atomic.Uint64
	inputWaits      atomic.Uint64 // times a link's reader waited for the queues it feeds

	// Refusals by reason, beside refusedFull (see Stats).
	refusedRole         atomic.Uint64
	refusedPendingPerIP atomic.Uint64
	refusedPerIP        atomic.Uint64

	qrpOverBudget atomic.Uint64
	qrpRejected   atomic.Uint64
	qrpEncoded    atomic.Uint64 // QRP patches encoded (one per table and starting point)
}

// New prepares a servent; Start makes it listen and connect. With a
// DataDir, New takes the directory's lock (datalock.go) before it reads or
// writes anything there, and holds it until Close: a second servent on
// the directory is refused here, with ErrDataDirInUse, having touched
// nothing. A New that fails holds nothing.
func New(cfg Config) (*Servent, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var lock *os.File
	if cfg.DataDir != "" {
		if lock, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	s, err := newServent(cfg, lock)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	return s, nil
}

// newServent is New once the data directory is ours.
func newServent(cfg Config, lock *os.File) (*Servent, error) {
	var err error
	s := &Servent{
		cfg:      cfg,
		log:      cfg.Logger,
		limited:  ratelimit.NewLogger(cfg.Logger, time.Second),
		conns:    map[router.PeerID]*conn{},
		searches: map[wire.GUID]*Search{},
		pending:  newAdmission(4*cfg.MaxPeers + 4*cfg.MaxUploads + 64),
		dataLock: lock,
		dialNow:  make(chan struct{}, 1),
	}
	s.slotsByAddr = map[slotAddr]int{}
	if s.guid, err = loadOrCreateGUID(cfg); err != nil {
		return nil, err
	}
	if !cfg.NoTLS {
		if cert, err := loadOrCreateCert(cfg.DataDir, s.guid, s.log); err != nil {
			s.log.Warn("no TLS certificate: links stay plain", zap.Error(err))
		} else {
			s.tlsConf = newTLSConfig(cert)
		}
	}
	// An auto-mode servent starts as a leaf; autoRole promotes it.
	role := router.RoleLeaf
	if cfg.Mode == ModeUltrapeer {
		role = router.RoleUltrapeer
	}
	s.tableClock = router.NewCoarseClock(router.DefaultCoarseTick)
	s.router = router.New(router.Config{
		TableClock:          s.tableClock,
		ServentGUID:         s.guid,
		Role:                role,
		PromoteAfter:        cfg.PromoteAfter,
		NoQRPFilter:         cfg.NoQRPFilter,
		NoDynamicQuery:      cfg.NoDynamicQuery,
		DynamicQueryResults: cfg.DynamicQueryResults,
		DynamicQueryProbe:   cfg.DynamicQueryProbe,
	})
	s.qrp.changed = make(chan struct{}, 1)
	s.hosts = hostcache.New(hostcache.Config{
		AllowPrivate:  cfg.AllowPrivate,
		AllowLoopback: cfg.AllowPrivate,
		DataDir:       cfg.DataDir,
	})
	if err := s.hosts.Load(); err != nil {
		// A corrupt host cache costs us nothing but the hosts in it.
		s.log.Warn("host cache not loaded, starting empty", zap.Error(err))
	}
	s.logRestoredBackoff(time.Now())
	if cfg.ShareDir != "" {
		s.lib, err = library.New(library.Config{
			Dirs:           []string{cfg.ShareDir},
			DataDir:        cfg.DataDir,
			RescanInterval: cfg.RescanInterval,
			OnChange:       func(uint64) { s.libraryChanged() },
			Logger:         cfg.Logger.Named("library"),
		})
		if err != nil {
			return nil, err // it names the directory or setting
		}
		if err := s.lib.Load(); err != nil {
			s.log.Warn("library state not loaded, rehashing", zap.Error(err))
		}
	}
	s.xfer = newTransfers(s)
	s.loadTLSHosts()
	s.loadUploadQueue()
	return s, nil
}

// loadOrCreateGUID keeps the servent GUID stable across restarts, so that
// push routes others learnt stay good.
func loadOrCreateGUID(cfg Config) (wire.GUID, error) {
	if !cfg.ServentGUID.IsZero() {
		return cfg.ServentGUID, nil
	}
	if cfg.DataDir == "" {
		return wire.NewGUID(), nil
	}
	path := filepath.Join(cfg.DataDir, "servent-guid")
	// One line of 33 bytes; anything much longer is not ours, and /dev/zero
	// linked in its place must not take the memory.
	if b, err := smallfile.Read(path, 1<<10); err == nil {
		if g, err := wire.ParseGUID(strings.TrimSpace(string(b))); err == nil {
			return g, nil
		}
	}
	// Written atomically: a torn file would not parse, and the next start
	// would take yet another GUID.
	g := wire.NewGUID()
	if err := atomicfile.Write(path, []byte(g.String()+"\n")); err != nil {
		return g, fmt.Errorf("saving servent GUID: %w", err)
	}
	return g, nil
}

// Start listens, scans the shared library and starts keeping connections.
// ctx bounds Start's own work (the scan, and hashing with HashBeforeStart);
// once Start has returned the servent runs until Close, whatever happens to
// ctx: a signal context is cancelled the moment SIGINT arrives, and Close
// still has Byes to deliver. A Start that fails leaves the servent closed,
// its data directory free; Close then does nothing more.
func (s *Servent) Start(ctx context.Context) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		// The data directory is no longer ours.
		return errors.New("start after close")
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.startedAt = time.Now()
	if s.lib != nil {
		if _, err := s.lib.Rescan(ctx); err != nil {
			s.log.Warn("library scan", zap.Error(err))
		}
		if s.cfg.HashBeforeStart {
			if err := s.lib.HashPending(ctx); err != nil {
				s.abortStart()
				return fmt.Errorf("hashing the library: %w", err)
			}
		}
	}
	s.encodeOurTable()
	if !s.cfg.NoListen {
		ln, err := s.cfg.Network.Listen(s.ctx, "tcp", s.cfg.Listen)
		if err != nil {
			s.abortStart()
			return netError("listen", err)
		}
		s.ln = ln
		s.addr = addrPortOf(ln.Addr())
		s.hosts.SetSelf(s.addr, s.advertised())
		s.log.Info("listening", zap.Stringer("addr", s.addr), zap.Stringer("guid", s.guid))
		s.startUDP() // before the first link, which may ask for a connect-back
		s.wg.Add(1)
		go s.acceptLoop()
	} else {
		s.log.Info("dial-only: no listening port", zap.Stringer("guid", s.guid))
	}
	s.startBootstrap()
	s.wg.Add(4)
	go func() {
		defer s.wg.Done()
		s.tableClock.Run(s.ctx)
	}()
	go s.keepConnected(s.cfg.Peers, s.cfg.Connections)
	go s.qrpLoop()
	go s.saveLoop()
	if s.cfg.Mode == ModeAuto {
		s.wg.Add(1)
		go s.autoRole()
	}
	if s.lib != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.lib.Run(s.ctx); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Warn("library stopped", zap.Error(err))
			}
		}()
	}
	return nil
}

// abortStart undoes what a failed Start did (nothing runs yet but the
// context) and closes the servent. Nothing is saved: what New loaded has
// not changed.
func (s *Servent) abortStart() {
	s.closeOnce.Do(func() {
		s.cancel()
		s.closeUnstarted()
	})
}

// Close says Bye 200 to every peer, stops everything, saves state and
// gives the data directory back. It returns once every peer has taken its
// Bye and closed in turn, or the Bye window (2 s) has passed. Calls after
// the first wait for it and return nil. A servent never started has only
// its data directory to give back.
func (s *Servent) Close() error {
	s.closeOnce.Do(func() {
		if s.cancel == nil {
			s.closeUnstarted()
			return
		}
		s.shutdown()
	})
	return nil
}

// closeUnstarted closes a servent that runs nothing.
func (s *Servent) closeUnstarted() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.releaseDataDir()
}

func (s *Servent) shutdown() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	for _, c := range conns {
		c.close(wire.ByeNormal, "Shutting Down")
	}
	// Give the Byes their window, then stop whatever is left. A
	// handshake in flight is let finish within it too: its peer may hold
	// the link for up already (it sent its final 200), and cancelling ctx
	// would cut its TLS handshake without a word; finished, it finds us
	// closed and says Bye (startConn).
	done := make(chan struct{})
	go func() {
		for _, c := range conns {
			<-c.done
		}
		s.handshakes.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(byeWindow + 500*time.Millisecond):
	}
	s.cancel()
	s.wg.Wait()
	s.saveCaches()
	s.releaseDataDir() // the data directory is free once its state is saved
}

// Addr is where the servent listens.
func (s *Servent) Addr() netip.AddrPort { return s.addr }

// GUID is our servent GUID.
func (s *Servent) GUID() wire.GUID { return s.guid }

// StartedAt is when Start was called (zero before), for uptime.
func (s *Servent) StartedAt() time.Time { return s.startedAt }

// Library is the shared library, nil when nothing is shared.
func (s *Servent) Library() *library.Library { return s.lib }

// Hosts is the host cache.
func (s *Servent) Hosts() *hostcache.Cache { return s.hosts }

// Rescan asks for a rescan of the shared library (the SIGHUP hook).
func (s *Servent) Rescan() {
	if s.lib != nil {
		s.lib.RequestRescan()
	}
}

// hostAddr is the address we give peers as a host to keep and dial
// later: our Listen-IP and our own Pongs. A Transient servent gives none
// (0.0.0.0:0, as one without a port), though its hits carry advertised.
func (s *Servent) hostAddr() netip.AddrPort {
	if s.cfg.Transient {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	return s.advertised()
}

// advertised is the address we put in QueryHits and Pushes, and (see
// hostAddr) in Pongs and Listen-IP. A dial-only servent has none to give:
// 0.0.0.0:0, with the push flag set.
func (s *Servent) advertised() netip.AddrPort {
	if s.cfg.AdvertiseAddr.IsValid() {
		return s.cfg.AdvertiseAddr
	}
	if s.cfg.NoListen {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	a := s.addr.Addr()
	if a.IsUnspecified() {
		s.mu.Lock()
		r := s.elected
		s.mu.Unlock()
		if r.IsValid() {
			a = r
		} else {
			a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
	}
	return netip.AddrPortFrom(a.Unmap(), s.addr.Port())
}

// beginHandshake counts a Gnutella handshake in flight unless we are
// shutting down; the caller calls s.handshakes.Done when it ends if it
// was counted. The count is taken under mu with closed unset, so every
// Add happens before shutdown's Wait.
func (s *Servent) beginHandshake() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.handshakes.Add(1)
	return true
}

// reserveSlot takes a connection slot of kind: one of MaxPeers
// ultrapeer/neighbour slots (LeafUltrapeers for a leaf) or one of
// MaxLeaves leaf slots.
func (s *Servent) reserveSlot(kind slotKind) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.slotsFor(kind)
	if s.closed || *n >= s.slotLimit(kind) {
		return false
	}
	*n++
	return true
}

func (s *Servent) releaseSlot(kind slotKind) {
	s.mu.Lock()
	*s.slotsFor(kind)--
	s.mu.Unlock()
}

// register makes an established connection known to the router.
func (s *Servent) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	c.id = s.router.AddPeer(c.kind)
	c.done = make(chan struct{})
	s.conns[c.id] = c
	s.electAddrLocked()
	now := time.Now()
	if c.peer.outgoing {
		s.hosts.Connected(c.peer.remote, now)
	} else if c.peer.listen.IsValid() {
		_ = s.hosts.Add(c.peer.listen, hostcache.SourcePong, c.peer.ultrapeer, now)
	}
	return true
}

// unregister forgets a connection; every route through it dies at once.
func (s *Servent) unregister(c *conn) {
	if c.zw != nil {
		s.deflating.Add(-1)
	}
	last := c.counters(c.q.Stats())
	s.router.RemovePeer(c.id)
	s.mu.Lock()
	s.retired.fold(last)
	delete(s.conns, c.id)
	c.slotFree.Do(func() { s.releaseForLocked(c.peer) }) // if the writer has not (freeSlot)
	s.electAddrLocked()
	s.mu.Unlock()
	if c.kind == router.Leaf {
		s.qrp.dirty.Store(true)
	}
	close(c.done)
}

// connByID returns a live connection.
func (s *Servent) connByID(id router.PeerID) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[id]
}

// connected reports whether we have a connection to addr (either way).
func (s *Servent) connected(addr netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if c.peer.remote == addr || c.peer.listen == addr {
			return true
		}
	}
	return false
}

// tryHosts are the hosts we suggest in X-Try-Ultrapeers when full: our
// ultrapeer neighbours' listening addresses and ultrapeers from the cache.
// Never our leaves: they take no leaves, and whoever learns a host from
// this header takes it for an ultrapeer.
func (s *Servent) tryHosts(skip netip.AddrPort, n int) []netip.AddrPort {
	var out []netip.AddrPort
	s.mu.Lock()
	for _, c := range s.conns {
		if a := c.peer.listen; a.IsValid() && a != skip && len(out) < n && c.peer.ultrapeer && c.kind != router.Leaf {
			out = append(out, a)
		}
	}
	s.mu.Unlock()
	for _, a := range s.hosts.Sample(n, true) {
		if len(out) >= n {
			break
		}
		if a != skip && !containsAddr(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func containsAddr(list []netip.AddrPort, a netip.AddrPort) bool {
	for _, b := range list {
		if a == b {
			return true
		}
	}
	return false
}

// Connect dials addr and completes a handshake. The connection is then kept
// by the servent; it is not redialled if it drops unless addr is one of the
// configured peers.
func (s *Servent) Connect(addr netip.AddrPort) error {
	return s.ConnectContext(context.Background(), addr)
}

// ConnectContext is Connect that gives up when ctx ends (a Ctrl-C): the
// dial or the handshake under way is cut short. Its errors name addr; a
// refused handshake is a *wire.RefusedError.
func (s *Servent) ConnectContext(ctx context.Context, addr netip.AddrPort) error {
	if s.ctx == nil {
		return errors.New("connect before start")
	}
	if !s.reserveSlot(slotPeer) {
		return fmt.Errorf("connect %s: %w (%d of %d taken)", addr, errNoSlot, s.slotLimit(slotPeer), s.slotLimit(slotPeer))
	}
	err := s.dial(ctx, addr)
	if err != nil && ctx.Err() == nil { // an interrupted dial says nothing of the host
		s.hosts.Failed(addr, time.Now())
	}
	return err
}

// netError wraps a listen or dial failure. A *net.OpError names the
// operation and the address, and neterr says them in plain words ("listen
// on 127.0.0.1:6346: address already in use"); other errors are given
// what failed.
func netError(what string, err error) error {
	if _, ok := err.(*net.OpError); ok {
		return neterr.Plain(err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
