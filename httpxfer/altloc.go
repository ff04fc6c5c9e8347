package httpxfer

import (
	"net/netip"
	"strings"

	"github.com/govent/govent/wire"
)

// Alternate locations, as gtk-gnutella sends and reads them
// (src/core/dmesh.c, doc/gnutella/x-alt): X-Alt lists good direct sources
// and X-NAlt bad ones, both in the compact form "a.b.c.d:port, ..." (the
// port 6346 may be left out; a leading "tls=<hex>" is skipped); X-Falt
// lists firewalled sources, "<GUID hex>;<options word/x>;<port:IP of the
// host>;pptls=<hex>;<proxy IP:port>;...", items separated by ','.

// maxAltLocsRead bounds what one header line makes us take in.
const maxAltLocsRead = 64

// maxProxies bounds the push proxies kept per firewalled source.
const maxProxies = 8

// defaultPort is Gnutella's, implied by a compact alt-loc without one.
const defaultPort = 6346

// FirewalledLoc is a firewalled source from X-Falt: its servent GUID and
// the push proxies it named.
type FirewalledLoc struct {
	GUID    wire.GUID
	Proxies []netip.AddrPort
}

// ParseAltLocs reads the values of X-Alt or X-NAlt lines: every valid
// IPv4 or IPv6 IP:port (port 6346 when absent), at most maxAltLocsRead,
// skipping what does not parse as gtk-gnutella does.
func ParseAltLocs(values []string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, v := range values {
		for _, tok := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' }) {
			tok = strings.TrimSpace(tok)
			if len(out) == maxAltLocsRead {
				return out
			}
			if ap, ok := parseHostPort(tok); ok {
				out = append(out, ap)
			}
		}
	}
	return out
}

// parseHostPort reads "IP:port", "[IPv6]:port" or a bare IP (port 6346).
// A port of 0 or an unspecified or multicast address is refused.
func parseHostPort(s string) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.AddrPort{}, false
		}
		ap = netip.AddrPortFrom(a, defaultPort)
	}
	a := ap.Addr()
	if ap.Port() == 0 || a.IsUnspecified() || a.IsMulticast() || a.Zone() != "" {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.Unmap(), ap.Port()), true
}

// ParseFalt reads the values of X-Falt lines: a firewalled source per
// item, whose GUID (32 hex digits) is the one mandatory part.
func ParseFalt(values []string) []FirewalledLoc {
	var out []FirewalledLoc
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			if len(out) == maxAltLocsRead {
				return out
			}
			if loc, ok := parseFaltItem(item); ok {
				out = append(out, loc)
			}
		}
	}
	return out
}

func parseFaltItem(item string) (FirewalledLoc, bool) {
	toks := strings.Split(item, ";")
	g, err := wire.ParseGUID(strings.TrimSpace(toks[0]))
	if err != nil || g.IsZero() {
		return FirewalledLoc{}, false
	}
	loc := FirewalledLoc{GUID: g}
	for _, tok := range toks[1:] {
		tok = strings.TrimSpace(tok)
		switch {
		case strings.Contains(tok, "/"): // an option such as fwt/1
			continue
		case len(tok) > 6 && strings.EqualFold(tok[:6], "pptls="):
			continue
		}
		ap, ok := parseHostPort(tok)
		if !ok {
			// Before the proxies, "port:IP" is the host's own address,
			// which a firewalled host cannot be reached at anyway.
			continue
		}
		if len(loc.Proxies) < maxProxies {
			loc.Proxies = append(loc.Proxies, ap)
		}
	}
	return loc, true
}

// appendAltHeader appends "\r\n<name>: a, b, c" for up to max addresses
// (nothing when there are none), as a reply head is built.
func appendAltHeader(b []byte, name string, aps []netip.AddrPort, max int) []byte {
	if len(aps) == 0 {
		return b
	}
	b = append(b, "\r\n"...)
	b = append(b, name...)
	b = append(b, ": "...)
	return appendAltList(b, aps, max)
}

// appendAltList appends "a, b, c", the compact form, for up to max
// addresses.
func appendAltList(b []byte, aps []netip.AddrPort, max int) []byte {
	for i, ap := range aps[:min(len(aps), max)] {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = ap.AppendTo(b)
	}
	return b
}

// appendFaltHeader appends X-Falt for up to max firewalled sources.
func appendFaltHeader(b []byte, locs []FirewalledLoc, max int) []byte {
	for i, l := range locs[:min(len(locs), max)] {
		if i == 0 {
			b = append(b, "\r\nX-Falt: "...)
		} else {
			b = append(b, ", "...)
		}
		b = l.GUID.AppendHex(b)
		for _, p := range l.Proxies {
			b = append(b, ';')
			b = p.AppendTo(b)
		}
	}
	return b
}

// hasFeature reports whether an X-Features header lists name ("name/x.y"
// tokens separated by commas), in any case.
func hasFeature(h *wire.Handshake, name string) bool {
	for _, v := range h.Values("X-Features") {
		for _, tok := range strings.Split(v, ",") {
			f, _, _ := strings.Cut(strings.TrimSpace(tok), "/")
			if strings.EqualFold(f, name) {
				return true
			}
		}
	}
	return false
}
