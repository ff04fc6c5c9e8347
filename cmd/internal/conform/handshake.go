package conform

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/govent/govent/cmd/internal/english"
	"github.com/govent/govent/cmd/internal/link"
	"github.com/govent/govent/wire"
)

// Handshake: the 0.6 three-step handshake (Gnutella 0.6 section 2.1, the
// handshaking_0.6 document), the headers of the two-tier network, and the
// 0.4 handshake of old servents.

// maxFill bounds the connections the "full" cases open to fill a target:
// more than gtk-gnutella's 50 (max_connections).
const maxFill = 64

func handshakeGroup() *Group {
	return &Group{Key: "handshake", Title: "Handshake (0.6 and 0.4)", Cases: []*Case{
		{
			Title:       "a 0.6 CONNECT is answered GNUTELLA/0.6 200 and descriptors flow",
			Desc:        "Connects as an ultrapeer with the headers deployed servents send, completes the handshake and sends a TTL-1 Ping.",
			Requirement: `4. The server responds with "GNUTELLA/0.6 200 OK<cr><lf>".`,
			Severity:    Must, Spec: Spec{Handshake06, "3"},
			Run: func(t *T) error {
				l, err := t.Ultrapeer()
				if err != nil {
					return refusedFailure("GNUTELLA/0.6 200", l, err)
				}
				if proto, _, _, _ := l.Answer.ParseStatus(); proto != wire.HandshakeProto06 {
					return t.Failf("a GNUTELLA/0.6 status line", "%q", l.Answer.StartLine)
				}
				return alive(t, l)
			},
		},
		{
			Title:       "the answer names the servent in User-Agent",
			Desc:        "Connects as an ultrapeer and reads the answer's headers.",
			Requirement: `servents SHOULD use the standard "User-Agent" header rather than make up a "Servent-Vendor" header.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.1"},
			Run: func(t *T) error {
				l, err := t.Ultrapeer()
				if err != nil {
					return refusedFailure("GNUTELLA/0.6 200", l, err)
				}
				ua, ok := l.Answer.Get("User-Agent")
				if !ok || strings.TrimSpace(ua) == "" {
					return t.Failf("a User-Agent header", "headers %s", headerNames(l.Answer))
				}
				t.Notef("User-Agent: %s", ua)
				return nil
			},
		},
		{
			Title:       "the answer says X-Ultrapeer: True or False",
			Desc:        "Connects as an ultrapeer and reads the answer's X-Ultrapeer.",
			Requirement: `The key header here is "X-Ultrapeer", which tells whether a host plans on acting as a ultrapeer (if true) or a shielded node (if false).`,
			Severity:    Should, Spec: Spec{Ultrapeers, "3.1"},
			Run: func(t *T) error {
				l, err := t.Ultrapeer()
				if err != nil {
					return refusedFailure("GNUTELLA/0.6 200", l, err)
				}
				v, _ := l.Answer.Get("X-Ultrapeer")
				if b := strings.ToLower(strings.TrimSpace(v)); b != "true" && b != "false" {
					return t.Failf("X-Ultrapeer: True or False", "X-Ultrapeer: %q", v)
				}
				t.Notef("X-Ultrapeer: %s", v)
				return nil
			},
		},
		{
			Title: "a dynamic-querying ultrapeer announces X-Degree of at least 15 and X-Max-TTL of at most 4",
			Desc:  "Connects as an ultrapeer; when the answer has X-Dynamic-Querying, reads X-Degree and X-Max-TTL.",
			Requirement: `The X-Max-TTL MUST NOT exceed 4, as any TTL above 4 indicates a client is allowing too much query traffic on the network. ` +
				`... Clients supporting this proposal must have X-Degrees of at least 15`,
			Severity: Must, Spec: Spec{DynamicQuery, "2.5.3.2"}, Role: Ultrapeer,
			Run: func(t *T) error {
				l, err := t.Ultrapeer()
				if err != nil {
					return refusedFailure("GNUTELLA/0.6 200", l, err)
				}
				if _, ok := l.Answer.Get("X-Dynamic-Querying"); !ok {
					return t.Skipf("the target does not announce X-Dynamic-Querying")
				}
				deg, _ := l.Answer.Get("X-Degree")
				ttl, _ := l.Answer.Get("X-Max-TTL")
				d, derr := strconv.Atoi(strings.TrimSpace(deg))
				m, terr := strconv.Atoi(strings.TrimSpace(ttl))
				if derr != nil || terr != nil || d < 15 || m < 1 || m > 4 {
					return t.Failf("X-Degree >= 15 and 1 <= X-Max-TTL <= 4", "X-Degree: %q, X-Max-TTL: %q", deg, ttl)
				}
				t.Notef("X-Degree: %d, X-Max-TTL: %d", d, m)
				return nil
			},
		},
		{
			Title:       "header names and True/False values are read in any case",
			Desc:        "Connects as an ultrapeer with every header name in lower case and X-Ultrapeer: TRUE.",
			Requirement: `Headers follow the standards described in RFC822 and RFC2616. ... Also, case is ignored in "True" and "False".`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.1, 3.2.1.2"},
			Run: func(t *T) error {
				h := link.Options{Ultrapeer: true}.ConnectBlock()
				for i := range h.Headers {
					h.Headers[i].Name = strings.ToLower(h.Headers[i].Name)
				}
				h.Set("x-ultrapeer", "TRUE")
				return handshakeWith(t, h.Append(nil))
			},
		},
		{
			Title:       "continuation lines continue the header before them",
			Desc:        "Connects as an ultrapeer with the values of X-Ultrapeer and User-Agent on continuation lines (a tab, a space).",
			Requirement: `Each line normally starts a new header, unless it begins with a space or an horizontal tab ..., in which case it continues the preceding header line.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.1"},
			Departures: []string{`gtk-gnutella 1.2.3: joins the line with a space even when the header had no value yet, ` +
				`so "X-Ultrapeer:" continued by "True" reads " True", which is not True (RFC 2616 section 4.2: the value has no leading LWS). ` +
				`As a leaf it then takes us for a leaf and refuses with 204; as an ultrapeer it takes us as a leaf and the case passes ` +
				`(src/lib/header.c, add_continuation; src/core/nodes.c compares X-Ultrapeer with ascii_strcasecmp).`},
			Run: func(t *T) error {
				h := link.Options{Ultrapeer: true}.ConnectBlock()
				raw := string(h.Append(nil))
				raw = strings.Replace(raw, "X-Ultrapeer: True\r\n", "X-Ultrapeer:\r\n\tTrue\r\n", 1)
				raw = strings.Replace(raw, "User-Agent: "+link.UserAgent+"\r\n", "User-Agent: "+link.UserAgent+"\r\n (conformance suite)\r\n", 1)
				return handshakeWith(t, []byte(raw))
			},
		},
		{
			Title:       "unknown headers are ignored",
			Desc:        "Connects as an ultrapeer with two headers no servent knows.",
			Requirement: `Headers unknown to the servent MUST be ignored.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.1"},
			Run: func(t *T) error {
				h := link.Options{Ultrapeer: true}.ConnectBlock()
				h.Add("X-Conform-"+randomWord(), "whatever this means")
				h.Add("X-Conform-Private-Data", "5ef89a")
				return handshakeWith(t, h.Append(nil))
			},
		},
		{
			Title: "a header block over 16 KiB is refused (specs silent: gtk-gnutella's limit)",
			Desc:  "Sends a CONNECT whose header block is 20 KiB: 40 headers of 500 bytes.",
			Requirement: `The specs set no limit. gtk-gnutella, the live reference, refuses more: ` +
				`#define HEAD_MAX_SIZE 16384 /**< Maximum size of header data */`,
			Severity: Should, Spec: Spec{GTKG, "src/lib/header.h"},
			Run: func(t *T) error {
				h := link.Options{Ultrapeer: true}.ConnectBlock()
				filler := strings.Repeat("x", 480)
				for i := range 40 {
					h.Add(fmt.Sprintf("X-Conform-Fill-%02d", i), filler)
				}
				return expectRefused(t, h.Append(nil))
			},
		},
		{
			Title: "a header block of more than 128 lines is refused (specs silent: gtk-gnutella's limit)",
			Desc:  "Sends a CONNECT with 200 short header lines.",
			Requirement: `The specs set no limit. gtk-gnutella, the live reference, refuses more: ` +
				`#define HEAD_MAX_LINES 128 /**< Maximum amount of header lines */`,
			Severity: Should, Spec: Spec{GTKG, "src/lib/header.h"},
			Run: func(t *T) error {
				h := link.Options{Ultrapeer: true}.ConnectBlock()
				for i := range 200 {
					h.Add(fmt.Sprintf("X-Conform-%03d", i), "1")
				}
				return expectRefused(t, h.Append(nil))
			},
		},
		{
			Title:       "a full servent refuses with 503",
			Desc:        fmt.Sprintf("Opens ultrapeer connections (each with a Listen-IP) until one is refused, at most %d.", maxFill),
			Requirement: `The normal status code for rejecting a connection because the servent is busy is "503 " followed by "Busy" or another description string.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.1"},
			Conns: maxFill,
			Run: func(t *T) error {
				l, n, _, err := fill(t)
				if err != nil {
					return err
				}
				if l.Code != 503 {
					return t.Failf("503 when full", "%q after %d connections", l.Answer.StartLine, n)
				}
				t.Notef("full after %d connections: %q", n, l.Answer.StartLine)
				return nil
			},
		},
		{
			Title:       "a full servent's refusal lists other hosts to try",
			Desc:        fmt.Sprintf("Opens ultrapeer connections, each announcing a Listen-IP, until one is refused (at most %d), and reads X-Try-Ultrapeers and X-Try.", maxFill),
			Requirement: `When rejecting a connection, a servent MUST, if possible, provide the remote host with a list of other Gnutella hosts, so it can try connecting to them.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.1"},
			Conns: maxFill,
			Run: func(t *T) error {
				l, n, listen, err := fill(t)
				if err != nil {
					return err
				}
				var hosts int
				for _, name := range []string{"X-Try-Ultrapeers", "X-Try"} {
					for _, v := range l.Answer.Values(name) {
						hosts += len(wire.ParseAddrList(v, 100))
					}
				}
				if hosts == 0 && !routable(listen.Addr()) {
					// "If possible": the only hosts it learnt from us are
					// on an address no peer elsewhere could reach, and a
					// servent rightly keeps those to itself (gtk-gnutella
					// keeps only routable hosts: src/core/pcache.c,
					// pcache_pong_fake).
					return t.Skipf("the target offered no hosts in %q; the only ones it could know are ours, at %s, which is not routable",
						l.Answer.StartLine, listen.Addr())
				}
				if hosts == 0 {
					return t.Failf("X-Try-Ultrapeers or X-Try with the hosts connected to it",
						"%q with headers %s after %d connections", l.Answer.StartLine, headerNames(l.Answer), n)
				}
				t.Notef("%s offered", english.Count(hosts, "host", "hosts"))
				return nil
			},
		},
		{
			Title:       "a shielded leaf refuses a connection from another leaf",
			Desc:        "Connects as an ultrapeer (so the target is a shielded leaf), then connects as a leaf.",
			Requirement: `If a shielded leaf node receives a connection request, it will refuse to accept the connection by returning a 503 error code together with X-Try and X-Try-Ultrapeer headers`,
			Severity:    Should, Spec: Spec{Gnutella06, "3.2.1.2"}, Role: Leaf,
			Conns: 2,
			Departures: []string{`gtk-gnutella 1.2.3: refuses with "204 Shielded leaf node (4 peers max)", by choice: its copy of the ultrapeers ` +
				`document notes "should send a 204 error here, since there's no content" (src/core/nodes.c, node_can_accept_connection; doc/gnutella/ultra-peers 3.2).`},
			Run: func(t *T) error {
				if l, err := t.Ultrapeer(); err != nil {
					return refusedFailure("GNUTELLA/0.6 200 to our ultrapeer", l, err)
				}
				l, err := t.Leaf()
				if err == nil {
					return t.Failf("a 503 refusal", "%q", l.Answer.StartLine)
				}
				if l == nil || l.Answer == nil {
					return t.Failf("a 503 refusal", "%v", err)
				}
				if l.Code != 503 {
					return t.Failf("a 503 refusal", "%q", l.Answer.StartLine)
				}
				t.Notef("%q", l.Answer.StartLine)
				return nil
			},
		},
		{
			Title:       "a non-200 in the third step ends the connection",
			Desc:        `Connects as an ultrapeer and answers the target's 200 with "GNUTELLA/0.6 503 Conformance test refuses".`,
			Requirement: `the client (server) SHOULD disconnect if receiving any response other than "200" at step 4 (6).`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.1"},
			Run: func(t *T) error {
				l, err := t.DialTCP()
				if err != nil {
					return err
				}
				if err := l.WriteBlock(link.Options{Ultrapeer: true}.ConnectBlock()); err != nil {
					return err
				}
				if _, err := l.ReadAnswer(); err != nil {
					return refusedFailure("GNUTELLA/0.6 200", l, err)
				}
				if err := l.WriteBlock(&wire.Handshake{StartLine: wire.StatusLine06(503, "Conformance test refuses")}); err != nil {
					return err
				}
				l.Start(false, false)
				_, err = expectClosed(t, l, "the target to close the connection we refused")
				return err
			},
		},
		{
			Title:       "a 0.4 CONNECT is accepted with GNUTELLA OK or refused (both conformant)",
			Desc:        `Sends "GNUTELLA CONNECT/0.4\n\n"; after a GNUTELLA OK, a TTL-1 Ping.`,
			Requirement: `Some older servents will initiate the handshake by sending "GNUTELLA CONNECT/0.4". The server SHOULD then reply with "GNUTELLA OK" followed by binary messages, if it can accept the connection.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.1"},
			Run: func(t *T) error {
				l, err := t.DialTCP()
				if err != nil {
					return err
				}
				if err := l.WriteRaw([]byte(wire.Handshake04Connect)); err != nil {
					return err
				}
				ans, err := l.ReadBlock()
				switch {
				case errors.Is(err, link.ErrClosed):
					t.Notef("refused: closed without an answer")
					return nil
				case err != nil:
					return t.Failf(`"GNUTELLA OK" or a refusal`, "%v", err)
				case ans.Is04OK():
					l.Start(false, false)
					if err := alive(t, l); err != nil {
						return err
					}
					t.Notef("accepted: GNUTELLA OK")
					return nil
				}
				if _, code, _, err := ans.ParseStatus(); err == nil && code != 200 {
					t.Notef("refused: %q", ans.StartLine)
					return nil
				}
				return t.Failf(`"GNUTELLA OK" or a refusal`, "%q", ans.StartLine)
			},
		},
		{
			Title:       "a CONNECT/0.7 is answered as 0.6 (or 0.7)",
			Desc:        `Connects as an ultrapeer with "GNUTELLA CONNECT/0.7".`,
			Requirement: `servents SHOULD ignore higher version numbers in steps (2), (4), and (6). ... The server SHOULD respond with "GNUTELLA/0.7 200 OK" if it supports the 0.7 protocol, or "GNUTELLA/0.6 200 OK" otherwise.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.1"},
			Run: func(t *T) error {
				h := link.Options{Ultrapeer: true}.ConnectBlock()
				h.StartLine = "GNUTELLA CONNECT/0.7"
				return handshakeWith(t, h.Append(nil))
			},
		},
	}}
}

