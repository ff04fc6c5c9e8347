package conform

import (
	"crypto/sha1"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/govent/govent/cmd/internal/english"
	"github.com/govent/govent/cmd/internal/link"
	"github.com/govent/govent/wire"
)

// HTTP uploads (Gnutella 0.4 section 5, 0.6 sections 4.1 and 4.3, HUGE
// section 6, RFC 9110 on ranges): the file the suite found with --query,
// fetched from the target's Gnutella port.

const (
	// maxBody is the largest body a case reads in full; bigger files are
	// only asked for their head or a small range, so the suite never
	// downloads much.
	maxBody = 1 << 20
	// maxBusyConns bounds the downloads opened to make the target busy.
	maxBusyConns = 12
)

func httpGroup() *Group {
	return &Group{Key: "http", Title: "HTTP uploads", Cases: []*Case{
		{
			Title:       "GET /get/<index>/<name> (HTTP/1.0) is answered with Content-Length and the file",
			Desc:        "Requests the shared file by index and URL-encoded name over HTTP/1.0 with Keep-Alive; reads the body when it is at most 1 MiB.",
			Requirement: `Note that if there's no "Content-Length:" specified, the downloading servent has no other choice than HAVING TO read the file data up to the detection of the end of the TCP connection ... So all servents SHALL include this header.`,
			Severity:    Must, Spec: Spec{Gnutella04, "5"},
			Run: func(t *T) error {
				return getByIndex10(t, "")
			},
		},
		{
			Title:       "GET /uri-res/N2R?urn:sha1:... returns the file, whose SHA-1 is the urn's",
			Desc:        "Requests the shared file by its urn (HTTP/1.1); hashes the body when the file is at most 1 MiB.",
			Requirement: `Servents which report URNs MUST support a new syntax for requesting files, based on their URN rather than their filename and local "file index".`,
			Severity:    Must, Spec: Spec{HUGE, "6.1"},
			Run: func(t *T) error {
				hit, l, err := hitWithURN(t)
				if err != nil {
					return err
				}
				rep, err := httpRequest(t, l, "GET", "/uri-res/N2R?"+hit.SHA1.String())
				if err != nil {
					return err
				}
				if rep.code != 200 && rep.code != 206 {
					return t.Failf("200 OK", "%q", rep.status)
				}
				if rep.code == 206 {
					return checkFirstPart(t, rep, hit)
				}
				if rep.length != int64(hit.Size) || rep.length > maxBody {
					return nil
				}
				body, err := l.ReadN(int(rep.length))
				if err != nil {
					return t.Failf(fmt.Sprintf("%d bytes of body", rep.length), "%v", err)
				}
				if got := wire.SHA1(sha1.Sum(body)); got != hit.SHA1 {
					return t.Failf("a body whose SHA-1 is "+hit.SHA1.String(), "%s", got)
				}
				return nil
			},
		},
		{
			Title:       "HEAD gives the file's headers and no body",
			Desc:        "Sends HEAD /get/<index>/<name> for the shared file with Connection: close and reads to the close.",
			Requirement: `The HEAD method is identical to GET except that the server MUST NOT send content in the response.`,
			Severity:    Must, Spec: Spec{RFC9110, "9.3.2"},
			Run: func(t *T) error {
				hit, l, err := hitConn(t)
				if err != nil {
					return err
				}
				rep, err := httpRequest(t, l, "HEAD", fmt.Sprintf("/get/%d/%s", hit.Index, url.PathEscape(hit.Name)), "Connection: close")
				if err != nil {
					return err
				}
				if rep.code != 200 {
					return t.Failf("200 OK", "%q", rep.status)
				}
				_, n, err := l.ReadToClose(0)
				if err != nil {
					return t.Failf("no body, then the close", "%v", err)
				}
				if n != 0 {
					return t.Failf("no body after the head", "%d bytes", n)
				}
				return nil
			},
		},
		{
			Title:       "replies for a shared file carry X-Gnutella-Content-URN",
			Desc:        "Sends HEAD /uri-res/N2R?<urn> and reads X-Gnutella-Content-URN.",
			Requirement: `When responding to any GET, servents compliant with this specification SHOULD use the "X-Gnutella-Content-URN" header whenever possible to report a reliable URN for the file they are providing`,
			Severity:    Should, Spec: Spec{HUGE, "6.2.1"},
			Run: func(t *T) error {
				hit, l, err := hitWithURN(t)
				if err != nil {
					return err
				}
				rep, err := httpRequest(t, l, "HEAD", "/uri-res/N2R?"+hit.SHA1.String())
				if err != nil {
					return err
				}
				return checkContentURN(t, rep, hit, false)
			},
		},
		{
			Title:       "a Range request gets 206 with a Content-Range that matches the bytes sent",
			Desc:        "Requests bytes=1-64 of the shared file (or up to its end) and checks Content-Range, Content-Length and the body.",
			Requirement: `If a single part is being transferred, the server generating the 206 response MUST generate a Content-Range header field, describing what range of the selected representation is enclosed, and a content consisting of the range.`,
			Severity:    Must, Spec: Spec{RFC9110, "15.3.7"},
			Run: func(t *T) error {
				hit, err := t.Hit()
				if err != nil {
					return err
				}
				if hit.Size < 2 {
					return t.Skipf("the shared file has %d bytes; a range needs 2", hit.Size)
				}
				end := min(int64(hit.Size)-1, 64)
				return rangeCase(t, hit, fmt.Sprintf("bytes=1-%d", end), 1, end)
			},
		},
		{
			Title:       "a suffix range gets the file's last bytes",
			Desc:        "Requests bytes=-10 (or the whole file if smaller) and checks Content-Range.",
			Requirement: `Note that the Range header does not have to specify both start and end positions.`,
			Severity:    Should, Spec: Spec{Gnutella06, "4.1"},
			Run: func(t *T) error {
				hit, err := t.Hit()
				if err != nil {
					return err
				}
				if hit.Size == 0 {
					return t.Skipf("the shared file is empty")
				}
				n := min(int64(hit.Size), 10)
				return rangeCase(t, hit, fmt.Sprintf("bytes=-%d", n), int64(hit.Size)-n, int64(hit.Size)-1)
			},
		},
		{
			Title:       "a range past the end gets 416 with Content-Range: bytes */<size>",
			Desc:        "Requests bytes=<size+100>- of the shared file.",
			Requirement: `If all of the ranges are unsatisfiable, the server SHOULD send a 416 (Range Not Satisfiable) response.`,
			Severity:    Should, Spec: Spec{RFC9110, "14.2"},
			Departures: []string{"gtk-gnutella 1.2.3: 206 with the file's last byte. http_range_extract_first clamps the range to the file, " +
				"so its 416 branch cannot trigger, as its own XXX comment there says (src/core/uploads.c, upload_request_for_shared_file)."},
			Run: func(t *T) error {
				hit, l, err := hitConn(t)
				if err != nil {
					return err
				}
				rep, err := httpRequest(t, l, "GET", hitTarget(hit), fmt.Sprintf("Range: bytes=%d-", int64(hit.Size)+100))
				if err != nil {
					return err
				}
				want := fmt.Sprintf("bytes */%d", hit.Size)
				if cr, _ := rep.head.Get("Content-Range"); rep.code != 416 || strings.TrimSpace(cr) != want {
					return t.Failf("416 with Content-Range: "+want, "%q, Content-Range: %q", rep.status, cr)
				}
				return nil
			},
		},
		{
			Title:       "a request for a file the target does not share gets 404",
			Desc:        "Requests /get/4000000000/<random>.txt and /uri-res/N2R?<a urn nobody shares>.",
			Requirement: `The 404 (Not Found) status code indicates that the origin server did not find a current representation for the target resource`,
			Severity:    Should, Spec: Spec{RFC9110, "15.5.5"},
			Conns: 2,
			Run: func(t *T) error {
				var none wire.SHA1
				copy(none[:], randomWord()+randomWord())
				for _, target := range []string{"/get/4000000000/" + randomWord() + ".txt", "/uri-res/N2R?" + none.String()} {
					l, err := t.DialTCP()
					if err != nil {
						return err
					}
					rep, err := httpRequest(t, l, "GET", target, "Connection: close")
					if err != nil {
						return err
					}
					if rep.code != 404 {
						return t.Failf("404 for "+target, "%q", rep.status)
					}
				}
				return nil
			},
		},
		{
			Title:       "a range reply names the urn of the whole file",
			Desc:        "Requests bytes=0-0 of the shared file by /get/ and reads X-Gnutella-Content-URN.",
			Requirement: `The URN MUST be for the full file, even when responding to "Range" requests.`,
			Severity:    Must, Spec: Spec{HUGE, "6.2.1"},
			Run: func(t *T) error {
				hit, l, err := hitWithURN(t)
				if err != nil {
					return err
				}
				rep, err := httpRequest(t, l, "GET", fmt.Sprintf("/get/%d/%s", hit.Index, url.PathEscape(hit.Name)), "Range: bytes=0-0")
				if err != nil {
					return err
				}
				return checkContentURN(t, rep, hit, true)
			},
		},
		{
			Title:       "two requests are answered on one persistent connection",
			Desc:        "On one HTTP/1.1 connection, requests bytes=0-0 of the shared file twice.",
			Requirement: `The most important features for Gnutella, range requests and Persistent Connections MUST be supported.`,
			Severity:    Must, Spec: Spec{Gnutella06, "4.1"},
			Run: func(t *T) error {
				hit, l, err := hitConn(t)
				if err != nil {
					return err
				}
				for i := range 2 {
					rep, err := httpRequest(t, l, "GET", hitTarget(hit), "Range: bytes=0-0")
					if err != nil {
						return t.Failf(fmt.Sprintf("an answer to request %d of 2", i+1), "%v", err)
					}
					if rep.code != 206 && rep.code != 200 {
						return t.Failf(fmt.Sprintf("206 for request %d of 2", i+1), "%q", rep.status)
					}
					if rep.length < 0 || rep.length > maxBody {
						return t.Failf("a Content-Length of at most 1 MiB for one byte", "Content-Length %d", rep.length)
					}
					if _, err := l.ReadN(int(rep.length)); err != nil {
						return t.Failf("the body", "%v", err)
					}
				}
				return nil
			},
		},
		{
			Title:       "a file name that is not URL-encoded is accepted",
			Desc:        "Requests /get/<index>/<name> with the name as it is (spaces and all), when URL-encoding would change it.",
			Requirement: `Since some old servents does not support encoding, servents SHOULD accept non-encoded requests`,
			Severity:    Should, Spec: Spec{Gnutella06, "4.1"},
			Run: func(t *T) error {
				hit, err := t.Hit()
				if err != nil {
					return err
				}
				if url.PathEscape(hit.Name) == hit.Name {
					return t.Skipf("the name %q reads the same URL-encoded", hit.Name)
				}
				l, err := t.DialTCP()
				if err != nil {
					return err
				}
				rep, err := httpRequest(t, l, "GET", fmt.Sprintf("/get/%d/%s", hit.Index, hit.Name), "Range: bytes=0-0")
				if err != nil {
					return err
				}
				if rep.code != 200 && rep.code != 206 {
					return t.Failf("200 or 206", "%q", rep.status)
				}
				return nil
			},
		},
		{
			Title:       "when its upload slots are taken, the target answers 503 with Retry-After or X-Queue",
			Desc:        fmt.Sprintf("Opens up to %d keep-alive connections, each fetching bytes=0-0 of the shared file, until one is refused.", maxBusyConns),
			Requirement: `Servents whose upload bandwidth is already saturated with transfers MAY reject a download request by returning the 503 response code.`,
			Severity:    Should, Spec: Spec{Gnutella06, "4.3"},
			Conns: maxBusyConns,
			Run: func(t *T) error {
				hit, err := t.Hit()
				if err != nil {
					return err
				}
				for i := range maxBusyConns {
					l, err := t.DialTCP()
					if err != nil {
						return err
					}
					rep, err := busyRequest(t, l, "GET", hitTarget(hit), "Range: bytes=0-0")
					if err != nil {
						return err
					}
					if rep.code == 503 {
						_, retry := rep.head.Get("Retry-After")
						_, queue := rep.head.Get("X-Queue")
						if !retry && !queue {
							return t.Failf("Retry-After or X-Queue with the 503", "headers %s", headerNames(rep.head))
						}
						t.Notef("busy after %s", english.Count(i, "download", "downloads"))
						return nil
					}
					if rep.length >= 0 && rep.length <= maxBody {
						if _, err := l.ReadN(int(rep.length)); err != nil {
							return err
						}
					}
				}
				return t.Skipf("%d downloads at once were all served", maxBusyConns)
			},
		},
		{
			Title:       "the 0.4 request form, with a slash after the name, is served",
			Desc:        "Requests /get/<index>/<name>/ over HTTP/1.0, as the 0.4 document writes it.",
			Requirement: `The servent initiating the download sends a HTTP request string of the following form to the target server: GET /get/<File Index>/<File Name>/ HTTP/1.0`,
			Severity:    Should, Spec: Spec{Gnutella04, "5"},
			Departures: []string{"gtk-gnutella 1.2.3: 404 Not Found; it takes nothing after the name " +
				"(src/core/uploads.c, get_file_to_upload: no '/' may follow the index's slash), as the 0.6 draft writes the request."},
			Run: func(t *T) error {
				return getByIndex10(t, "/")
			},
		},
	}}
}

