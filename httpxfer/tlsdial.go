package httpxfer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/govent/govent/httpxfer/atomicfile"
	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/neterr"
)

// TLS to sources, as gtk-gnutella does it (src/core/downloads.c,
// sockets.c, ipp_cache.c): a host known to take TLS is dialled with TLS
// from the first byte, and the servent's listening port tells the TLS
// ClientHello from HTTP and GIV. A host is known to take TLS when it said
// so: "tls" in the X-Features of an earlier reply, GGEP "TLS" in its
// QueryHit or Pong, or the user named it so. The knowledge is a bounded,
// expiring cache of addresses, gtk-gnutella's "TLS cache", which a servent
// keeps in its data directory across restarts (tlspersist.go). A TLS handshake
// that fails drops the host from it, and the source is dialled once more,
// plain: a host that advertised TLS wrongly, or stopped taking it, still
// serves.

// Bounds of the TLS cache, gtk-gnutella's defaults (tls_cache_max_hosts,
// tls_cache_max_time).
const (
	TLSHostsMax = 10000
	TLSHostsTTL = 12 * time.Hour
)

// tlsHandshakeTimeout bounds a TLS handshake with a source when the
// dialer has no timeout of its own.
const tlsHandshakeTimeout = 10 * time.Second

// TLSHosts remembers the hosts that take TLS, and those whose TLS
// handshake failed: at most TLSHostsMax, each for TLSHostsTTL after the
// last word about it. Safe for concurrent use; a nil *TLSHosts knows
// nothing and learns nothing.
type TLSHosts struct {
	c     *lru.Cache[netip.AddrPort, tlsHost]
	saved atomicfile.Last // what the last Save wrote, not written again
}

type tlsHost struct {
	at      time.Time // when it said so, or its handshake failed
	refused bool      // a TLS handshake with it failed
}

// NewTLSHosts returns an empty cache.
func NewTLSHosts() *TLSHosts {
	c, err := lru.New[netip.AddrPort, tlsHost](TLSHostsMax)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &TLSHosts{c: c}
}

// Add records that ap takes TLS.
func (h *TLSHosts) Add(ap netip.AddrPort) { h.set(ap, false) }

// Refuse records that a TLS handshake with ap failed: it is dialled plain
// until it says again that it takes TLS.
func (h *TLSHosts) Refuse(ap netip.AddrPort) { h.set(ap, true) }

func (h *TLSHosts) set(ap netip.AddrPort, refused bool) {
	if h == nil || !ap.IsValid() || ap.Port() == 0 {
		return
	}
	h.c.Add(unmapped(ap), tlsHost{at: time.Now(), refused: refused})
}

// Known reports whether ap said lately that it takes TLS.
func (h *TLSHosts) Known(ap netip.AddrPort) bool {
	e, ok := h.get(ap)
	return ok && !e.refused
}

// WantTLS reports whether to dial ap with TLS: it said so lately, or
// claimed (a QueryHit's GGEP, the user's word) and has not failed a TLS
// handshake since.
func (h *TLSHosts) WantTLS(ap netip.AddrPort, claimed bool) bool {
	e, ok := h.get(ap)
	if !ok {
		return claimed
	}
	return !e.refused
}

func (h *TLSHosts) get(ap netip.AddrPort) (tlsHost, bool) {
	if h == nil {
		return tlsHost{}, false
	}
	ap = unmapped(ap)
	e, ok := h.c.Get(ap)
	if ok && time.Since(e.at) > TLSHostsTTL {
		h.c.Remove(ap)
		return tlsHost{}, false
	}
	return e, ok
}

func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// ErrTLSHandshake wraps a failed TLS handshake with a source.
var ErrTLSHandshake = errors.New("TLS handshake failed")

// ClientTLS runs a TLS client handshake over nc, bounded by ctx and by
// timeout, and returns the TLS connection. nc is closed when it fails.
//
// conf skips verifying the peer's certificate, and must: Gnutella has no
// PKI, every servent (gtk-gnutella and us) presents a self-signed
// certificate nobody could check, and TLS only keeps the transfer private
// from onlookers.
func ClientTLS(ctx context.Context, nc net.Conn, conf *tls.Config, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = tlsHandshakeTimeout
	}
	_ = nc.SetDeadline(time.Now().Add(timeout))
	tc := tls.Client(nc, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("%w: %w", ErrTLSHandshake, neterr.Cause(err))
	}
	_ = nc.SetDeadline(time.Time{})
	return tc, nil
}

// DialTLSOrPlain dials ap with dial. With conf set and TLS wanted
// (hosts.WantTLS, claimed as there), it runs a TLS handshake on the new
// connection; if that fails, hosts records the refusal and ap is dialled
// once more, and that connection stays plain. A successful handshake
// records ap in hosts. timeout bounds the handshake. A failed dial says
// its cause alone (neterr.Cause, "connection refused"): the caller names
// the source.
func DialTLSOrPlain(ctx context.Context, dial func(context.Context) (net.Conn, error), ap netip.AddrPort, conf *tls.Config, claimed bool, hosts *TLSHosts, timeout time.Duration) (net.Conn, error) {
	nc, err := dial(ctx)
	if err != nil {
		return nil, neterr.Cause(err) // the caller names the source
	}
	if conf == nil || !hosts.WantTLS(ap, claimed) {
		return nc, nil
	}
	tc, err := ClientTLS(ctx, nc, conf, timeout)
	if err == nil {
		hosts.Add(ap)
		return tc, nil
	}
	hosts.Refuse(ap)
	if ctx.Err() != nil {
		return nil, err
	}
	nc, perr := dial(ctx)
	if perr != nil {
		return nil, fmt.Errorf("%w, and plain: %w", err, neterr.Cause(perr))
	}
	return nc, nil
}

// learnTLS records a direct source whose reply lists "tls" in X-Features
// (gtk-gnutella's download_detect_tls_support): the next connection to it
// starts with TLS.
func (j *job) learnTLS(src Source, h *wire.Handshake) {
	if j.cfg.TLSHosts != nil && !src.Push && hasFeature(h, "tls") {
		j.cfg.TLSHosts.Add(src.Addr)
	}
}

// NewClientTLSConfig is the TLS of a downloader without a certificate of
// its own (govent get): any TLS 1.2 or later, and no verification of the
// source's self-signed certificate (see ClientTLS).
func NewClientTLSConfig() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} // no PKI: see ClientTLS
}
