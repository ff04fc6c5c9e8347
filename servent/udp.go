package servent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/neterr"
)

// The UDP socket: one, on the Gnutella port's number, carrying Pings and
// Pongs (UDP host caches among them), out-of-band query replies (oob.go)
// and the connect-back Pings that tell us whether we are reachable
// (reach.go). Datagrams are single descriptors, parsed by the same wire
// code as TCP links.

const (
	// maxDatagram is the largest datagram we parse: gtk-gnutella's largest
	// UDP message is a deflated OOB QueryHit well under it; bigger ones are
	// counted and dropped.
	maxDatagram = 8 << 10
	// udpSourceWindow is the fixed window of the per-source rate limit.
	udpSourceWindow = time.Second
	// maxRateSources bounds the addresses a sourceRate tracks in one
	// window; past it, new ones share one budget, so spoofed sources
	// cost memory no more than they cost the limit.
	maxRateSources = 4096
	// maxPongIPP is how many hosts we put in GGEP IPP answering a UDP Ping
	// with SCP, as UDP host caches do.
	maxPongIPP = 10
	// maxIPPRead bounds the hosts read from one Pong's IPP.
	maxIPPRead = 50
)

// PacketNetwork is a Network that also has UDP sockets (net.ListenConfig's
// ListenPacket signature; memnet implements it). Without it the servent
// runs without UDP.
type PacketNetwork interface {
	ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error)
}

func (osNetwork) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	var lc net.ListenConfig
	return lc.ListenPacket(ctx, network, address)
}

// addrPortConn is what *net.UDPConn and *memnet.PacketConn offer beyond
// net.PacketConn: reads and writes without a net.Addr allocation each.
type addrPortConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// UDPStats are the UDP socket's counters (Stats.UDP).
type UDPStats struct {
	// Addr is the socket's local address; invalid when there is none.
	Addr netip.AddrPort
	// Reachable says unsolicited UDP reaches us (reach.go): our Queries
	// then ask for out-of-band replies.
	Reachable bool
	// In and Out count datagrams received and sent.
	In, Out uint64
	// InMessages and InBytes count the well-formed descriptors received
	// (the datagrams not dropped as oversized, over the rate or
	// malformed), by payload type, header included in bytes, as
	// PeerCounters count a link's; OutMessages and OutBytes those sent.
	InMessages, InBytes, OutMessages, OutBytes map[wire.PayloadType]uint64
	// Dropped datagrams, by reason: over maxDatagram; over the per-source
	// rate; not one well-formed descriptor; a descriptor we do not take
	// over UDP (a Query, a Push, an unknown vendor message, a Pong that
	// answers no Ping of ours).
	Oversized, RateLimited, Malformed, Ignored uint64
	// Pings answered, Pongs (to our Pings) learned from.
	Pings, Pongs uint64
	// OOB: the out-of-band counters (oob.go).
	OOB OOBStats
}

// udpSock is the servent's UDP socket and its receive-side state. Fields
// marked "reader" belong to the one reader goroutine.
type udpSock struct {
	pc   net.PacketConn
	io   addrPortConn
	addr netip.AddrPort

	rate sourceRate // reader
	msg  wire.Message
	out  []byte // reader: encoding buffer for answers

	in, sent, oversized, rateLimited, malformed, ignored atomic.Uint64
	pings, pongs                                         atomic.Uint64
	// By payload type: descriptors and bytes in and out.
	inMsgs, inBytes, outMsgs, outBytes [256]atomic.Uint64

	// pinged holds the GUIDs of our UDP Pings still awaiting Pongs: a
	// UDP source is easily forged, so only Pongs we asked for teach the
	// host cache.
	pingMu sync.Mutex
	pinged map[wire.GUID]time.Time
}

const (
	// pingWait is how long a UDP Ping's Pongs are taken.
	pingWait = time.Minute
	// maxPinged bounds the UDP Pings awaiting Pongs.
	maxPinged = 256
)

