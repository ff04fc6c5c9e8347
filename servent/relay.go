package servent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/neterr"
)

// Firewall-to-firewall transfers through a relay. Two firewalled hosts
// cannot connect to each other, and a Push only helps when the downloader
// can be connected to. A relaying ultrapeer (Config.Relay, announced with
// X-Govent-Relay: 1) can be connected to by both:
//
//  1. the downloader, its leaf, asks it for a rendezvous slot (GOVT/1,
//     naming the uploader's servent GUID) and gets a slot index, the
//     relay's address and a token (GOVT/2);
//  2. the downloader connects to the relay and sends
//     "RELAY <token>\r\n\r\n", then waits;
//  3. the downloader has a Push sent to the uploader (through the
//     uploader's push proxies, else routed) whose address is the relay's
//     and whose file index is the slot's;
//  4. the uploader, any servent, connects to that address and sends
//     "GIV <index>:<its GUID>/<name>" as it always does; the relay matches
//     GUID and index to the slot, sends the GIV on to the waiting
//     downloader and from then on copies bytes both ways.
//
// The downloader's side then sees what it sees after any Push: a
// connection that starts with a GIV, on which it sends its GET.
//
// The relay is bounded: RelayMaxTransfers slots at once (waiting ones
// included), RelaySlotTimeout for both sides to arrive, RelayMaxBytes per
// transfer, relayIdleTimeout of silence, and RelayKBps for all of them
// together. It grants slots only to its own leaves, and takes a slot's
// downloader connection only from that leaf's address.

const (
	// relayHeader announces a relaying ultrapeer in the handshake.
	relayHeader = "X-Govent-Relay"
	// relayIdleTimeout ends a relayed transfer silent in both directions.
	relayIdleTimeout = time.Minute
	// relayGrantTimeout is how long a downloader waits for GOVT/2.
	relayGrantTimeout = 10 * time.Second
	// relayBuffer is the copy buffer of each direction.
	relayBuffer = 16 << 10
	// maxRelayLine bounds the RELAY block.
	maxRelayLine = 256
	// maxRelayIndex keeps slot indices below the ones gtk-gnutella treats
	// specially (0x7FFFFFFD asks for RUDP, 0xFFFFFFFx are generic).
	maxRelayIndex = 0x7FFF0000
)

var (
	errNoRelay      = errors.New("no ultrapeer of ours relays (X-Govent-Relay)")
	errRelayRefused = errors.New("relay refused a slot")
	errRelayCap     = errors.New("relayed transfer over RelayMaxBytes")
)

// relayKey names a slot as the uploader's GIV does.
type relayKey struct {
	uploader wire.GUID
	index    uint32
}

// relaySlot is one granted rendezvous.
type relaySlot struct {
	key    relayKey
	token  wire.GUID
	leafIP netip.Addr // the downloader joins from its link's address
	down   net.Conn   // the downloader, once it joined
	up     net.Conn   // the uploader, once its GIV came
	giv    httpxfer.GIV
	timer  *time.Timer // expiry while waiting for a side
	// spliced: both sides are in and the copy runs; the timer no longer
	// ends the slot.
	spliced bool
}

type relayCounters struct {
	granted, full, notLeaf, off          atomic.Uint64
	unknownJoin, strayGIV, expired, done atomic.Uint64
	capped, bytes                        atomic.Uint64
}

// RelayStats counts the relay's work and refusals.
type RelayStats struct {
	// Granted slots, and requests refused: all slots taken, asked by a
	// peer that is not our leaf, or asked while we do not relay.
	Granted, RefusedFull, RefusedNotLeaf, RefusedOff uint64
	// UnknownJoin: RELAY connections with no such slot (or from another
	// address). StrayGIV: GIVs that matched neither a slot nor a Push of
	// ours. Expired: slots whose sides did not both arrive in time.
	UnknownJoin, StrayGIV, Expired uint64
	// Transfers: spliced transfers that ended; Capped: those cut at
	// RelayMaxBytes. Bytes: bytes relayed, both directions.
	Transfers, Capped, Bytes uint64
	// Active: slots granted and not yet ended.
	Active int
}

// relay is both the relaying ultrapeer's state and the downloader's
// waiting for grants.
type relay struct {
	s       *Servent
	limiter *rate.Limiter

	mu      sync.Mutex
	slots   map[relayKey]*relaySlot
	tokens  map[wire.GUID]*relaySlot
	active  int
	pending map[wire.GUID]relayWait // our requests, by message GUID

	stats relayCounters
}

