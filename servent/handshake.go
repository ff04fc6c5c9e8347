package servent

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/govent/govent/router"
	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/neterr"
)

// Version is Govent's version, sent in User-Agent and Server headers.
const Version = "0.1.0"

// UserAgent is what we call ourselves in handshakes and HTTP.
const UserAgent = "Govent/" + Version

// Handshake status lines.
const (
	connect06 = "GNUTELLA CONNECT/0.6"
	status200 = "GNUTELLA/0.6 200 OK"
)

// maxAnnouncedTTL is the most X-Max-TTL may say (dynamic_query
// 2.5.3.2.1: "The X-Max-TTL MUST NOT exceed 4").
const maxAnnouncedTTL = 4

// errNotUltrapeer: a leaf dialled a host that is no ultrapeer.
var errNotUltrapeer = errors.New("not an ultrapeer, and a leaf connects to ultrapeers only")

// peerInfo is what a handshake tells about the other side.
type peerInfo struct {
	remote      netip.AddrPort // the TCP peer
	listen      netip.AddrPort // where it accepts connections, when it said so
	userAgent   string
	ultrapeer   bool
	version04   bool // connected with the 0.4 handshake
	deflateIn   bool // it compresses what it sends us
	deflateOut  bool // we compress what we send it
	remoteIP    netip.Addr
	headers     *wire.Handshake
	outgoing    bool
	serventGUID wire.GUID
	// saidLeaf: it said X-Ultrapeer: False, so it is a leaf.
	saidLeaf bool
	// ultrapeerNeeded: its X-Ultrapeer-Needed, True when absent.
	ultrapeerNeeded bool
	// upQRP: it takes ultrapeer-to-ultrapeer QRP tables
	// (X-Ultrapeer-Query-Routing: 0.1).
	upQRP bool
	// vendorMessages: it said Vendor-Message, so it reads them.
	vendorMessages bool
	// relay: it said X-Govent-Relay: 1, so it relays between firewalled
	// hosts (relay.go).
	relay bool
	// slot is the connection budget it takes; slotAddr the address whose
	// share it counts in (reserveFor), invalid for a peer we dialled.
	slot     slotKind
	slotAddr netip.Addr
	// tls: the link runs over TLS, opened so or upgraded in the handshake.
	tls bool
}

// name is how logs and events name the peer: its listening address when it
// told us (so both ends of a link name a node alike), else the TCP peer.
func (p *peerInfo) name() netip.AddrPort {
	if p.listen.IsValid() {
		return p.listen
	}
	return p.remote
}

// ourHeaders builds the headers we send in a CONNECT or a 200 answer,
// saying we are a leaf (asLeaf) or an ultrapeer.
func (s *Servent) ourHeaders(remote netip.AddrPort, asLeaf bool) *wire.Handshake {
	h := &wire.Handshake{}
	h.Add("User-Agent", UserAgent)
	if asLeaf {
		h.Add("X-Ultrapeer", "False")
		h.Add("X-Query-Routing", "0.2")
	} else {
		h.Add("X-Ultrapeer", "True")
		h.Add("X-Ultrapeer-Needed", boolHeader(s.ultrapeerNeeded()))
		h.Add("X-Query-Routing", "0.2")
		h.Add("X-Ultrapeer-Query-Routing", "0.1")
		// gtk-gnutella leaves want a degree of at least 16 and dynamic
		// querying before they take an ultrapeer.
		h.Add("X-Degree", strconv.Itoa(max(s.cfg.MaxPeers, 16)))
		// X-Max-TTL is the TTL we take fresh Queries with; the dynamic
		// querying spec caps it at 4 (gtk-gnutella says 4 too).
		h.Add("X-Max-TTL", strconv.Itoa(int(min(s.cfg.DefaultTTL, maxAnnouncedTTL))))
		h.Add("X-Dynamic-Querying", "0.1")
		if s.cfg.Relay {
			h.Add(relayHeader, "1")
		}
	}
	h.Add("Pong-Caching", "0.1")
	h.Add("Bye-Packet", "0.1")
	h.Add("GGEP", "0.5")
	h.Add("Vendor-Message", "0.2")
	h.Add("GUID", s.guid.String())
	if adv := s.hostAddr(); adv.IsValid() && adv.Port() != 0 {
		h.Add("Listen-IP", adv.String())
	}
	if remote.IsValid() {
		h.Add("Remote-IP", remote.Addr().Unmap().String())
	}
	if !s.cfg.NoDeflateIn {
		h.Add("Accept-Encoding", "deflate")
	}
	if s.tlsConf != nil {
		// gtk-gnutella remembers hosts that say so and may open its next
		// connections to them with TLS straight away.
		h.Add("X-Features", tlsFeature)
	}
	return h
}