// handshakeWith sends connect as it is, expects a 200, completes the
// handshake and checks the link with a Ping.
func handshakeWith(t *T, connect []byte) error {
	l, err := t.DialTCP()
	if err != nil {
		return err
	}
	if err := l.WriteRaw(connect); err != nil {
		return err
	}
	if _, err := l.ReadAnswer(); err != nil {
		return refusedFailure("GNUTELLA/0.6 200", l, err)
	}
	if err := l.WriteBlock(&wire.Handshake{StartLine: wire.StatusLine06(200, "OK")}); err != nil {
		return err
	}
	l.Start(false, false)
	return alive(t, l)
}

// expectRefused sends connect and expects anything but a 200: a non-200
// status, or a close (possibly while we were still writing).
func expectRefused(t *T, connect []byte) error {
	l, err := t.DialTCP()
	if err != nil {
		return err
	}
	if err := l.WriteRaw(connect); err != nil {
		t.Notef("closed while we were sending")
		return nil
	}
	ans, err := l.ReadBlock()
	if err != nil {
		t.Notef("refused: %v", err)
		return nil
	}
	if _, code, _, err := ans.ParseStatus(); err == nil && code == 200 {
		return t.Failf("a refusal or a close", "%q", ans.StartLine)
	}
	t.Notef("refused: %q", ans.StartLine)
	return nil
}