// getByIndex10 requests the shared file as /get/<index>/<name><tail> over
// HTTP/1.0 and checks a 200 (or 206) with its Content-Length and body.
func getByIndex10(t *T, tail string) error {
	hit, l, err := hitConn(t)
	if err != nil {
		return err
	}
	target := fmt.Sprintf("/get/%d/%s%s", hit.Index, url.PathEscape(hit.Name), tail)
	rep, err := httpRequest10(t, l, "GET", target)
	if err != nil {
		return err
	}
	if rep.code != 200 && rep.code != 206 {
		return t.Failf("200 OK (or 206 for part of a large file)", "%q", rep.status)
	}
	if rep.length < 0 {
		return t.Failf("a Content-Length header", "headers %s", headerNames(rep.head))
	}
	if rep.code == 200 && rep.length != int64(hit.Size) {
		return t.Failf(fmt.Sprintf("Content-Length: %d, the size in the QueryHit", hit.Size), "Content-Length: %d", rep.length)
	}
	if rep.code == 206 {
		if err := checkFirstPart(t, rep, hit); err != nil {
			return err
		}
	}
	if rep.length <= maxBody {
		if _, err := l.ReadN(int(rep.length)); err != nil {
			return t.Failf(fmt.Sprintf("%d bytes of body", rep.length), "%v", err)
		}
	}
	return nil
}