type relayWait struct {
	c  *conn
	ch chan wire.RelayGrant
}

func newRelay(s *Servent) *relay {
	bps := s.cfg.RelayKBps << 10
	return &relay{
		s:       s,
		limiter: rate.NewLimiter(rate.Limit(bps), max(bps, relayBuffer)),
		slots:   map[relayKey]*relaySlot{},
		tokens:  map[wire.GUID]*relaySlot{},
		pending: map[wire.GUID]relayWait{},
	}
}

func (r *relay) snapshot() RelayStats {
	r.mu.Lock()
	active := r.active
	r.mu.Unlock()
	st := &r.stats
	return RelayStats{
		Granted: st.granted.Load(), RefusedFull: st.full.Load(), RefusedNotLeaf: st.notLeaf.Load(), RefusedOff: st.off.Load(),
		UnknownJoin: st.unknownJoin.Load(), StrayGIV: st.strayGIV.Load(), Expired: st.expired.Load(),
		Transfers: st.done.Load(), Capped: st.capped.Load(), Bytes: st.bytes.Load(), Active: active,
	}
}

// request answers a leaf's GOVT/1 with a slot or a refusal.
func (r *relay) request(c *conn, guid wire.GUID, v *wire.Vendor) {
	uploader, err := wire.RelayRequestUploader(v)
	if err != nil {
		r.s.log.Debug("bad relay request", zap.Stringer("peer", c.peer.remote), zap.Error(err))
		return
	}
	g := r.grant(c, uploader)
	reply, err := wire.NewRelayGrant(g)
	if err != nil {
		r.s.log.Warn("encoding a relay grant", zap.Error(err))
		return
	}
	r.s.sendVendor(c, guid, reply)
}