// fill opens ultrapeer links until the target refuses one, and returns the
// refused link, how many were accepted, and the Listen-IP they announced:
// our callback listener, so that the target knows hosts it could offer.
// They offer to read a compressed stream: gtk-gnutella refuses
// uncompressed ultrapeers once it has up_connections (42) of them ("403
// Compressed connection preferred", src/core/nodes.c), before it is full.
func fill(t *T) (*link.Link, int, netip.AddrPort, error) {
	ln, err := t.Listen()
	if err != nil {
		return nil, 0, netip.AddrPort{}, err
	}
	listen := wire.HandshakeHeader{Name: "Listen-IP", Value: ln.Addr().String()}
	for n := range maxFill {
		l, err := t.Dial(link.Options{Ultrapeer: true, AcceptDeflate: true, Headers: []wire.HandshakeHeader{listen}})
		if err == nil {
			continue
		}
		if l == nil || l.Answer == nil {
			return nil, n, ln.Addr(), t.Failf("a 503 status line when full", "%v after %d connections", err, n)
		}
		return l, n, ln.Addr(), nil
	}
	return nil, maxFill, ln.Addr(), t.Skipf("the target accepted %d connections without refusing one", maxFill)
}

// routable reports whether a is an address a peer on the Internet could
// reach.
func routable(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate()
}

// refusedFailure explains a handshake that did not end in 200.
func refusedFailure(expected string, l *link.Link, err error) error {
	if l != nil && l.Answer != nil {
		return &Failure{Expected: expected, Got: fmt.Sprintf("%q", l.Answer.StartLine)}
	}
	return &Failure{Expected: expected, Got: err.Error()}
}

func headerNames(h *wire.Handshake) string {
	names := make([]string, len(h.Headers))
	for i, hd := range h.Headers {
		names[i] = hd.Name
	}
	return "[" + strings.Join(names, ", ") + "]"
}
