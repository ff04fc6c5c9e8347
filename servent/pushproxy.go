package servent

import (
	"bufio"
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/neterr"
)

// Push proxies (the push_proxy spec, as gtk-gnutella's pproxy.c and vmsg.c
// deploy it). A firewalled servent asks each ultrapeer it is linked to to
// be its push proxy (LIME/21); an ultrapeer that accepts (LIME/22) takes
// HTTP requests "GET /gnutella/push-proxy?ServerId=<base32 GUID>" from
// downloaders and sends the firewalled servent a Push over its link, so the
// Push no longer depends on the route a QueryHit took. The firewalled
// servent lists its proxies in its QueryHits (GGEP PUSH) and in its upload
// replies (X-Push-Proxy); downloaders try them before a routed Push.

const (
	// maxOwnProxies is how many proxies our QueryHits list (gtk-gnutella
	// lists at most 4).
	maxOwnProxies = 4
	// maxKnownProxied bounds the servents whose proxies we remember from
	// QueryHits.
	maxKnownProxied = 4096
	// proxyRequestTimeout bounds one HTTP request to a push proxy.
	proxyRequestTimeout = 10 * time.Second
	// maxProxyHead bounds a push-proxy request or answer head.
	maxProxyHead = 4 << 10
	// Each requester address may have us send proxyBurst Pushes at once
	// and proxyRate a second after that: every Push makes a leaf of ours
	// connect where the requester says.
	proxyBurst = 10
	proxyRate  = 1
	// maxProxyRequesters bounds the addresses whose budget we track.
	maxProxyRequesters = 4096
)

var errProxyRefused = errors.New("push proxy refused")

// pushProxy is the servent's state on both sides of the protocol.
type pushProxy struct {
	mu sync.Mutex
	// ours: the ultrapeers that acknowledged being our proxy, by link.
	ours map[*conn]netip.AddrPort
	// leaves: the servents we are proxy for, by servent GUID.
	leaves map[wire.GUID]*conn
	// known: the proxies QueryHits listed, by servent GUID.
	known *lru.Cache[wire.GUID, []netip.AddrPort]
	// budgets: each requester address's Push budget (see proxyRate).
	budgets *lru.Cache[netip.Addr, *rate.Limiter]

	stats pushProxyCounters
}

type pushProxyCounters struct {
	accepted, acked, sent, gone, bad, throttled, failed atomic.Uint64
}

// PushProxyStats counts the push-proxy protocol.
type PushProxyStats struct {
	// Accepted: LIME/21 requests we acknowledged as a proxy. Acked: our
	// own requests that an ultrapeer acknowledged.
	Accepted, Acked uint64
	// HTTP requests answered 202 (Push sent to the leaf), 410 (no such
	// leaf: an unknown GUID, or one whose link is gone) and 400
	// (malformed); Throttled: answered 503, over the requester's budget
	// (or the leaf's send queue was full).
	Sent, Gone, Bad, Throttled uint64
	// Failed: our own requests to a downloadee's proxy that got no 202.
	Failed uint64
}

func newPushProxy() pushProxy {
	known, err := lru.New[wire.GUID, []netip.AddrPort](maxKnownProxied)
	if err != nil {
		panic(err) // only a non-positive size fails
	}
	budgets, err := lru.New[netip.Addr, *rate.Limiter](maxProxyRequesters)
	if err != nil {
		panic(err)
	}
	return pushProxy{ours: map[*conn]netip.AddrPort{}, leaves: map[wire.GUID]*conn{}, known: known, budgets: budgets}
}

func (p *pushProxy) snapshot() PushProxyStats {
	return PushProxyStats{
		Accepted: p.stats.accepted.Load(), Acked: p.stats.acked.Load(),
		Sent: p.stats.sent.Load(), Gone: p.stats.gone.Load(), Bad: p.stats.bad.Load(),
		Throttled: p.stats.throttled.Load(), Failed: p.stats.failed.Load(),
	}
}

// live reports whether c's link is still up.
func live(c *conn) bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// sendVendor sends a link-level vendor message to c under guid.
func (s *Servent) sendVendor(c *conn, guid wire.GUID, v wire.Vendor) {
	m := wire.Message{Header: wire.Header{GUID: guid, Type: wire.TypeVendor, TTL: 1}, Vendor: v}
	b, err := m.Append(nil)
	if err != nil {
		s.log.Warn("encoding a vendor message", zap.Error(err))
		return
	}
	c.enqueue(b, true)
}