// offersTLS reports whether a CONNECT proposes the TLS upgrade.
func offersTLS(h *wire.Handshake) bool { return h.HasToken("Upgrade", tlsToken) }

// saysUpgrade reports whether a block agrees to switch protocols now.
func saysUpgrade(h *wire.Handshake) bool { return h.HasToken("Connection", "Upgrade") }

func boolHeader(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// claim is what the peer's handshake says it is.
func (p *peerInfo) claim() router.Claim {
	switch {
	case p.ultrapeer:
		return router.ClaimUltrapeer
	case p.saidLeaf:
		return router.ClaimLeaf
	}
	return router.ClaimNone
}

// slotOf is the connection budget a peer of kind takes.
func slotOf(kind router.PeerKind) slotKind {
	if kind == router.Leaf {
		return slotLeaf
	}
	return slotPeer
}

// reasonLeafMode is why a leaf refuses a peer that is no ultrapeer.
const reasonLeafMode = "Leaf Mode, Ultrapeers Only"

// peerSlot decides which budget a peer takes, or why it is refused, as the
// router's Admit says for our role: a leaf takes ultrapeers only; an
// ultrapeer takes leaves (they say X-Ultrapeer: False) in MaxLeaves and
// everyone else in MaxPeers.
func (s *Servent) peerSlot(p *peerInfo) (slotKind, string) {
	kind, ok := s.router.Admit(p.claim())
	if !ok {
		return slotPeer, reasonLeafMode
	}
	return slotOf(kind), ""
}

// readBlock reads one handshake block under the servent's limits.
func readBlock(br *bufio.Reader) (*wire.Handshake, error) {
	return wire.ReadHandshake(br, wire.HandshakeLimits{})
}

// writeBlock writes one block; the deadline on nc bounds it.
func writeBlock(nc net.Conn, h *wire.Handshake) error {
	_, err := nc.Write(h.Append(nil))
	return err
}

// parsePeerHeaders fills what the other side told us.
func parsePeerHeaders(p *peerInfo, h *wire.Handshake) {
	p.headers = h
	p.userAgent, _ = h.Get("User-Agent")
	if v, ok := h.Get("X-Ultrapeer"); ok {
		p.ultrapeer = strings.EqualFold(strings.TrimSpace(v), "true")
		p.saidLeaf = strings.EqualFold(strings.TrimSpace(v), "false")
	}
	p.ultrapeerNeeded = true
	if v, ok := h.Get("X-Ultrapeer-Needed"); ok {
		p.ultrapeerNeeded = !strings.EqualFold(strings.TrimSpace(v), "false")
	}
	if v, ok := h.Get("X-Ultrapeer-Query-Routing"); ok {
		p.upQRP = strings.TrimSpace(v) == "0.1"
	}
	_, p.vendorMessages = h.Get("Vendor-Message")
	if v, ok := h.Get(relayHeader); ok {
		p.relay = strings.TrimSpace(v) == "1"
	}
	// Listen-IP is the 0.6 draft's; gtk-gnutella says Node, LimeWire once
	// said X-My-Address.
	for _, name := range []string{"Listen-IP", "Node", "X-My-Address"} {
		if v, ok := h.Get(name); ok {
			if ap, err := netip.ParseAddrPort(strings.TrimSpace(v)); err == nil && ap.Port() != 0 {
				p.listen = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
				break
			}
		}
	}
	if v, ok := h.Get("Remote-IP"); ok {
		if a, err := netip.ParseAddr(strings.TrimSpace(v)); err == nil {
			p.remoteIP = a
		}
	}
	if v, ok := h.Get("GUID"); ok {
		if g, err := wire.ParseGUID(strings.TrimSpace(v)); err == nil {
			p.serventGUID = g
		}
	}
}

// mayDeflateOut reports whether we may compress one more link. The count is
// of established links, so handshakes in flight may pass it by a few.
func (s *Servent) mayDeflateOut() bool {
	return !s.cfg.NoDeflateOut && int(s.deflating.Load()) < s.cfg.MaxDeflateOut
}

// acceptsDeflate reports whether the block offers to read deflate.
func acceptsDeflate(h *wire.Handshake) bool { return h.HasToken("Accept-Encoding", "deflate") }

// sendsDeflate reports whether the block says its sender compresses.
func sendsDeflate(h *wire.Handshake) bool { return h.HasToken("Content-Encoding", "deflate") }

// acceptGnutella runs the server side of a handshake on an accepted
// connection: 0.6 (three blocks) or 0.4 (CONNECT/OK). It starts the
// connection on success. The deadline on nc, set when it was accepted,
// bounds the whole handshake.
func (s *Servent) acceptGnutella(nc net.Conn, br *bufio.Reader, endFirstPhase func() bool) {
	if s.beginHandshake() {
		defer s.handshakes.Done()
	}
	remote := addrPortOf(nc.RemoteAddr())
	p := &peerInfo{remote: remote}
	first, err := s.readPeerBlock(nc, br)
	if err != nil {
		s.stats.handshakeFailed.Add(1)
		s.rateLog("bad handshake", nc, err)
		nc.Close()
		return
	}
	ver, ok := first.IsConnect()
	switch {
	case ok && ver == "0.4":
		p.version04 = true
		// A 0.4 peer is no ultrapeer: a leaf has no use for it. 0.4 has
		// no way to say "full": close, as gtk-gnutella does.
		if _, refusal := s.peerSlot(p); refusal != "" {
			s.stats.refusedRole.Add(1)
			nc.Close()
			return
		}
		if reason := s.reserveFor(p, slotPeer); reason != "" {
			s.rateLog("handshake refused: "+reason, nc, nil)
			nc.Close()
			return
		}
		if _, err := nc.Write([]byte(wire.Handshake04OK)); err != nil {
			s.releaseFor(p)
			nc.Close()
			return
		}
	case ok:
		parsePeerHeaders(p, first)
		kind, refusal := s.peerSlot(p)
		if refusal != "" {
			s.stats.refusedRole.Add(1)
			s.refuse(nc, remote, refusal)
			return
		}
		if kind == slotLeaf {
			s.makeRoomForLeaf()
		}
		if reason := s.reserveFor(p, kind); reason != "" {
			s.rateLog("handshake refused: "+reason, nc, nil)
			s.refuse(nc, remote, reason)
			return
		}
		ours := s.ourHeaders(remote, s.IsLeaf())
		ours.StartLine = status200
		if acceptsDeflate(first) && s.mayDeflateOut() {
			ours.Add("Content-Encoding", "deflate")
			p.deflateOut = true
		}
		// An offer over a link that is TLS already is ignored (the
		// upgrade spec says so).
		willTLS := s.tlsConf != nil && !isTLS(nc) && offersTLS(first)
		if willTLS {
			ours.Add("Upgrade", tlsToken)
			ours.Add("Connection", "Upgrade")
		}
		if err := s.writePeerBlock(nc, ours); err != nil {
			s.releaseFor(p)
			s.rateLog("handshake write failed", nc, err)
			nc.Close()
			return
		}
		final, err := s.readPeerBlock(nc, br)
		if err != nil {
			s.releaseFor(p)
			s.stats.handshakeFailed.Add(1)
			s.rateLog("bad final handshake block", nc, err)
			nc.Close()
			return
		}
		if _, code, reason, err := final.ParseStatus(); err != nil || code != 200 {
			if err == nil {
				err = &wire.RefusedError{Code: code, Reason: reason}
			}
			s.releaseFor(p)
			s.stats.handshakeFailed.Add(1)
			s.rateLog("peer refused our answer", nc, err)
			nc.Close()
			return
		}
		p.deflateIn = sendsDeflate(final)
		s.leafGuidance(p, final)
		if willTLS && saysUpgrade(final) {
			// The dialer agreed: its TLS ClientHello follows its block.
			tc, tbr, err := s.startTLS(s.ctx, nc, br, false)
			if err != nil {
				s.releaseFor(p)
				s.stats.handshakeFailed.Add(1)
				s.rateLog("TLS upgrade failed", nc, err)
				nc.Close()
				return
			}
			nc, br = tc, tbr
		}
		p.tls = isTLS(nc)
	default:
		s.stats.handshakeFailed.Add(1)
		s.rateLog("not a Gnutella connect", nc, fmt.Errorf("start line %q", first.StartLine))
		nc.Close()
		return
	}
	if !endFirstPhase() {
		s.releaseFor(p) // evicted as the handshake ended
		nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	s.startConn(nc, br, p)
}

// leafGuidance applies the ultrapeer's side of leaf guidance: an ultrapeer
// that dialled us and answers our 200 (which said whether we need more
// ultrapeers) with X-Ultrapeer: False has chosen to be our leaf.
func (s *Servent) leafGuidance(p *peerInfo, final *wire.Handshake) {
	v, ok := final.Get("X-Ultrapeer")
	if !ok || !strings.EqualFold(strings.TrimSpace(v), "false") || p.slot != slotPeer {
		return
	}
	if kind, _ := s.router.Admit(router.ClaimLeaf); kind == router.Leaf && s.moveFor(p, slotLeaf) {
		p.ultrapeer = false
		p.saidLeaf = true
	}
}

// refuse answers a 0.6 connect with 503 and hosts to try instead; the
// caller counted why.
func (s *Servent) refuse(nc net.Conn, remote netip.AddrPort, reason string) {
	h := &wire.Handshake{StartLine: "GNUTELLA/0.6 503 " + reason}
	h.Add("User-Agent", UserAgent)
	if hosts := s.tryHosts(remote, 10); len(hosts) > 0 {
		h.Add("X-Try-Ultrapeers", wire.FormatAddrList(hosts))
	}
	_ = s.writePeerBlock(nc, h)
	nc.Close()
}

// dial connects to addr and runs the client side of the handshake, until
// parent or the servent ends or the handshake timeout passes. It owns the
// slot Connect reserved: released on failure, the connection's on
// success.
//
// A one-command tool (Transient) says it is a leaf: an ultrapeer gives it
// one of its leaf slots, not one of the few ultrapeer slots its address
// may hold, and sends it its results but no Queries (it has no table). A
// host that is a leaf itself takes ultrapeers only, so it is asked again
// as one.
func (s *Servent) dial(parent context.Context, addr netip.AddrPort) error {
	if s.beginHandshake() {
		defer s.handshakes.Done()
	}
	ctx, cancel := s.contextFor(s.cfg.HandshakeTimeout)
	defer cancel()
	defer context.AfterFunc(parent, cancel)()
	p := &peerInfo{remote: addr, outgoing: true}
	asLeaf := s.IsLeaf() || s.cfg.Transient
	nc, br, err := s.dialOnce(ctx, p, asLeaf)
	if asLeaf && !s.IsLeaf() && refusedAsLeaf(err, p) {
		p = &peerInfo{remote: addr, outgoing: true, slot: p.slot}
		nc, br, err = s.dialOnce(ctx, p, false)
	}
	if err != nil {
		s.releaseFor(p) // the slot may have become a leaf's
		return err
	}
	_ = nc.SetDeadline(time.Time{})
	s.startConn(nc, br, p)
	return nil
}

// refusedAsLeaf reports whether the host refused us because it is a leaf
// and we said we are one too.
func refusedAsLeaf(err error, p *peerInfo) bool {
	re, ok := errors.AsType[*wire.RefusedError](err)
	return ok && (re.Reason == reasonLeafMode || p.saidLeaf)
}

// dialOnce dials addr and runs one client handshake, saying we are a
// leaf (asLeaf) or an ultrapeer; it closes the connection on failure.
func (s *Servent) dialOnce(ctx context.Context, p *peerInfo, asLeaf bool) (net.Conn, *bufio.Reader, error) {
	addr := p.remote
	nc, err := s.cfg.Network.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, nil, netError("dial "+addr.String(), err)
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	// ctx ending (Ctrl-C, Close) cuts a read or write under way.
	cut, raw := make(chan struct{}), nc // nc becomes the TLS conn over raw
	stopCut := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)); close(cut) })
	defer func() {
		if !stopCut() {
			<-cut // done before the caller clears the deadline
		}
	}()
	br := bufio.NewReaderSize(nc, readBufferSize)
	if s.cfg.Handshake04 {
		err = s.clientHandshake04(nc, br, p)
	} else {
		err = s.clientHandshake06(nc, br, p, asLeaf)
	}
	if err == nil && p.tls {
		var tc *tls.Conn
		if tc, br, err = s.startTLS(ctx, nc, br, true); err == nil {
			nc = tc
		} else {
			s.stats.handshakeFailed.Add(1)
		}
	}
	if err != nil {
		nc.Close()
		if errors.Is(err, wire.ErrRefused) {
			return nil, nil, err // it names addr already
		}
		return nil, nil, fmt.Errorf("handshake with %s: %w", addr, neterr.Cause(err)) // "timed out", not "read tcp SRC->addr: i/o timeout"
	}
	return nc, br, nil
}

