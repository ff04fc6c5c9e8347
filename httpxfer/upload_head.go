package httpxfer

// The head of an uploader's reply: status line, ranges, the headers
// deployed servents read (X-Features, X-Thex-URI, PARQ, the download
// mesh), and the alternate locations learnt from a request.

import (
	"mime"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

const httpTime = "Mon, 02 Jan 2006 15:04:05 GMT"

func (s *session) appendHead(b []byte, req *request, rep *reply, keep bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(rep.status), 10)
	b = append(b, ' ')
	b = append(b, rep.reason...)
	b = append(b, "\r\nServer: "...)
	b = append(b, s.u.cfg.Server...)
	if s.u.cfg.Features != "" {
		b = append(b, "\r\nX-Features: "...)
		b = append(b, s.u.cfg.Features...)
	}
	b = append(b, "\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, httpTime)
	if keep {
		b = append(b, "\r\nConnection: Keep-Alive"...)
	} else {
		b = append(b, "\r\nConnection: close"...)
	}
	if rep.rng != nil {
		b = append(b, "\r\nContent-Range: bytes "...)
		b = strconv.AppendInt(b, rep.rng.start, 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, rep.rng.end, 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, rep.file.Size, 10)
	}
	if rep.status == 416 {
		b = append(b, "\r\nContent-Range: bytes */"...)
		b = strconv.AppendInt(b, rep.file.Size, 10)
	}
	if rep.length >= 0 {
		b = append(b, "\r\nContent-Length: "...)
		b = strconv.AppendInt(b, rep.length, 10)
	}
	if rep.tree != nil {
		b = append(b, "\r\nContent-Type: application/dime"...)
	}
	if rep.retry > 0 {
		b = append(b, "\r\nRetry-After: "...)
		b = strconv.AppendInt(b, int64((rep.retry+time.Second-1)/time.Second), 10)
	}
	b = s.appendQueueReply(b, rep)
	if rep.ctype != "" {
		b = append(b, "\r\nContent-Type: "...)
		b = append(b, rep.ctype...)
	}
	if rep.encoding != "" {
		b = append(b, "\r\nContent-Encoding: "...)
		b = append(b, rep.encoding...)
	}
	if f := rep.file; f != nil {
		if rep.status == 200 || rep.status == 206 {
			if !f.ModTime.IsZero() {
				b = append(b, "\r\nLast-Modified: "...)
				b = f.ModTime.UTC().AppendFormat(b, httpTime)
			}
			b = append(b, "\r\nContent-Type: "...)
			b = append(b, contentType(f.Name)...)
		}
		if f.SHA1 != (wire.SHA1{}) {
			b = append(b, "\r\nX-Gnutella-Content-URN: "...)
			b = f.SHA1.AppendURN(b)
			if _, ok := s.tree(*f); ok {
				b = append(b, "\r\nX-Thex-URI: "...)
				b = append(b, thex.FormatThexURI(f.SHA1, f.TTH)...)
			}
			b = s.appendAltLocs(b, f.SHA1, req)
		}
	}
	if s.u.cfg.PushProxies != nil {
		if proxies := s.u.cfg.PushProxies(); len(proxies) > 0 {
			b = append(b, "\r\nX-Push-Proxy: "...)
			b = append(b, wire.FormatAddrList(proxies)...)
		}
	}
	return append(b, "\r\n\r\n"...)
}

// appendAltLocs appends X-Alt with other sources of the file, leaving out
// the client's own address, and X-Falt with firewalled ones when the
// client reads them ("fwalt" in X-Features, as gtk-gnutella requires).
func (s *session) appendAltLocs(b []byte, d wire.SHA1, req *request) []byte {
	m, max := s.u.cfg.Mesh, s.u.cfg.MaxAltLocs
	good := slices.DeleteFunc(m.Good(d, max+1), func(ap netip.AddrPort) bool { return ap.Addr() == s.ip })
	b = appendAltHeader(b, "X-Alt", good, max)
	if req != nil && req.h != nil && hasFeature(req.h, "fwalt") {
		b = appendFaltHeader(b, m.Firewalled(d, max), max)
	}
	return b
}

// learnAltLocs takes the X-Alt, X-Falt and X-NAlt a downloader sent with
// a request for d into the mesh, as hearsay from its address.
func (s *session) learnAltLocs(d wire.SHA1, h *wire.Handshake) {
	m := s.u.cfg.Mesh
	m.AddFrom(d, s.ip, ParseAltLocs(h.Values("X-Alt"))...)
	m.AddFirewalled(d, s.ip, ParseFalt(h.Values("X-Falt"))...)
	m.AddBadFrom(d, s.ip, ParseAltLocs(h.Values("X-NAlt"))...)
}

func contentType(name string) string {
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 416:
		return "Requested Range Not Satisfiable"
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Error"
}
