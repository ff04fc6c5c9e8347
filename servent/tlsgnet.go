package servent

import (
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/govent/govent/wire"
)

// GGEP "TLS", as gtk-gnutella uses it (src/core/pcache.c, qhit.c,
// pproxy.c, uploads.c): with TLS on, our Pongs, QueryHits and Pushes carry
// it, empty. Read back, it tells us a host takes TLS: a Pong's or
// QueryHit's host goes into the TLS cache (httpxfer.TLSHosts), so that a
// download from it starts with TLS, and a Push that carries it is
// answered with the GIV over TLS.

// tlsExtension is GGEP "TLS": an empty value, no flags.
func tlsExtension() wire.GGEPExtension {
	return wire.GGEPExtension{ID: []byte(wire.GGEPTLS)}
}

// hasTLS reports whether a GGEP block carries "TLS".
func hasTLS(g *wire.GGEP) bool {
	_, ok := g.Get(wire.GGEPTLS)
	return ok
}

// advertiseTLS adds GGEP "TLS" to a QueryHit's QHD when we take TLS.
func (s *Servent) advertiseTLS(h *wire.QHD) {
	if s.tlsConf != nil {
		h.GGEP.Extensions = append(h.GGEP.Extensions, tlsExtension())
		h.SetGGEPFlag(true)
	}
}

// hitTLS reports whether a QueryHit says its servent takes TLS.
func hitTLS(qh *wire.QueryHit) bool { return qh.HasQHD && hasTLS(&qh.QHD.GGEP) }

// pushWithTLS adds GGEP "TLS" to a Push whose GIV should come to us
// (to is our address) when we take TLS. A Push to a relay slot stays
// plain: the relay splices the GIV's bytes to us as they come.
func (s *Servent) pushWithTLS(p *wire.Push, to netip.AddrPort) {
	if s.tlsConf != nil && to == s.advertised() {
		p.GGEP.Extensions = append(p.GGEP.Extensions, tlsExtension())
	}
}

// proxyTLSParam is what a push-proxy request adds to its query to ask for
// the GIV over TLS, as gtk-gnutella's does (pproxy.c): "&tls=true" when we
// take TLS and the GIV comes to us.
func (s *Servent) proxyTLSParam(to netip.AddrPort) string {
	if s.tlsConf != nil && to == s.advertised() {
		return "&tls=true"
	}
	return ""
}

// proxyAsksTLS reports whether a push-proxy request asks for the GIV over
// TLS: "tls=true" in its query or "tls" in its X-Features, the two
// gtk-gnutella's proxy honours.
func proxyAsksTLS(head *wire.Handshake) bool {
	if head.HasToken("X-Features", tlsFeature) {
		return true
	}
	_, rest, _ := strings.Cut(head.StartLine, "?")
	q, _, _ := strings.Cut(rest, " ")
	vals, err := url.ParseQuery(q)
	if err != nil {
		return false
	}
	for k, v := range vals {
		if strings.EqualFold(k, "tls") && len(v) > 0 && strings.EqualFold(v[0], "true") {
			return true
		}
	}
	return false
}

// learnLinkTLS records a neighbour whose handshake listed "tls" in
// X-Features as taking TLS at its listening address (gtk-gnutella's
// node_supports_tls): a download from it starts with TLS.
func (s *Servent) learnLinkTLS(p *peerInfo) {
	if p.headers == nil || !p.headers.HasToken("X-Features", tlsFeature) {
		return
	}
	at := p.listen
	if p.outgoing {
		at = p.remote // where we reached it
	}
	s.xfer.tlsHosts.Add(at)
}

// TLSHostsFile keeps the TLS cache in the data directory across restarts
// (httpxfer/tlspersist.go): a host known to take TLS is dialled with TLS at
// once after a restart, one whose TLS failed is dialled plain, each for
// what is left of its httpxfer.TLSHostsTTL.
const TLSHostsFile = "tls-hosts.json"

// loadTLSHosts restores the TLS cache an earlier run saved. A bad file
// costs us only what it knew.
func (s *Servent) loadTLSHosts() {
	if s.cfg.DataDir == "" {
		return
	}
	if err := s.xfer.tlsHosts.Load(filepath.Join(s.cfg.DataDir, TLSHostsFile)); err != nil {
		s.log.Warn("TLS cache not loaded, starting empty", zap.Error(err))
	}
}

// saveTLSHosts writes the TLS cache, now and then and at shutdown, as the
// host cache is (cachesave.go).
func (s *Servent) saveTLSHosts() {
	if s.cfg.DataDir == "" {
		return
	}
	if err := s.xfer.tlsHosts.Save(filepath.Join(s.cfg.DataDir, TLSHostsFile)); err != nil {
		s.log.Warn("saving TLS cache", zap.Error(err))
	}
}
