package wire

import (
	"bytes"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds on a magnet link. Links are pasted by users and scraped from web
// pages, so they are hostile input like any packet: gtk-gnutella bounds
// nothing, but its links carry one xt, a name, a size and a few sources,
// well under 2 KiB.
const (
	MaxMagnetLen     = 16 << 10 // bytes of the whole link
	MaxMagnetParams  = 128      // key=value parameters
	MaxMagnetSources = 64       // xs and as together
	maxMagnetIgnored = 16       // notes kept in Magnet.Ignored
	MaxPushProxies   = 8        // push-proxies in one push:// source, at most
)

// Magnet is a magnet link with the fields that matter to a Gnutella
// servent, as gtk-gnutella reads and writes them (src/lib/magnet.c).
type Magnet struct {
	// URN merges every exact topic (xt) that names content: urn:sha1,
	// urn:bitprint and urn:tree:tiger. Other xt (ed2k, btih, md5: links for
	// several networks carry them) are skipped; one of these three that
	// does not parse is skipped with a note in Ignored.
	URN URN
	// Name is the display name (dn), unescaped. Invalid UTF-8 is replaced
	// by U+FFFD. It is what the user sees, not a safe file name: the
	// downloader reduces it to one.
	Name string
	// Size is the exact length (xl) in bytes, valid when HasSize.
	Size    int64
	HasSize bool
	// Sources lists the exact (xs) and alternate (as) sources in order.
	Sources []MagnetSource
	// Keywords holds the keyword topics (kt), each a search to run.
	Keywords []string
	// Ignored says, one note each, which parameters were skipped and why
	// (a source of an unsupported protocol, a bad length), at most 16. The
	// note of a damaged xt starts "xt " and names it.
	Ignored []string
}

// MagnetSource is one xs or as parameter: an http:// URL, or gtk-gnutella's
// push://<GUID>[:<proxy ip:port>...]/<path> for a firewalled servent.
type MagnetSource struct {
	Exact bool // xs; as otherwise
	// Addr is the host and port when the host is an IP address. A host
	// name goes into Host instead, with the port in Port: wire resolves
	// nothing. Neither is set for a push source.
	Addr netip.AddrPort
	Host string
	Port uint16
	// Path is the request path with its query, as "/uri-res/N2R?urn:sha1:..."
	// or "/get/1/name".
	Path string
	// URN is the content urn of a /uri-res/N2R? path, when there is one.
	URN URN
	// Push: a push:// source, reached through a Push to GUID, routed
	// through its Proxies when it lists any.
	Push    bool
	GUID    GUID
	Proxies []netip.AddrPort
}

// ParseMagnet parses a magnet link "magnet:?key=value&...". Keys are
// case-insensitive and may carry the ".N" suffix of the magnet draft
// (xt.1, xt.2). Values are percent-decoded, '+' read as a space. A
// parameter that does not parse is skipped with a note in Ignored, as
// gtk-gnutella skips it; the link fails only when it is not a magnet, is
// over the bounds, or names two different files. A link that names no
// content and no keywords parses, and its caller decides what to do with
// it.
func ParseMagnet(s string) (*Magnet, error) {
	if len(s) > MaxMagnetLen {
		return nil, fmt.Errorf("%w: %d bytes, over %d", ErrMagnet, len(s), MaxMagnetLen)
	}
	rest, ok := cutPrefixFold([]byte(s), "magnet:?")
	if !ok {
		return nil, fmt.Errorf("%w: %q does not start with magnet:?", ErrMagnet, truncateForError([]byte(s)))
	}
	m := &Magnet{}
	params := 0
	for p := range strings.SplitSeq(string(rest), "&") {
		if p == "" {
			continue // "&&" and a trailing '&' occur in the wild
		}
		if params++; params > MaxMagnetParams {
			return nil, fmt.Errorf("%w: over %d parameters", ErrMagnet, MaxMagnetParams)
		}
		key, raw, _ := strings.Cut(p, "=")
		value, err := url.QueryUnescape(raw)
		if err != nil {
			m.ignore("%s: bad escape", truncateForError([]byte(key)))
			continue
		}
		if err := m.set(magnetKey(key), value); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// magnetKey lower-cases key and drops a ".N" suffix ("xt.1" is "xt").
// gtk-gnutella's own extensions keep their dot: "x.guid".
func magnetKey(key string) string {
	key = strings.ToLower(key)
	if i := strings.LastIndexByte(key, '.'); i > 0 && i < len(key)-1 && !strings.HasPrefix(key, "x.") {
		if _, err := strconv.ParseUint(key[i+1:], 10, 16); err == nil {
			return key[:i]
		}
	}
	return key
}

func (m *Magnet) set(key, value string) error {
	switch key {
	case "xt":
		u, err := ParseContentURN([]byte(value))
		if err != nil {
			// urn:btih, urn:ed2k, urn:md5...: topics for other networks
			// are skipped without a word; a damaged one of ours is noted.
			if why, ours := damagedTopic(value); ours {
				m.ignore("xt %q: %s", truncateForError([]byte(value)), why)
			}
			return nil
		}
		return m.addURN(u)
	case "dn":
		if m.Name == "" {
			m.Name = strings.ToValidUTF8(value, string(utf8.RuneError))
		}
	case "xl":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 0 {
			m.ignore("xl=%s: not a length", truncateForError([]byte(value)))
			return nil
		}
		m.Size, m.HasSize = n, true
	case "xs", "as":
		if len(m.Sources) >= MaxMagnetSources {
			return fmt.Errorf("%w: over %d sources", ErrMagnet, MaxMagnetSources)
		}
		src, err := ParseMagnetSource(value)
		if err != nil {
			m.ignore("%s: %v", key, err)
			return nil
		}
		src.Exact = key == "xs"
		// A source for another file is dropped, as gtk-gnutella drops it;
		// one for this file may be what names it.
		probe := *m
		if err := probe.addURN(src.URN); err != nil {
			m.ignore("%s: source for another file", key)
			return nil
		}
		m.URN = probe.URN
		m.Sources = append(m.Sources, src)
	case "kt":
		if kw := strings.TrimSpace(strings.ToValidUTF8(value, string(utf8.RuneError))); kw != "" {
			m.Keywords = append(m.Keywords, kw)
		}
	}
	return nil
}

// addURN merges u into m.URN; a digest that contradicts one already known
// means the link names two files.
func (m *Magnet) addURN(u URN) error {
	if u.HasSHA1 {
		if m.URN.HasSHA1 && m.URN.SHA1 != u.SHA1 {
			return fmt.Errorf("%w: names two files: %s and %s", ErrMagnet, m.URN.SHA1, u.SHA1)
		}
		m.URN.SHA1, m.URN.HasSHA1 = u.SHA1, true
	}
	if u.HasTTH {
		if m.URN.HasTTH && m.URN.TTH != u.TTH {
			return fmt.Errorf("%w: names two files: %s and %s", ErrMagnet, m.URN.TTH, u.TTH)
		}
		m.URN.TTH, m.URN.HasTTH = u.TTH, true
	}
	return nil
}

// damagedTopic says what is wrong with xt value v, which did not parse,
// when it is a urn:sha1, urn:bitprint or urn:tree:tiger (cut short in a
// copy, a character typed wrong), and false when it is another network's.
func damagedTopic(v string) (string, bool) {
	b := []byte(v)
	if rest, ok := cutURNPrefix(b, URNPrefix); ok {
		return "not a SHA-1 (" + digitsWrong(rest, 32, 2*SHA1Len) + ")", true
	}
	if rest, ok := cutURNPrefix(b, BitprintPrefix); ok {
		sha, tth, ok := bytes.Cut(rest, []byte("."))
		switch {
		case !ok:
			return "not a bitprint (SHA-1.Tiger root; it has no '.')", true
		case !decodeSHA1Digits(new(SHA1), sha):
			return "not a bitprint (its SHA-1: " + digitsWrong(sha, 32, 2*SHA1Len) + ")", true
		}
		if !decodeTTHDigits(new(TTH), tth) {
			return "not a bitprint (its Tiger root: " + digitsWrong(tth, 39, 2*TTHLen) + ")", true
		}
		return "not a bitprint (a SHA-1 in hex wants its Tiger root in hex)", true
	}
	for _, p := range [...]string{TTHPrefix, tthPrefixNoSlash, tthPrefix1024, tthPrefixTTRoot} {
		if rest, ok := cutPrefixFold(b, p); ok {
			return "not a Tiger tree root (" + digitsWrong(rest, 39, 0) + ")", true
		}
	}
	return "", false
}

// digitsWrong says what keeps digits from being base32Len base32 characters
// (or hexLen hex digits, when it has that many and hexLen is not 0): its
// length or its first character that is neither.
func digitsWrong(digits []byte, base32Len, hexLen int) string {
	kind, bad := fmt.Sprintf("base32, %d characters", base32Len), "base32"
	isDigit := func(c byte) bool { return base32Digit[c] < 32 }
	if hexLen > 0 && len(digits) == hexLen {
		kind, bad = fmt.Sprintf("hex, %d digits", hexLen), "a hex digit"
		isDigit = func(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f' }
	} else if len(digits) != base32Len {
		return fmt.Sprintf("%s; it has %d", kind, len(digits))
	}
	for i, c := range digits {
		if !isDigit(c) {
			r, _ := utf8.DecodeRune(digits[i:])
			return fmt.Sprintf("%s; %q is not %s", kind, r, bad)
		}
	}
	return kind
}

func (m *Magnet) ignore(format string, args ...any) {
	if len(m.Ignored) < maxMagnetIgnored {
		// The values in a note are cut by truncateForError; this bounds
		// the rest (a long key).
		note := fmt.Sprintf(format, args...)
		m.Ignored = append(m.Ignored, note[:min(len(note), 256)])
	}
}

// ParseMagnetSource parses the value of an xs or as parameter (already
// unescaped): http://host[:port]/path (port 80 when absent) or
// push://<32 hex GUID>[:ip:port...]/path.
func ParseMagnetSource(s string) (MagnetSource, error) {
	var src MagnetSource
	if rest, ok := cutPrefixFold([]byte(s), "push://"); ok {
		rest := string(rest)
		slash := strings.IndexByte(rest, '/')
		if slash < 0 {
			return src, fmt.Errorf("push source %q: no path", truncateForError([]byte(s)))
		}
		hosts := strings.Split(rest[:slash], ":")
		g, err := ParseGUID(hosts[0])
		if err != nil {
			return src, fmt.Errorf("push source %q: bad GUID", truncateForError([]byte(s)))
		}
		src.Push, src.GUID = true, g
		// After the GUID come ip:port pairs, colon-separated like all the rest.
		pairs := hosts[1:]
		if len(pairs)%2 != 0 || len(pairs)/2 > MaxPushProxies {
			return src, fmt.Errorf("push source %q: bad push-proxy list", truncateForError([]byte(s)))
		}
		for i := 0; i < len(pairs); i += 2 {
			ap, err := netip.ParseAddrPort(pairs[i] + ":" + pairs[i+1])
			if err != nil || ap.Port() == 0 {
				return src, fmt.Errorf("push source %q: bad push-proxy %s:%s", truncateForError([]byte(s)), pairs[i], pairs[i+1])
			}
			src.Proxies = append(src.Proxies, ap)
		}
		return src, src.setPath(rest[slash:])
	}
	rest, ok := cutPrefixFold([]byte(s), "http://")
	if !ok {
		return src, fmt.Errorf("source %q: not http:// or push://", truncateForError([]byte(s)))
	}
	hostport, path := string(rest), "/"
	if i := strings.IndexByte(hostport, '/'); i >= 0 {
		hostport, path = hostport[:i], hostport[i:]
	}
	host, port := hostport, "80"
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
		host, port = hostport[:i], hostport[i+1:]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 || host == "" {
		return src, fmt.Errorf("source %q: bad host or port", truncateForError([]byte(s)))
	}
	if a, err := netip.ParseAddr(host); err == nil {
		src.Addr = netip.AddrPortFrom(a.Unmap(), uint16(p))
	} else if validHostName(host) {
		src.Host, src.Port = strings.ToLower(host), uint16(p)
	} else {
		return src, fmt.Errorf("source %q: bad host name", truncateForError([]byte(s)))
	}
	return src, src.setPath(path)
}

// setPath keeps path and reads the urn of a /uri-res/N2R? path.
func (src *MagnetSource) setPath(path string) error {
	if strings.ContainsAny(path, " \r\n\x00") {
		return fmt.Errorf("source path %q: space or control character", truncateForError([]byte(path)))
	}
	src.Path = path
	if urn, ok := strings.CutPrefix(path, "/uri-res/N2R?"); ok {
		u, err := ParseContentURN([]byte(urn))
		if err != nil {
			return fmt.Errorf("source path %q: %w", truncateForError([]byte(path)), err)
		}
		src.URN = u
	}
	return nil
}

// validHostName reports whether h is a DNS name: letters, digits, '-' and
// '.', at most 253 bytes.
func validHostName(h string) bool {
	if len(h) > 253 {
		return false
	}
	for i := range len(h) {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// String formats the link as gtk-gnutella would, with xt first: xt (a
// bitprint when both digests are known), dn, xl, then each source as xs or
// as, then kt.
func (m *Magnet) String() string { return string(m.Append(nil)) }

// Append appends the link (see String) to b.
func (m *Magnet) Append(b []byte) []byte {
	b = append(b, "magnet:?"...)
	sep := false
	param := func(key string) {
		if sep {
			b = append(b, '&')
		}
		sep = true
		b = append(b, key...)
		b = append(b, '=')
	}
	if m.URN.HasSHA1 || m.URN.HasTTH {
		param("xt")
		b = m.URN.AppendURN(b)
	}
	if m.Name != "" {
		param("dn")
		b = appendMagnetEscape(b, m.Name)
	}
	if m.HasSize {
		param("xl")
		b = strconv.AppendInt(b, m.Size, 10)
	}
	for i := range m.Sources {
		s := &m.Sources[i]
		if s.Exact {
			param("xs")
		} else {
			param("as")
		}
		b = appendMagnetEscape(b, s.URL())
	}
	for _, kw := range m.Keywords {
		param("kt")
		b = appendMagnetEscape(b, kw)
	}
	return b
}

// URL returns the source as a URL: http://ip:port/path, or push://GUID
// followed by its push-proxies and the path.
func (src *MagnetSource) URL() string {
	var b strings.Builder
	switch {
	case src.Push:
		b.WriteString("push://")
		b.WriteString(src.GUID.String())
		for _, p := range src.Proxies {
			b.WriteByte(':')
			b.WriteString(p.String())
		}
	case src.Host != "":
		b.WriteString("http://")
		b.WriteString(src.Host)
		if src.Port != 80 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(int(src.Port)))
		}
	default:
		b.WriteString("http://")
		b.WriteString(src.Addr.String())
	}
	if src.Path == "" {
		b.WriteByte('/')
	} else {
		b.WriteString(src.Path)
	}
	return b.String()
}

// appendMagnetEscape appends s percent-encoded for a magnet value: the
// RFC 3986 unreserved characters and those a query may hold stay as they
// are (so "http://1.2.3.4:6346/uri-res/N2R?urn:sha1:..." reads as it is),
// everything that would end or change a value ('&', '=', '+', '#', '%'),
// spaces, controls and non-ASCII bytes are escaped.
func appendMagnetEscape(b []byte, s string) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := range len(s) {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~:/?@!$'()*,;", c) >= 0 {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}