// checkFirstPart checks a 206 to a request for the whole file: servents
// serve a large file in parts (gtk-gnutella sends the first 512 KiB of a
// first request, TX_FIRST_CHUNK in src/core/uploads.c), and the part must
// say what it is: a Content-Range from byte 0 of the file's size that
// matches Content-Length.
func checkFirstPart(t *T, rep *httpReply, hit *Hit) error {
	cr, _ := rep.head.Get("Content-Range")
	var a, b, size int64
	if _, err := fmt.Sscanf(strings.TrimSpace(cr), "bytes %d-%d/%d", &a, &b, &size); err != nil ||
		a != 0 || b < a || size != int64(hit.Size) || rep.length != b-a+1 {
		return t.Failf(fmt.Sprintf("with the 206, Content-Range: bytes 0-<end>/%d matching Content-Length", hit.Size),
			"Content-Range: %q, Content-Length: %d", cr, rep.length)
	}
	t.Notef("served in parts: %s", cr)
	return nil
}

// httpReply is a response head.
type httpReply struct {
	status string
	code   int
	head   *wire.Handshake
	length int64 // Content-Length, -1 when absent
}

// httpRequest sends an HTTP/1.1 request on l (a connection in its
// handshake phase) and reads the response head. A 503 skips the case: the
// target is busy, as it may be (see busyReply).
func httpRequest(t *T, l *link.Link, method, target string, headers ...string) (*httpReply, error) {
	rep, err := busyRequest(t, l, method, target, headers...)
	return notBusy(t, rep, err)
}