func (r *relay) grant(c *conn, uploader wire.GUID) wire.RelayGrant {
	s := r.s
	adv := s.advertised()
	switch {
	case !s.cfg.Relay || s.IsLeaf() || s.cfg.Firewalled || !adv.Addr().Is4() || adv.Port() == 0:
		r.stats.off.Add(1)
		return wire.RelayGrant{Status: wire.RelayOff}
	case c.kind != router.Leaf:
		r.stats.notLeaf.Add(1)
		return wire.RelayGrant{Status: wire.RelayNotLeaf}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active >= s.cfg.RelayMaxTransfers {
		r.stats.full.Add(1)
		return wire.RelayGrant{Status: wire.RelayFull}
	}
	sl := &relaySlot{token: wire.NewGUID(), leafIP: c.peer.remote.Addr().Unmap()}
	for {
		sl.key = relayKey{uploader: uploader, index: 1 + rand.Uint32N(maxRelayIndex-1)}
		if r.slots[sl.key] == nil {
			break
		}
	}
	r.slots[sl.key] = sl
	r.tokens[sl.token] = sl
	r.active++
	sl.timer = time.AfterFunc(s.cfg.RelaySlotTimeout, func() { r.expire(sl) })
	r.stats.granted.Add(1)
	s.log.Info("relay slot granted", zap.Stringer("leaf", c.peer.remote), zap.Stringer("uploader", uploader),
		zap.Uint32("index", sl.key.index))
	return wire.RelayGrant{Status: wire.RelayGranted, Index: sl.key.index, Relay: adv, Token: sl.token}
}

// expire ends a slot whose two sides did not both arrive in time.
func (r *relay) expire(sl *relaySlot) {
	r.mu.Lock()
	if r.tokens[sl.token] != sl || sl.spliced {
		r.mu.Unlock()
		return // already ended, or spliced
	}
	r.forgetLocked(sl)
	r.mu.Unlock()
	r.stats.expired.Add(1)
	for _, nc := range []net.Conn{sl.down, sl.up} {
		if nc != nil {
			nc.Close()
		}
	}
}

func (r *relay) forgetLocked(sl *relaySlot) {
	delete(r.slots, sl.key)
	delete(r.tokens, sl.token)
	r.active--
}

// join takes a downloader's "RELAY <token>" connection into its slot.
func (r *relay) join(nc net.Conn, br *bufio.Reader, endFirstPhase func() bool) {
	head, err := wire.ReadHandshake(br, wire.HandshakeLimits{MaxBytes: maxRelayLine, MaxLines: 1})
	var token wire.GUID
	if err == nil {
		verb, arg, _ := strings.Cut(head.StartLine, " ")
		if verb != "RELAY" {
			err = fmt.Errorf("%w: %q is not RELAY", wire.ErrMalformed, clipLine(head.StartLine))
		} else {
			token, err = wire.ParseGUID(strings.TrimSpace(arg))
		}
	}
	if err == nil && br.Buffered() > 0 {
		err = fmt.Errorf("%d bytes after the RELAY block", br.Buffered())
	}
	if err == nil && !endFirstPhase() {
		nc.Close() // evicted as its line came in
		return
	}
	from := addrPortOf(nc.RemoteAddr()).Addr().Unmap()
	r.mu.Lock()
	sl := r.tokens[token]
	ok := err == nil && sl != nil && sl.down == nil && sl.leafIP == from
	if ok {
		sl.down = nc
	}
	r.mu.Unlock()
	if !ok {
		r.stats.unknownJoin.Add(1)
		if err == nil {
			err = errors.New("no such slot for this address")
		}
		r.s.rateLog("RELAY without a slot", nc, err)
		nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	r.maybeSplice(sl)
}

// matchGIV takes an uploader's GIV connection into the slot it names and
// reports whether one was waiting for it.
func (r *relay) matchGIV(giv httpxfer.GIV, nc net.Conn) bool {
	r.mu.Lock()
	sl := r.slots[relayKey{uploader: giv.ServentGUID, index: giv.Index}]
	ok := sl != nil && sl.up == nil
	if ok {
		sl.up, sl.giv = nc, giv
	}
	r.mu.Unlock()
	if ok {
		r.maybeSplice(sl)
	}
	return ok
}

// maybeSplice starts copying once both sides of sl are in.
func (r *relay) maybeSplice(sl *relaySlot) {
	r.mu.Lock()
	ready := sl.down != nil && sl.up != nil && !sl.spliced && r.tokens[sl.token] == sl
	if ready {
		sl.spliced = true
		sl.timer.Stop()
	}
	r.mu.Unlock()
	if !ready {
		return // a side is missing, or the slot expired meanwhile
	}
	s := r.s
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := r.splice(sl)
		r.mu.Lock()
		r.forgetLocked(sl)
		r.mu.Unlock()
		r.stats.done.Add(1)
		if errors.Is(err, errRelayCap) {
			r.stats.capped.Add(1)
		}
		s.log.Info("relayed transfer ended", zap.Stringer("uploader", sl.key.uploader),
			zap.Stringer("downloader", sl.down.RemoteAddr()), zap.Error(err))
	}()
}

// splice hands the GIV to the downloader and copies both ways until either
// side ends (an HTTP session is over when either end closes), a copy fails,
// the byte cap is reached or both directions are idle.
func (r *relay) splice(sl *relaySlot) error {
	defer sl.down.Close()
	defer sl.up.Close()
	giv, err := httpxfer.AppendGIV(nil, httpxfer.GIV{Index: sl.giv.Index, ServentGUID: sl.giv.ServentGUID, Name: "file"})
	if err == nil {
		_ = sl.down.SetWriteDeadline(time.Now().Add(relayIdleTimeout))
		_, err = sl.down.Write(giv)
	}
	if err != nil {
		return fmt.Errorf("relay: GIV to the downloader: %w", err)
	}
	ctx, cancel := context.WithCancel(r.s.ctx)
	defer cancel()
	var sh relayShared
	sh.last.Store(time.Now().UnixNano())
	errc := make(chan error, 2)
	go func() { errc <- r.pipe(ctx, sl.down, sl.up, &sh) }()
	go func() { errc <- r.pipe(ctx, sl.up, sl.down, &sh) }()
	first := <-errc
	// What the ended direction read is written: closing loses nothing.
	cancel()
	sl.down.Close()
	sl.up.Close()
	<-errc
	return first
}

// relayShared is what a transfer's two directions share: the bytes moved
// (for the cap) and when either last read something (for the idle limit:
// while the body flows one way, the other way is silent).
type relayShared struct {
	moved, last atomic.Int64
}

// pipe copies src to dst under the shared bandwidth limit until src ends
// (nil) or something fails.
func (r *relay) pipe(ctx context.Context, dst, src net.Conn, sh *relayShared) error {
	buf := make([]byte, relayBuffer)
	for {
		_ = src.SetReadDeadline(time.Now().Add(relayIdleTimeout))
		n, err := src.Read(buf)
		var ne net.Error
		if n == 0 && errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil &&
			time.Since(time.Unix(0, sh.last.Load())) < relayIdleTimeout {
			continue // the other direction is busy
		}
		if n > 0 {
			sh.last.Store(time.Now().UnixNano())
			if sh.moved.Add(int64(n)) > r.s.cfg.RelayMaxBytes {
				return errRelayCap
			}
			if werr := r.limiter.WaitN(ctx, n); werr != nil {
				return fmt.Errorf("relay: %w", werr)
			}
			_ = dst.SetWriteDeadline(time.Now().Add(relayIdleTimeout))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return fmt.Errorf("relay: write: %w", werr)
			}
			r.stats.bytes.Add(uint64(n))
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("relay: read: %w", err)
		}
	}
}

