package servent

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/wire"
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

// errRefused is a handshake that the other side answered with a non-200.
var errRefused = errors.New("servent: handshake refused")

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
}

// name is how logs and events name the peer: its listening address when it
// told us (so both ends of a link name a node alike), else the TCP peer.
func (p *peerInfo) name() netip.AddrPort {
	if p.listen.IsValid() {
		return p.listen
	}
	return p.remote
}

// ourHeaders builds the headers we send in a CONNECT or a 200 answer.
func (s *Servent) ourHeaders(remote netip.AddrPort) *wire.Handshake {
	h := &wire.Handshake{}
	h.Add("User-Agent", UserAgent)
	h.Add("X-Ultrapeer", "True")
	h.Add("X-Query-Routing", "0.2")
	h.Add("X-Ultrapeer-Query-Routing", "0.1")
	h.Add("X-Degree", strconv.Itoa(max(s.cfg.MaxPeers, 16)))
	h.Add("X-Max-TTL", strconv.Itoa(int(s.cfg.DefaultTTL)))
	h.Add("Pong-Caching", "0.1")
	h.Add("Bye-Packet", "0.1")
	h.Add("GGEP", "0.5")
	h.Add("Vendor-Message", "0.2")
	h.Add("GUID", s.guid.String())
	if adv := s.advertised(); adv.IsValid() && adv.Port() != 0 {
		h.Add("Listen-IP", adv.String())
	}
	if remote.IsValid() {
		h.Add("Remote-IP", remote.Addr().Unmap().String())
	}
	h.Add("Accept-Encoding", "deflate")
	return h
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

// acceptsDeflate reports whether the block offers to read deflate.
func acceptsDeflate(h *wire.Handshake) bool {
	v, _ := h.Get("Accept-Encoding")
	return headerHasToken(v, "deflate")
}

// sendsDeflate reports whether the block says its sender compresses.
func sendsDeflate(h *wire.Handshake) bool {
	v, _ := h.Get("Content-Encoding")
	return headerHasToken(v, "deflate")
}

func headerHasToken(v, token string) bool {
	for part := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(part), token) {
			return true
		}
	}
	return false
}

// acceptGnutella runs the server side of a handshake on an accepted
// connection: 0.6 (three blocks) or 0.4 (CONNECT/OK). It starts the
// connection on success.
func (s *Servent) acceptGnutella(nc net.Conn, br *bufio.Reader) {
	_ = nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	remote := addrPortOf(nc.RemoteAddr())
	p := &peerInfo{remote: remote}
	first, err := readBlock(br)
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
		if !s.reserveSlot() {
			// 0.4 has no way to say "full": close, as gtk-gnutella does.
			s.stats.refusedFull.Add(1)
			nc.Close()
			return
		}
		if _, err := nc.Write([]byte(wire.Handshake04OK)); err != nil {
			s.releaseSlot()
			nc.Close()
			return
		}
	case ok:
		parsePeerHeaders(p, first)
		if !s.reserveSlot() {
			s.refuseFull(nc, remote)
			return
		}
		ours := s.ourHeaders(remote)
		ours.StartLine = status200
		if acceptsDeflate(first) {
			ours.Add("Content-Encoding", "deflate")
			p.deflateOut = true
		}
		if err := writeBlock(nc, ours); err != nil {
			s.releaseSlot()
			s.rateLog("handshake write failed", nc, err)
			nc.Close()
			return
		}
		final, err := readBlock(br)
		if err != nil {
			s.releaseSlot()
			s.stats.handshakeFailed.Add(1)
			s.rateLog("bad final handshake block", nc, err)
			nc.Close()
			return
		}
		if _, code, _, err := final.ParseStatus(); err != nil || code != 200 {
			s.releaseSlot()
			s.stats.handshakeFailed.Add(1)
			s.rateLog("peer refused our answer", nc, fmt.Errorf("%w: %q", errRefused, final.StartLine))
			nc.Close()
			return
		}
		p.deflateIn = sendsDeflate(final)
	default:
		s.stats.handshakeFailed.Add(1)
		s.rateLog("not a Gnutella connect", nc, fmt.Errorf("start line %q", first.StartLine))
		nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	s.startConn(nc, br, p)
}

// refuseFull answers a 0.6 connect with 503 and hosts to try instead.
func (s *Servent) refuseFull(nc net.Conn, remote netip.AddrPort) {
	s.stats.refusedFull.Add(1)
	h := &wire.Handshake{StartLine: "GNUTELLA/0.6 503 Full"}
	h.Add("User-Agent", UserAgent)
	if hosts := s.tryHosts(remote, 10); len(hosts) > 0 {
		h.Add("X-Try-Ultrapeers", wire.FormatAddrList(hosts))
	}
	_ = writeBlock(nc, h)
	nc.Close()
}

// dial connects to addr and runs the client side of the handshake.
func (s *Servent) dial(addr netip.AddrPort) error {
	ctx, cancel := s.contextFor(s.cfg.HandshakeTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return fmt.Errorf("servent: dial %s: %w", addr, err)
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	br := bufio.NewReaderSize(nc, readBufferSize)
	p := &peerInfo{remote: addr, outgoing: true}
	if s.cfg.Handshake04 {
		err = s.clientHandshake04(nc, br, p)
	} else {
		err = s.clientHandshake06(nc, br, p)
	}
	if err != nil {
		nc.Close()
		s.releaseSlot()
		return fmt.Errorf("servent: handshake with %s: %w", addr, err)
	}
	_ = nc.SetDeadline(time.Time{})
	s.startConn(nc, br, p)
	return nil
}

func (s *Servent) clientHandshake04(nc net.Conn, br *bufio.Reader, p *peerInfo) error {
	p.version04 = true
	if _, err := nc.Write([]byte(wire.Handshake04Connect)); err != nil {
		return err
	}
	ans, err := readBlock(br)
	if err != nil {
		return err
	}
	if ans.StartLine != strings.TrimRight(wire.Handshake04OK, "\n") {
		return fmt.Errorf("%w: %q", errRefused, ans.StartLine)
	}
	return nil
}

func (s *Servent) clientHandshake06(nc net.Conn, br *bufio.Reader, p *peerInfo) error {
	ours := s.ourHeaders(p.remote)
	ours.StartLine = connect06
	if err := writeBlock(nc, ours); err != nil {
		return err
	}
	ans, err := readBlock(br)
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
		return fmt.Errorf("%w: %d %s", errRefused, code, reason)
	}
	p.deflateIn = sendsDeflate(ans)
	final := &wire.Handshake{StartLine: status200}
	if acceptsDeflate(ans) {
		final.Add("Content-Encoding", "deflate")
		p.deflateOut = true
	}
	return writeBlock(nc, final)
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