// askPushProxy asks a new ultrapeer link to be our push proxy, when we are
// firewalled (as gtk-gnutella does: LIME/21 v1, our servent GUID as the
// message GUID).
func (s *Servent) askPushProxy(c *conn) {
	if !s.cfg.Firewalled || !c.peer.ultrapeer || !c.peer.vendorMessages {
		return
	}
	s.sendVendor(c, s.guid, wire.NewPushProxyRequest())
}

// acceptProxyRequest takes the push-proxy role for the servent that sent
// LIME/21 on c (its GUID is the message GUID) and acknowledges with our
// address. gtk-gnutella accepts from any link, leaf or not; so do we. A
// servent without a reachable address of its own cannot be anyone's proxy.
func (s *Servent) acceptProxyRequest(c *conn, guid wire.GUID) {
	adv := s.advertised()
	if s.cfg.Firewalled || guid.IsZero() || adv.Port() == 0 {
		return
	}
	ack, err := wire.NewPushProxyAck(adv)
	if err != nil {
		return // an IPv6 address: LIME/22 has no room for it
	}
	p := &s.xfer.px
	p.mu.Lock()
	for g, lc := range p.leaves {
		// A link is one servent: a new GUID from it replaces its old one,
		// so a flood of requests holds one entry.
		if !live(lc) || lc == c {
			delete(p.leaves, g)
		}
	}
	p.leaves[guid] = c
	p.mu.Unlock()
	p.stats.accepted.Add(1)
	s.log.Info("push proxy for a peer", zap.Stringer("peer", c.peer.remote), zap.Stringer("servent", guid),
		zap.String("user_agent", c.peer.userAgent))
	s.sendVendor(c, guid, ack)
}

// learnOwnProxy notes an ultrapeer's LIME/22: it is now our push proxy.
func (s *Servent) learnOwnProxy(c *conn, v *wire.Vendor) {
	addr, err := wire.PushProxyAckAddr(v, c.peer.remote.Addr().Unmap())
	if err != nil || !usableAddr(addr) {
		s.log.Debug("unusable push-proxy ack", zap.Stringer("peer", c.peer.remote), zap.Error(err))
		return
	}
	p := &s.xfer.px
	p.mu.Lock()
	for lc := range p.ours {
		if !live(lc) {
			delete(p.ours, lc)
		}
	}
	p.ours[c] = addr
	p.mu.Unlock()
	p.stats.acked.Add(1)
	s.log.Info("push proxy acknowledged", zap.Stringer("peer", c.peer.remote), zap.Stringer("proxy", addr))
}

// usableAddr: an address one could connect to.
func usableAddr(a netip.AddrPort) bool {
	return a.IsValid() && a.Port() != 0 && !a.Addr().IsUnspecified() && !a.Addr().IsMulticast()
}

// ownProxies returns our live push proxies, at most maxOwnProxies.
func (s *Servent) ownProxies() []netip.AddrPort {
	p := &s.xfer.px
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []netip.AddrPort
	for c, a := range p.ours {
		if live(c) && len(out) < maxOwnProxies {
			out = append(out, a)
		}
	}
	return out
}

// LearnPushProxies tells the servent the push proxies of a firewalled
// servent, as a user or a download mesh learnt them (QueryHits teach them
// by themselves): Download tries them for that servent's Push sources.
func (s *Servent) LearnPushProxies(servent wire.GUID, proxies []netip.AddrPort) {
	var usable []netip.AddrPort
	for _, p := range proxies {
		if usableAddr(p) {
			usable = append(usable, p)
		}
	}
	s.xfer.learnProxies(servent, usable)
}

// learnProxies remembers the push proxies a QueryHit listed for servent.
func (t *transfers) learnProxies(servent wire.GUID, proxies []netip.AddrPort) {
	if len(proxies) > 0 && !servent.IsZero() {
		t.px.known.Add(servent, proxies)
	}
}

