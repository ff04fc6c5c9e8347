package httpxfer

import (
	"fmt"
	"html"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/linkzip"
)

// Browse host (gtk-gnutella's doc/gnutella/browse_host): a GET of "/" asks
// what a servent shares. With "Accept: application/x-gnutella-packets" the
// answer is a stream of QueryHit descriptors listing every shared file,
// deflated (zlib, "Content-Encoding: deflate") when the request's
// Accept-Encoding allows it; a browser gets an HTML index instead, with a
// link per file. The stream ends when the connection closes, as gtk-
// gnutella's does. Browsing takes no upload slot (the proposal advises
// not to limit it by slots); the session limits still hold.

// Browser lists what we share for browse host; the servent implements it.
type Browser interface {
	// SharedFiles returns the files to list.
	SharedFiles() []File
	// QueryHit encodes one whole QueryHit descriptor (header and payload)
	// for up to BrowseBatch files.
	QueryHit(files []File) ([]byte, error)
}

// BrowseBatch is the most files one browse QueryHit lists.
const BrowseBatch = 10

const (
	browseType = "application/x-gnutella-packets"
	htmlType   = "text/html; charset=utf-8"
)

// serveBrowse answers a request for "/" and ends the connection.
func (s *session) serveBrowse(req *request) error {
	accept := strings.ToLower(strings.Join(req.h.Values("Accept"), ","))
	rep := &reply{status: 200, reason: "OK", length: -1, close: true}
	switch {
	case strings.Contains(accept, browseType):
		rep.ctype = browseType
	case accept == "" || strings.Contains(accept, "text/html") || strings.Contains(accept, "*/*"):
		rep.ctype = htmlType
	default:
		rep.status, rep.reason, rep.length = 406, "Not Acceptable", 0
		return s.send(req, rep)
	}
	if req.h.HasToken("Accept-Encoding", "deflate") {
		rep.encoding = "deflate"
	}
	if err := s.send(req, rep); err != nil || req.method == "HEAD" {
		return err
	}
	w := io.Writer(&deadlineWriter{s: s})
	var zw *linkzip.StreamWriter
	if rep.encoding != "" {
		zw = linkzip.NewStreamWriter(w)
		w = zw
	}
	files := s.u.cfg.Browser.SharedFiles()
	var err error
	if rep.ctype == browseType {
		err = s.writeHits(w, files)
	} else {
		err = writeIndex(w, files, s.u.cfg.Server)
	}
	if zw != nil && err == nil {
		err = zw.Close()
	}
	if err != nil {
		return fmt.Errorf("browse host: %w", err)
	}
	return nil
}

func (s *session) writeHits(w io.Writer, files []File) error {
	for len(files) > 0 {
		batch := files[:min(len(files), BrowseBatch)]
		files = files[len(batch):]
		b, err := s.u.cfg.Browser.QueryHit(batch)
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// writeIndex writes the HTML index: names escaped, each a link to the
// file by urn:sha1 when it has one, else by /get/.
func writeIndex(w io.Writer, files []File, server string) error {
	var b strings.Builder
	title := html.EscapeString(server) + ": shared files"
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head><body>\n<h1>%s</h1>\n<ul>\n", title, title)
	for _, f := range files {
		link := "/get/" + strconv.FormatUint(uint64(f.Index), 10) + "/" + url.PathEscape(f.Name)
		if f.SHA1 != (wire.SHA1{}) {
			link = "/uri-res/N2R?" + f.SHA1.String()
		}
		fmt.Fprintf(&b, "<li><a href=\"%s\">%s</a> (%d bytes)</li>\n", html.EscapeString(link), html.EscapeString(f.Name), f.Size)
	}
	b.WriteString("</ul>\n</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// deadlineWriter writes to the session's connection, each write within
// SlowUploadTime: a browser that stops reading is dropped.
type deadlineWriter struct{ s *session }

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.s.conn.SetWriteDeadline(time.Now().Add(d.s.u.cfg.SlowUploadTime))
	return d.s.conn.Write(p)
}