// pingUDP sends a UDP Ping with the given GUID and extensions to to, and
// takes the Pongs that answer it for pingWait.
func (s *Servent) pingUDP(to netip.AddrPort, guid wire.GUID, ext ...wire.GGEPExtension) error {
	u := s.udp
	if u == nil {
		return errNoUDP
	}
	now := time.Now()
	u.pingMu.Lock()
	for g, t := range u.pinged {
		if now.Sub(t) >= pingWait {
			delete(u.pinged, g)
		}
	}
	if len(u.pinged) >= maxPinged {
		u.pingMu.Unlock()
		return errTooManyPings
	}
	if u.pinged == nil {
		u.pinged = map[wire.GUID]time.Time{}
	}
	u.pinged[guid] = now
	u.pingMu.Unlock()
	m := wire.Message{Header: wire.Header{GUID: guid, Type: wire.TypePing, TTL: 1}, Ping: wire.Ping{GGEP: wire.GGEP{Extensions: ext}}}
	b, err := m.Append(nil)
	if err != nil {
		return err
	}
	s.sendUDP(b, to)
	return nil
}

var errTooManyPings = errors.New("too many UDP Pings awaiting Pongs")

// askedFor reports whether a Pong's GUID answers one of our UDP Pings.
func (u *udpSock) askedFor(g wire.GUID, now time.Time) bool {
	u.pingMu.Lock()
	defer u.pingMu.Unlock()
	t, ok := u.pinged[g]
	return ok && now.Sub(t) < pingWait
}

// startUDP binds the UDP socket on the TCP port's number. Failing to bind
// is not fatal: the servent runs on TCP alone (and in-band only).
func (s *Servent) startUDP() {
	pn, ok := s.cfg.Network.(PacketNetwork)
	if s.cfg.NoUDP || s.cfg.NoListen || !ok {
		return
	}
	addr := net.JoinHostPort(listenHost(s.cfg.Listen), fmt.Sprint(s.addr.Port()))
	pc, err := pn.ListenPacket(s.ctx, "udp", addr)
	if err != nil {
		s.log.Warn("no UDP socket: out-of-band replies and UDP host caches are off", zap.String("addr", addr), zap.Error(neterr.Cause(err)))
		return
	}
	io, ok := pc.(addrPortConn)
	if !ok {
		pc.Close()
		s.log.Warn("UDP socket without address-port reads, UDP off", zap.String("addr", addr))
		return
	}
	u := &udpSock{pc: pc, io: io, addr: addrPortOfUDP(pc.LocalAddr())}
	u.rate = sourceRate{limit: s.cfg.UDPRatePerSource, span: udpSourceWindow, counts: map[netip.Addr]int{}}
	s.udp = u
	s.log.Info("UDP listening", zap.Stringer("addr", u.addr))
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.udpReadLoop(u)
	}()
	go s.reachLoop()
	context.AfterFunc(s.ctx, func() { pc.Close() })
}

// listenHost is the host part of a listen address ("" for ":6346").
func listenHost(listen string) string {
	h, _, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	return h
}

func addrPortOfUDP(a net.Addr) netip.AddrPort {
	if ua, ok := a.(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// udpBatch is how many datagrams one system call may read (recvmmsg).
const udpBatch = 64

// udpReadLoop reads datagrams until the socket closes: from an operating
// system socket udpBatch at a time (one recvmmsg each, through
// golang.org/x/net), else one by one. Each buffer is one byte over
// maxDatagram so that an oversized datagram is seen as such.
func (s *Servent) udpReadLoop(u *udpSock) {
	if uc, ok := u.pc.(*net.UDPConn); ok {
		s.udpReadBatches(u, newBatchConn(uc))
		return
	}
	buf := make([]byte, maxDatagram+1)
	for {
		n, from, err := u.io.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.udpReadFailed(err) {
				return
			}
			continue
		}
		s.handleDatagram(u, buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), time.Now())
	}
}

// udpReadFailed logs a read error and reports whether reading must stop.
func (s *Servent) udpReadFailed(err error) bool {
	if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
		return true
	}
	s.log.Warn("UDP read", zap.Error(err))
	return false
}

// batchConn reads many datagrams per system call: x/net's ipv4 and ipv6
// PacketConns have the same ReadBatch over the socket's own family.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

func newBatchConn(uc *net.UDPConn) batchConn {
	if a, ok := uc.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		return ipv6.NewPacketConn(uc) // also a dual-stack socket on ":port"
	}
	return ipv4.NewPacketConn(uc)
}