// proxiesOf returns the push proxies to try for src: those the source
// came with (its QueryHit's GGEP PUSH, its X-Falt entry), then those the
// latest QueryHit of its servent listed, each once, the unusable left out.
func (t *transfers) proxiesOf(src httpxfer.Source) []netip.AddrPort {
	known, _ := t.px.known.Get(src.ServentGUID)
	var out []netip.AddrPort
	for _, p := range slices.Concat(src.Proxies, known) {
		if usableAddr(p) && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// setPushProxies lists proxies in a QueryHit's GGEP PUSH.
func setPushProxies(h *wire.QHD, proxies []netip.AddrPort) error {
	if len(proxies) == 0 {
		return nil
	}
	v, err := wire.AppendAddrPorts(nil, proxies)
	if err != nil {
		return fmt.Errorf("GGEP PUSH: %w", err)
	}
	e, err := wire.NewGGEPExtension(wire.GGEPPush, v, false, false)
	if err != nil {
		return fmt.Errorf("GGEP PUSH: %w", err)
	}
	h.GGEP.Extensions = append(h.GGEP.Extensions, e)
	h.SetGGEPFlag(true)
	return nil
}

// hitProxies reads a QueryHit's GGEP PUSH, nil when there is none or it is
// malformed.
func hitProxies(qh *wire.QueryHit) []netip.AddrPort {
	if !qh.HasQHD {
		return nil
	}
	e, ok := qh.QHD.GGEP.Get(wire.GGEPPush)
	if !ok {
		return nil
	}
	v, err := e.Value()
	if err != nil || len(v) > maxOwnProxies*4*wire.AddrPortLen {
		return nil
	}
	addrs, err := wire.ParseAddrPorts(v)
	if err != nil {
		return nil
	}
	out := addrs[:0]
	for _, a := range addrs {
		if usableAddr(a) {
			out = append(out, a)
		}
	}
	return out
}

// proxyPaths are the request targets gtk-gnutella takes, with the
// parameter that carries the GUID: base32 in ServerId (any case), hex in
// guid.
var proxyPaths = []struct{ prefix, param string }{
	{"/gnutella/push-proxy?", "ServerId"},
	{"/gnutella/pushproxy?", "ServerId"},
	{"/gnet/push-proxy?", "guid"},
}

// isPushProxyRequest reports whether the HTTP request waiting in br is for
// the push-proxy endpoint. It peeks one byte past the longest match so
// far, so it never waits for bytes a shorter request would not send.
func isPushProxyRequest(br *bufio.Reader) bool {
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if err != nil {
			return false
		}
		line := string(b)
		matching, done := false, false
		for _, m := range []string{"GET ", "HEAD "} {
			for _, p := range proxyPaths {
				full := m + p.prefix
				if strings.HasPrefix(full, line) {
					matching = true
				}
				if line == full {
					done = true
				}
			}
		}
		if done {
			return true
		}
		if !matching {
			return false
		}
	}
}

// servePushProxy answers one push-proxy request and closes the connection:
// 202 once the Push is queued on the leaf's link, 410 when we proxy for no
// such servent (or its link is gone), 400 when the request is malformed.
func (s *Servent) servePushProxy(nc net.Conn, br *bufio.Reader) {
	defer nc.Close()
	code, reason := s.pushForProxy(nc, br)
	p := &s.xfer.px
	switch code {
	case 202:
		p.stats.sent.Add(1)
	case 410:
		p.stats.gone.Add(1)
	case 503:
		p.stats.throttled.Add(1)
	default:
		p.stats.bad.Add(1)
		s.rateLog("bad push-proxy request", nc, errors.New(reason))
	}
	_ = nc.SetWriteDeadline(time.Now().Add(proxyRequestTimeout))
	_, _ = fmt.Fprintf(nc, "HTTP/1.1 %d %s\r\nServer: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code, reason, UserAgent)
}

func (s *Servent) pushForProxy(nc net.Conn, br *bufio.Reader) (int, string) {
	head, err := wire.ReadHTTPHead(br, wire.HandshakeLimits{MaxBytes: maxProxyHead})
	if err != nil {
		return 400, "Push Proxy: Bad Request"
	}
	guid, index, err := parseProxyTarget(head.StartLine)
	if err != nil {
		return 400, "Push Proxy: Bad Request"
	}
	// X-Node is where the GIV goes; gtk-gnutella sends X-Node-IPv6 beside
	// it, which a Push (IPv4 only) cannot carry.
	node, _ := head.Get("X-Node")
	addrs := wire.ParseAddrList(node, 1)
	if len(addrs) == 0 || !usableAddr(addrs[0]) || !addrs[0].Addr().Unmap().Is4() {
		return 400, "Push Proxy: Bad Request"
	}
	to := addrs[0]
	p := &s.xfer.px
	from := addrKey(addrPortOf(nc.RemoteAddr()).Addr())
	lim, ok := p.budgets.Get(from)
	if !ok {
		lim = rate.NewLimiter(proxyRate, proxyBurst)
		p.budgets.Add(from, lim)
	}
	if !lim.Allow() {
		return 503, "Push Proxy: Too Many Requests"
	}
	p.mu.Lock()
	c := p.leaves[guid]
	p.mu.Unlock()
	if c == nil || !live(c) {
		return 410, "Push Proxy: Servent not connected"
	}
	m := wire.Message{
		Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePush, TTL: 1},
		Push:   wire.Push{ServentGUID: guid, Index: index, Addr: to.Addr().Unmap(), Port: to.Port()},
	}
	if proxyAsksTLS(head) {
		m.Push.GGEP.Extensions = append(m.Push.GGEP.Extensions, tlsExtension())
	}
	b, err := m.Append(nil)
	if err != nil || !c.enqueue(b, true) {
		return 503, "Push Proxy: Servent Busy"
	}
	s.log.Info("push proxied", zap.Stringer("servent", guid), zap.Stringer("to", to), zap.Stringer("from", nc.RemoteAddr()))
	return 202, "Push Proxy: Message Sent"
}

// parseProxyTarget reads the servent GUID and the optional file index from
// a push-proxy request line.
func parseProxyTarget(start string) (wire.GUID, uint32, error) {
	method, rest, _ := strings.Cut(start, " ")
	if method != "GET" && method != "HEAD" {
		return wire.GUID{}, 0, fmt.Errorf("method %q", method)
	}
	target, _, _ := strings.Cut(rest, " ")
	for _, p := range proxyPaths {
		q, ok := strings.CutPrefix(target, p.prefix)
		if !ok {
			continue
		}
		vals, err := url.ParseQuery(q)
		if err != nil {
			return wire.GUID{}, 0, fmt.Errorf("query: %w", err)
		}
		// Parameter names in any case: LimeWire sends ServerID,
		// gtk-gnutella ServerId.
		get := func(name string) string {
			for k, v := range vals {
				if strings.EqualFold(k, name) && len(v) > 0 {
					return v[0]
				}
			}
			return ""
		}
		var index uint32
		if f := get("file"); f != "" {
			// gtk-gnutella takes a bad index as 0; so do we.
			if n, err := strconv.ParseUint(f, 10, 32); err == nil {
				index = uint32(n)
			}
		}
		g, err := parseProxyGUID(get(p.param), p.param == "guid")
		return g, index, err
	}
	return wire.GUID{}, 0, fmt.Errorf("target %q", target)
}

var base32GUID = base32.StdEncoding.WithPadding(base32.NoPadding)

// parseProxyGUID reads a GUID as base32 (26 characters, or 32 padded) or,
// for the /gnet/ form, 32 hex digits.
func parseProxyGUID(v string, hex bool) (wire.GUID, error) {
	if hex {
		return wire.ParseGUID(v)
	}
	v = strings.TrimRight(strings.ToUpper(v), "=")
	var g wire.GUID
	if len(v) != 26 {
		return g, fmt.Errorf("ServerId of %d characters", len(v))
	}
	b, err := base32GUID.DecodeString(v)
	if err != nil || len(b) != wire.GUIDLen {
		return g, fmt.Errorf("ServerId %q is not base32", v)
	}
	return wire.GUID(b), nil
}

// askProxy asks the push proxy at proxy to send servent a Push for index
// that points at to. Only a 202 is a success; gtk-gnutella's 203 (sent on
// through Gnutella) counts too.
func (s *Servent) askProxy(ctx context.Context, proxy netip.AddrPort, servent wire.GUID, index uint32, to netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(ctx, proxyRequestTimeout)
	defer cancel()
	nc, err := s.cfg.Network.DialContext(ctx, "tcp", proxy.String())
	if err != nil {
		return fmt.Errorf("push proxy %s: %w", proxy, neterr.Cause(err))
	}
	defer nc.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(d)
	}
	req := fmt.Sprintf("GET /gnutella/push-proxy?ServerId=%s&file=%d%s HTTP/1.1\r\nUser-Agent: %s\r\nHost: %s\r\nX-Node: %s\r\nConnection: close\r\n\r\n",
		base32GUID.EncodeToString(servent[:]), index, s.proxyTLSParam(to), UserAgent, proxy, to)
	if _, err := nc.Write([]byte(req)); err != nil {
		return fmt.Errorf("push proxy %s: %w", proxy, err)
	}
	head, err := wire.ReadHTTPHead(bufio.NewReaderSize(nc, 512), wire.HandshakeLimits{MaxBytes: maxProxyHead})
	if err != nil {
		return fmt.Errorf("push proxy %s: %w", proxy, err)
	}
	proto, rest, _ := strings.Cut(head.StartLine, " ")
	code, _, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(proto, "HTTP/") || (code != "202" && code != "203") {
		return fmt.Errorf("%w: %s answered %q", errProxyRefused, proxy, clipLine(head.StartLine))
	}
	return nil
}

func clipLine(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