// relays returns our links to relaying ultrapeers.
func (r *relay) relays() []*conn {
	s := r.s
	var out []*conn
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if c.peer.relay && c.peer.ultrapeer {
			out = append(out, c)
		}
	}
	return out
}

// available reports whether one of our ultrapeers relays.
func (r *relay) available() bool { return len(r.relays()) > 0 }

// ask gets a rendezvous slot for a transfer from uploader from one of our
// relaying ultrapeers.
func (r *relay) ask(ctx context.Context, uploader wire.GUID) (wire.RelayGrant, error) {
	relays := r.relays()
	if len(relays) == 0 {
		return wire.RelayGrant{}, errNoRelay
	}
	var errs []error
	for _, c := range relays {
		g, err := r.askOne(ctx, c, uploader)
		if err == nil {
			return g, nil
		}
		errs = append(errs, err)
	}
	return wire.RelayGrant{}, joinErrors(errs)
}

func (r *relay) askOne(ctx context.Context, c *conn, uploader wire.GUID) (wire.RelayGrant, error) {
	guid := wire.NewGUID()
	w := relayWait{c: c, ch: make(chan wire.RelayGrant, 1)}
	r.mu.Lock()
	r.pending[guid] = w
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.pending, guid)
		r.mu.Unlock()
	}()
	r.s.sendVendor(c, guid, wire.NewRelayRequest(uploader))
	timer := time.NewTimer(relayGrantTimeout)
	defer timer.Stop()
	select {
	case g := <-w.ch:
		if g.Status != wire.RelayGranted {
			return g, fmt.Errorf("%w: %s says %s", errRelayRefused, c.peer.name(), g.Status)
		}
		if !usableAddr(g.Relay) {
			return g, fmt.Errorf("%w: %s granted an unusable address %s", errRelayRefused, c.peer.name(), g.Relay)
		}
		return g, nil
	case <-timer.C:
		return wire.RelayGrant{}, fmt.Errorf("relay %s did not answer", c.peer.name())
	case <-ctx.Done():
		return wire.RelayGrant{}, ctx.Err()
	}
}

// granted delivers a GOVT/2 to the request waiting for it on that link.
func (r *relay) granted(c *conn, guid wire.GUID, v *wire.Vendor) {
	g, err := wire.ParseRelayGrant(v)
	if err != nil {
		r.s.log.Debug("bad relay grant", zap.Stringer("peer", c.peer.remote), zap.Error(err))
		return
	}
	r.mu.Lock()
	w, ok := r.pending[guid]
	r.mu.Unlock()
	if !ok || w.c != c {
		return
	}
	select {
	case w.ch <- g:
	default:
	}
}

// dialSlot joins the slot g at the relay and returns the connection and
// its reader, on which the uploader's GIV will arrive.
func (r *relay) dialSlot(ctx context.Context, g wire.RelayGrant) (net.Conn, *bufio.Reader, error) {
	dctx, cancel := context.WithTimeout(ctx, directDialTimeout)
	nc, err := r.s.cfg.Network.DialContext(dctx, "tcp", g.Relay.String())
	cancel()
	if err != nil {
		return nil, nil, fmt.Errorf("relay %s: %w", g.Relay, neterr.Cause(err))
	}
	line := "RELAY " + g.Token.String() + "\r\n\r\n"
	_ = nc.SetWriteDeadline(time.Now().Add(directDialTimeout))
	if _, err := nc.Write([]byte(line)); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("relay %s: %w", g.Relay, err)
	}
	_ = nc.SetWriteDeadline(time.Time{})
	return nc, bufio.NewReaderSize(nc, 256), nil
}