// busyRequest is httpRequest for the case about busy targets: a 503 is an
// answer like any other.
func busyRequest(t *T, l *link.Link, method, target string, headers ...string) (*httpReply, error) {
	return sendHTTP(t, l, method+" "+target+" HTTP/1.1", append([]string{"Host: " + t.cfg.Target}, headers...))
}

// httpRequest10 sends the 0.4 spec's HTTP/1.0 request.
func httpRequest10(t *T, l *link.Link, method, target string) (*httpReply, error) {
	rep, err := sendHTTP(t, l, method+" "+target+" HTTP/1.0", []string{"Connection: Keep-Alive"})
	return notBusy(t, rep, err)
}

// notBusy turns a 503 into a skip. A servent whose upload slots are taken
// MAY refuse with 503 (Gnutella 0.6 section 4.3), so the case cannot be
// judged then. gtk-gnutella has 4 slots (max_simultaneous_uploads) and
// keeps a finished download's slot 45 s for it (src/core/parq.c,
// GUARDING_TIME) and queues newcomers behind those; each of the suite's
// connections comes from an address of its own, a newcomer, so a run
// within a minute or so of another meets a full queue, and each 503 leaves
// a queue entry behind that lasts minutes more.
func notBusy(t *T, rep *httpReply, err error) (*httpReply, error) {
	if err != nil || rep.code != 503 {
		return rep, err
	}
	return nil, t.Skipf("the target is busy: %q; its upload slots are taken (by earlier runs, too), rerun later", rep.status)
}