func (s *Servent) udpReadBatches(u *udpSock, bc batchConn) {
	msgs := make([]ipv4.Message, udpBatch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, maxDatagram+1)}
	}
	for {
		n, err := bc.ReadBatch(msgs, 0)
		if err != nil {
			if s.udpReadFailed(err) {
				return
			}
			continue
		}
		s.dispatchBatch(u, msgs[:n], time.Now())
	}
}

// dispatchBatch hands each datagram of a batch read to handleDatagram.
func (s *Servent) dispatchBatch(u *udpSock, msgs []ipv4.Message, now time.Time) {
	for i := range msgs {
		m := &msgs[i]
		ua, ok := m.Addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		from := ua.AddrPort()
		s.handleDatagram(u, m.Buffers[0][:m.N], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), now)
	}
}

// handleDatagram parses and dispatches one datagram. It runs on the reader
// goroutine (and in the benchmark's).
func (s *Servent) handleDatagram(u *udpSock, b []byte, from netip.AddrPort, now time.Time) {
	u.in.Add(1)
	if len(b) > maxDatagram {
		u.oversized.Add(1)
		s.udpLog("oversized UDP datagram", from, fmt.Errorf("%d bytes, at most %d", len(b), maxDatagram))
		return
	}
	if !u.rate.allow(from.Addr(), now) {
		u.rateLimited.Add(1)
		return
	}
	h, err := wire.ParseHeader(b)
	if err == nil && int(h.Length) != len(b)-wire.HeaderLen {
		err = fmt.Errorf("%w: header says %d payload bytes, datagram holds %d", wire.ErrMalformed, h.Length, len(b)-wire.HeaderLen)
	}
	m := &u.msg
	if err == nil {
		err = m.Decode(h, b[wire.HeaderLen:])
	}
	if err != nil {
		u.malformed.Add(1)
		s.udpLog("malformed UDP datagram", from, err)
		return
	}
	u.inMsgs[h.Type].Add(1)
	u.inBytes[h.Type].Add(uint64(len(b)))
	s.reach.gotIncoming(s, from.Addr(), m, now)
	switch h.Type {
	case wire.TypePing:
		s.udpPing(u, m, from)
	case wire.TypePong:
		if !u.askedFor(h.GUID, now) {
			u.ignored.Add(1)
			return
		}
		s.udpPong(u, m, from, now)
	case wire.TypeVendor, wire.TypeStdVendor:
		if !s.udpVendor(u, m, from, now) {
			u.ignored.Add(1)
		}
	case wire.TypeQueryHit:
		s.oobHits(m, from)
	default:
		u.ignored.Add(1)
	}
}

// udpLog logs bad UDP input at most once a second per reason.
func (s *Servent) udpLog(reason string, from netip.AddrPort, err error) {
	s.limited.Log(zapcore.InfoLevel, reason, reason, zap.Stringer("from", from), zap.Error(err))
}

// sendUDP sends one encoded descriptor and remembers that we sent to its
// address (an answer from there is then solicited, reach.go).
func (s *Servent) sendUDP(b []byte, to netip.AddrPort) {
	u := s.udp
	if u == nil {
		return
	}
	s.reach.recordSent(to.Addr(), time.Now())
	if _, err := u.io.WriteToUDPAddrPort(b, to); err != nil {
		s.udpLog("UDP send", to, err)
		return
	}
	u.sent.Add(1)
	if len(b) >= wire.HeaderLen {
		t := b[16] // the payload type (every caller sends one encoded descriptor)
		u.outMsgs[t].Add(1)
		u.outBytes[t].Add(uint64(len(b)))
	}
}

// byType reads per-type counters into a map of the types seen.
func byType(c *[256]atomic.Uint64) map[wire.PayloadType]uint64 {
	m := map[wire.PayloadType]uint64{}
	for t := range c {
		if n := c[t].Load(); n > 0 {
			m[wire.PayloadType(t)] = n
		}
	}
	return m
}