func (s *Servent) clientHandshake04(nc net.Conn, br *bufio.Reader, p *peerInfo) error {
	p.version04 = true
	if _, err := nc.Write([]byte(wire.Handshake04Connect)); err != nil {
		return err
	}
	ans, err := s.readPeerBlock(nc, br)
	if err != nil {
		return err
	}
	if ans.StartLine != strings.TrimRight(wire.Handshake04OK, "\n") {
		return &wire.RefusedError{Addr: p.remote.String(), Reason: ans.StartLine}
	}
	return nil
}

func (s *Servent) clientHandshake06(nc net.Conn, br *bufio.Reader, p *peerInfo, asLeaf bool) error {
	ours := s.ourHeaders(p.remote, asLeaf)
	ours.StartLine = connect06
	if s.tlsConf != nil {
		ours.Add("Upgrade", tlsToken)
	}
	if err := s.writePeerBlock(nc, ours); err != nil {
		return err
	}
	ans, err := s.readPeerBlock(nc, br)
	if err != nil {
		return err
	}
	parsePeerHeaders(p, ans)
	s.learnTryHeaders(ans)
	_, code, reason, err := ans.ParseStatus()
	if err != nil {
		return err
	}
	if code != 200 {
		return &wire.RefusedError{Addr: p.remote.String(), Code: code, Reason: reason}
	}
	switch slot, refusal := s.peerSlot(p); {
	case refusal != "":
		// A leaf connects to ultrapeers only.
		_ = writeBlock(nc, &wire.Handshake{StartLine: "GNUTELLA/0.6 503 " + refusal})
		return errNotUltrapeer
	case slot == slotLeaf && !s.moveFor(p, slotLeaf):
		// A leaf took our connection: it is our leaf, in a leaf slot.
		_ = writeBlock(nc, &wire.Handshake{StartLine: "GNUTELLA/0.6 503 " + reasonFull})
		return errors.New("it is a leaf, and our leaf slots are full")
	}
	p.deflateIn = sendsDeflate(ans)
	final := &wire.Handshake{StartLine: status200}
	if acceptsDeflate(ans) && s.mayDeflateOut() {
		final.Add("Content-Encoding", "deflate")
		p.deflateOut = true
	}
	if saysUpgrade(ans) {
		// It will switch once it has our block: to TLS if that is what we
		// offered and it chose; to anything else we cannot follow, and
		// the link would be garbage (gtk-gnutella refuses such an answer
		// too).
		if s.tlsConf == nil || !offersTLS(ans) {
			_ = writeBlock(nc, &wire.Handshake{StartLine: "GNUTELLA/0.6 400 Cannot Upgrade"})
			return fmt.Errorf("its 200 asks for an upgrade we did not offer: %q", ans.Values("Upgrade"))
		}
		final.Add("Connection", "Upgrade")
		p.tls = true
	}
	return s.writePeerBlock(nc, final)
}

// learnTryHeaders feeds X-Try and X-Try-Ultrapeers hosts to the host cache.
func (s *Servent) learnTryHeaders(h *wire.Handshake) {
	now := time.Now()
	for _, v := range h.Values("X-Try-Ultrapeers") {
		s.hosts.AddHeader(v, hostcache.SourceXTryUltrapeers, now)
	}
	for _, v := range h.Values("X-Try") {
		s.hosts.AddHeader(v, hostcache.SourceXTry, now)
	}
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
