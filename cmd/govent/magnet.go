package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

// getRequest builds get's download from its argument (a urn:sha1 or a
// magnet link) and its --name and --size; --source is added by the
// caller, and sourceRule says when it is required.
func getRequest(c *cli.Command) (httpxfer.Request, flagRule, error) {
	arg := c.Args().First()
	if !isMagnet(arg) {
		d, err := wire.ParseURN(arg)
		if err != nil {
			return httpxfer.Request{}, flagRule{}, fmt.Errorf("%q: want urn:sha1: and 32 base32 digits, or a magnet link", arg)
		}
		return httpxfer.Request{Name: saveName(d, c.String("name")), Size: c.Int64("size"), SHA1: d}, required("source"), nil
	}
	req, notes, skipped, err := magnetRequest(arg)
	if err != nil {
		return req, flagRule{}, err
	}
	// --source is needed when the link gave no source we can use; the
	// error says why, as the link may well have named some.
	sourceRule := flagRule{"source", func(c *cli.Command) (string, string) {
		switch {
		case len(req.Sources) > 0 || c.IsSet("source"):
			return "", ""
		case skipped > 0:
			return "", fmt.Sprintf("required: the magnet link names no source by IP address (%d skipped)", skipped)
		}
		return "", "required: the magnet link names no source"
	}}
	for _, n := range notes {
		fmt.Fprintf(c.Root().ErrWriter, "magnet: %s\n", n)
	}
	req.Name = saveName(req.SHA1, c.String("name"), req.Name)
	if c.IsSet("size") {
		req.Size = c.Int64("size")
	}
	return req, sourceRule, nil
}

// isMagnet reports whether a get argument is a magnet link.
func isMagnet(arg string) bool {
	return len(arg) >= 7 && strings.EqualFold(arg[:7], "magnet:")
}

// magnetRequest turns a magnet link into a download: its urn:sha1 (and
// Tiger root, from a bitprint or a urn:tree:tiger xt: chunks are then
// verified against the tree as they arrive, and a tree that proves every
// byte needs no SHA-1 at the end), dn as the name, xl as the
// size, and its xs and as sources that name an IP address (http URLs or
// uri-res paths) or a firewalled servent (push://). Sources by host name
// are skipped: the downloader resolves no names. It also returns a note
// per parameter it skipped, and how many of the skipped were sources.
func magnetRequest(link string) (req httpxfer.Request, notes []string, skipped int, err error) {
	m, err := wire.ParseMagnet(link)
	if err != nil {
		return req, nil, 0, err
	}
	if !m.URN.HasSHA1 {
		// A damaged topic is likelier the trouble than a link that has
		// none: its note (they start "xt ") says what is wrong with it.
		var damaged []string
		for _, n := range m.Ignored {
			if strings.HasPrefix(n, "xt ") {
				damaged = append(damaged, n)
			}
		}
		if len(damaged) > 0 {
			return req, nil, 0, fmt.Errorf("magnet link without a usable urn:sha1 or urn:bitprint xt: %s", strings.Join(damaged, "; "))
		}
		return req, nil, 0, fmt.Errorf("magnet link without urn:sha1 or urn:bitprint xt: Gnutella sources are asked by SHA-1")
	}
	// The link names the SHA-1 and the root together: it vouches for
	// both, and a tree that hashes up to its root proves the file alone
	// (httpxfer.Request.RootNamed; a search hit's root does not).
	req = httpxfer.Request{Name: m.Name, SHA1: m.URN.SHA1, TTH: m.URN.TTH, HasTTH: m.URN.HasTTH, RootNamed: m.URN.HasTTH}
	if m.HasSize {
		req.Size = m.Size
	}
	notes = m.Ignored
	for _, s := range m.Sources {
		switch {
		case s.Push:
			req.Sources = append(req.Sources, httpxfer.Source{Push: true, ServentGUID: s.GUID, Proxies: s.Proxies})
		case s.Addr.IsValid():
			req.Sources = append(req.Sources, httpxfer.Source{Addr: s.Addr})
		default:
			notes = append(notes, fmt.Sprintf("source %s:%d skipped: a host name, not an address", s.Host, s.Port))
			skipped++
		}
	}
	return req, notes, skipped, nil
}

// resultMagnet is the magnet link of a search result: its urn, name, size
// and the host as an exact source: http://IP:PORT/path, or for a
// firewalled host gtk-gnutella's push://GUID:PROXY...:/path (its push
// proxies, none when its hit listed none: get then routes a Push to it).
func resultMagnet(r servent.Result) string {
	m := wire.Magnet{Name: r.Name, Size: int64(r.Size), HasSize: true}
	if r.HasSHA1 {
		m.URN = wire.URN{SHA1: r.SHA1, HasSHA1: true, TTH: r.TTH, HasTTH: r.HasTTH}
	}
	src := wire.MagnetSource{Exact: true, Path: fmt.Sprintf("/get/%d/%s", r.Index, r.Name)}
	if r.HasSHA1 {
		src.Path = "/uri-res/N2R?" + r.SHA1.String()
	}
	switch {
	case r.Push:
		src.Push, src.GUID, src.Proxies = true, r.ServentGUID, r.Proxies[:min(len(r.Proxies), wire.MaxPushProxies)]
	case r.Addr.IsValid() && r.Addr.Port() != 0:
		src.Addr = r.Addr
	default:
		return m.String()
	}
	m.Sources = append(m.Sources, src)
	return m.String()
}