func sendHTTP(t *T, l *link.Link, line string, headers []string) (*httpReply, error) {
	var b strings.Builder
	b.WriteString(line + "\r\nUser-Agent: " + link.UserAgent + "\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	if err := l.WriteRaw([]byte(b.String())); err != nil {
		return nil, err
	}
	head, err := l.ReadBlock()
	if err != nil {
		return nil, t.Failf("an HTTP response to "+line, "%v", err)
	}
	f := strings.Fields(head.StartLine)
	rep := &httpReply{status: head.StartLine, head: head, length: -1}
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") {
		return nil, t.Failf("an HTTP status line", "%q", head.StartLine)
	}
	if rep.code, err = strconv.Atoi(f[1]); err != nil {
		return nil, t.Failf("an HTTP status line", "%q", head.StartLine)
	}
	if v, ok := head.Get("Content-Length"); ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
			rep.length = n
		}
	}
	return rep, nil
}

// hitTarget is the request target of the shared file: by urn when known.
func hitTarget(hit *Hit) string {
	if hit.HasSHA1 {
		return "/uri-res/N2R?" + hit.SHA1.String()
	}
	return fmt.Sprintf("/get/%d/%s", hit.Index, url.PathEscape(hit.Name))
}

// hitConn returns the shared file and a fresh connection to ask for it.
func hitConn(t *T) (*Hit, *link.Link, error) {
	hit, err := t.Hit()
	if err != nil {
		return nil, nil, err
	}
	l, err := t.DialTCP()
	return hit, l, err
}

// urnHit returns the shared file, which must have a urn.
func urnHit(t *T) (*Hit, error) {
	hit, err := t.Hit()
	if err != nil {
		return nil, err
	}
	if !hit.HasSHA1 {
		return nil, t.Skipf("the QueryHit for --query carried no urn:sha1")
	}
	return hit, nil
}

// hitWithURN is urnHit with a fresh connection.
func hitWithURN(t *T) (*Hit, *link.Link, error) {
	hit, err := urnHit(t)
	if err != nil {
		return nil, nil, err
	}
	l, err := t.DialTCP()
	return hit, l, err
}

// checkContentURN checks a reply's X-Gnutella-Content-URN; with
// skipAbsent a missing header skips (another case requires it).
func checkContentURN(t *T, rep *httpReply, hit *Hit, skipAbsent bool) error {
	if rep.code != 200 && rep.code != 206 {
		return t.Failf("200 or 206", "%q", rep.status)
	}
	v, ok := rep.head.Get("X-Gnutella-Content-URN")
	if !ok && skipAbsent {
		return t.Skipf("the reply has no X-Gnutella-Content-URN (see http/4)")
	}
	for u := range strings.SplitSeq(v, ",") {
		if d, err := wire.ParseURN(strings.TrimSpace(u)); err == nil && d == hit.SHA1 {
			return nil
		}
	}
	return t.Failf("X-Gnutella-Content-URN: "+hit.SHA1.String(), "%q", v)
}

// rangeCase requests rng and checks a 206 whose Content-Range starts at
// first, ends at or before last (a servent may send less), and matches
// Content-Length and the bytes that follow.
func rangeCase(t *T, hit *Hit, rng string, first, last int64) error {
	l, err := t.DialTCP()
	if err != nil {
		return err
	}
	rep, err := httpRequest(t, l, "GET", hitTarget(hit), "Range: "+rng)
	if err != nil {
		return err
	}
	cr, _ := rep.head.Get("Content-Range")
	if rep.code != 206 {
		return t.Failf("206 Partial Content for "+rng, "%q", rep.status)
	}
	var a, b, size int64
	if _, err := fmt.Sscanf(strings.TrimSpace(cr), "bytes %d-%d/%d", &a, &b, &size); err != nil ||
		a != first || b < a || b > last || size != int64(hit.Size) {
		return t.Failf(fmt.Sprintf("Content-Range: bytes %d-%d/%d (or a shorter part from %d)", first, last, hit.Size, first), "Content-Range: %q", cr)
	}
	if rep.length != b-a+1 {
		return t.Failf(fmt.Sprintf("Content-Length: %d for %q", b-a+1, cr), "Content-Length %d", rep.length)
	}
	if _, err := l.ReadN(int(rep.length)); err != nil {
		return t.Failf(fmt.Sprintf("%d bytes of body", rep.length), "%v", err)
	}
	return nil
}