// udpPing answers a UDP Ping with our Pong. A Ping with GGEP "SCP" asks
// for hosts, as a UDP host cache answers: we add up to maxPongIPP
// ultrapeers in GGEP "IPP". A Ping bearing our servent GUID is the answer
// to our connect-back request (reach.go), not a question.
func (s *Servent) udpPing(u *udpSock, m *wire.Message, from netip.AddrPort) {
	if m.Header.GUID == s.guid {
		return
	}
	u.pings.Add(1)
	p := wirePong(s.ownPong())
	if _, ok := m.Ping.GGEP.Get("SCP"); ok {
		if hosts := s.hosts.Sample(maxPongIPP, true); len(hosts) > 0 {
			if e, err := wire.NewGGEPExtension("IPP", ippValue(hosts), false, false); err == nil {
				p.GGEP.Extensions = append(p.GGEP.Extensions, e)
			}
		}
	}
	reply := wire.Message{Header: wire.Header{GUID: m.Header.GUID, Type: wire.TypePong, TTL: 1}, Pong: p}
	b, err := reply.Append(u.out[:0])
	if err != nil {
		return // our advertised address is IPv6: nothing to put in a Pong
	}
	u.out = b
	s.sendUDP(b, from)
}

// ippValue packs the IPv4 hosts of hosts as a GGEP "IPP" value (the
// 6-byte entries of GGEP PUSH); others cannot be put there.
func ippValue(hosts []netip.AddrPort) []byte {
	v4 := hosts[:0:0]
	for _, h := range hosts {
		if h.Addr().Unmap().Is4() {
			v4 = append(v4, netip.AddrPortFrom(h.Addr().Unmap(), h.Port()))
		}
	}
	b, _ := wire.AppendAddrPorts(nil, v4) // IPv4 only: no error
	return b
}

// udpPong learns the host a UDP Pong describes and those of its GGEP
// "IPP", and tells the bootstrapper if it was waiting for this Pong.
func (s *Servent) udpPong(u *udpSock, m *wire.Message, from netip.AddrPort, now time.Time) {
	u.pongs.Add(1)
	p := &m.Pong
	learned := 0
	if ap := p.AddrPort(); ap.IsValid() && ap.Port() != 0 {
		if s.hosts.Add(ap, hostcache.SourcePong, ultrapeerPong(p) != nil, now) == nil {
			learned++
		}
	}
	if e, ok := p.GGEP.Get("IPP"); ok {
		if v, err := e.Value(); err == nil {
			hosts, err := wire.ParseAddrPorts(v)
			if err != nil {
				s.udpLog("malformed IPP in UDP Pong", from, err)
			}
			hosts = hosts[:min(len(hosts), maxIPPRead)]
			for _, h := range hosts {
				if s.hosts.Add(h, hostcache.SourceUDPHostCache, true, now) == nil {
					learned++
				}
			}
		}
	}
	// A host cache we pinged may be a plain servent (gtk-gnutella answers
	// an SCP Ping with its own Pong and no IPP when it knows nobody): its
	// own host counts as what it gave.
	s.boot.udpCacheAnswered(from, learned)
}

// udpVendor handles the vendor messages we take over UDP; false means we
// do not take this one.
func (s *Servent) udpVendor(u *udpSock, m *wire.Message, from netip.AddrPort, now time.Time) bool {
	v := &m.Vendor
	switch {
	case v.Vendor == wire.VendorLIME && v.Selector == wire.SelectorReplyNumber:
		s.oobReplyNumber(m, from, now)
	case v.Vendor == wire.VendorLIME && v.Selector == wire.SelectorLimeACK:
		s.oobClaim(m, from)
	default:
		return false
	}
	return true
}

// udpStats reads the UDP counters.
func (s *Servent) udpStats() UDPStats {
	u := s.udp
	if u == nil {
		return UDPStats{OOB: s.oob.stats()}
	}
	return UDPStats{
		Addr:        u.addr,
		Reachable:   s.reach.reachable(time.Now()),
		In:          u.in.Load(),
		Out:         u.sent.Load(),
		Oversized:   u.oversized.Load(),
		RateLimited: u.rateLimited.Load(),
		Malformed:   u.malformed.Load(),
		Ignored:     u.ignored.Load(),
		Pings:       u.pings.Load(),
		Pongs:       u.pongs.Load(),
		InMessages:  byType(&u.inMsgs),
		InBytes:     byType(&u.inBytes),
		OutMessages: byType(&u.outMsgs),
		OutBytes:    byType(&u.outBytes),
		OOB:         s.oob.stats(),
	}
}
