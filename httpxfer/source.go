package httpxfer

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/govent/govent/wire"
)

// Source is one place to fetch a file from: a host from a QueryHit, an
// X-Alt, or one the user named.
type Source struct {
	// Addr is where to dial. For a Push source it is the address the
	// QueryHit announced (often private and useless) and may be zero.
	Addr netip.AddrPort
	// Push marks a firewalled source: the servent routes a Push to
	// ServentGUID and hands over the connection that arrives with a GIV.
	Push        bool
	ServentGUID wire.GUID
	// Index and Name are the file's index and name at this source, used for
	// /get/<index>/<name> when the download has no urn:sha1.
	Index uint32
	Name  string
	// TLS: the source said it takes TLS (GGEP "TLS" in its QueryHit), or
	// the user said so; a dialer with TLS on then dials it with TLS first
	// (tlsdial.go).
	TLS bool
	// Speed is the upload speed the source advertised (QueryHit), in
	// kbit/s; 0 when unknown. It ranks the source until its throughput is
	// measured.
	Speed uint32
	// Proxies are the push proxies of a Push source (GGEP PUSH of its
	// QueryHit, or its X-Falt entry): the Dialer asks them to pass the
	// Push on before it routes one.
	Proxies []netip.AddrPort
}

// String identifies the source; it is the key in a download's state file.
func (s Source) String() string {
	if s.Push {
		return "push:" + s.ServentGUID.String()
	}
	return s.Addr.String()
}

// Dialer connects to a source. The servent implements it: for a Push
// source it sends the Push and returns the connection on which the matching
// GIV arrived (read past the GIV's empty line); otherwise it dials Addr. The
// downloader runs one HTTP exchange after another on the connection and
// closes it.
type Dialer interface {
	DialSource(ctx context.Context, s Source) (net.Conn, error)
}

// NetDialer dials Addr over TCP and refuses Push sources. With TLS set,
// a source that takes TLS (Source.TLS, or known to Hosts) is dialled with
// TLS first, and plain once more if the TLS handshake fails.
type NetDialer struct {
	Timeout time.Duration // default 10 s, also for the TLS handshake
	TLS     *tls.Config   // nil: always plain
	Hosts   *TLSHosts     // the hosts known to take TLS; may be nil
}

// DialSource implements Dialer.
func (d NetDialer) DialSource(ctx context.Context, s Source) (net.Conn, error) {
	if s.Push {
		return nil, fmt.Errorf("%w: %s", ErrPushSource, s)
	}
	if !s.Addr.IsValid() {
		return nil, fmt.Errorf("source has no address")
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	nd := net.Dialer{Timeout: timeout}
	dial := func(ctx context.Context) (net.Conn, error) { return nd.DialContext(ctx, "tcp", s.Addr.String()) }
	return DialTLSOrPlain(ctx, dial, s.Addr, d.TLS, s.TLS, d.Hosts, timeout)
}
