package conform

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
)

// fake is a deliberately small ultrapeer built on wire (and httpxfer's
// uploader, router's QRP tables), not on servent: it does what the specs
// ask, unless a switch makes it get one thing wrong. The suite must then
// fail exactly the cases about that thing.
type fake struct {
	sw        faults
	ln        net.Listener
	guid      wire.GUID
	file      httpxfer.File
	table     *router.QueryRouteTable // of the one shared file
	tableMsgs []wire.QRP              // the table as a RESET and PATCHes
	up        *httpxfer.Uploader
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu         sync.Mutex
	peers      map[*fakePeer]bool
	queries    map[wire.GUID]*fakePeer // Query routes, and Query duplicates
	pushes     map[wire.GUID]bool      // Push duplicates
	pushRoutes map[wire.GUID]*fakePeer // servent GUID -> link its QueryHit came by
	conns      map[netip.Addr]int      // connections seen from each address
	// links counts the links each address holds, and nlinks all of them,
	// from our 200 until the link is dropped: as in gtk-gnutella, where a
	// node counts from its handshake on, a client that dials again right
	// after sending its final 200 meets the limits whether or not we have
	// read that 200 yet.
	links  map[netip.Addr]int
	nlinks int
}

// faults are the fake's switches, each a departure from the specs.
type faults struct {
	forwardDuplicates bool // forwards a Query or Push it has seen before
	keepTTL           bool // forwards without decrementing the TTL
	newPongGUID       bool // answers a Ping with a Pong under a new GUID
	hitsEverywhere    bool // routes a QueryHit to every link
	ignoreQRP         bool // forwards every Query to leaves and last-hop ultrapeers

	// Per-address limits, not faults: deployed servents have them, and
	// the suite must neither trip them nor blame the target for them.
	banRepeat  bool // as gtk-gnutella's ban.c: the 3rd connection from an address gets 429, later ones silence
	onePerAddr bool // as gtk-gnutella's nodes.c: a 2nd Gnutella link from an address gets 409
}

// fakeBanAfter is how many connections an address may open when
// banRepeat is set.
const fakeBanAfter = 2

// fakeMaxPeers is how many links the fake takes before it says 503.
const fakeMaxPeers = 6

// fakeFileName is the fake's one shared file; URL-encoding leaves it as
// it is (so http/11 does not apply).
const fakeFileName = "penny-lane.mp3"

type fakePeer struct {
	nc        net.Conn
	out       chan []byte // nil ends the link
	closeOnce sync.Once
	leaf      bool
	upQRP     bool
	listen    netip.AddrPort
	from      netip.Addr // the address whose link count it holds; invalid once given back
	lastPing  time.Time
	recv      *router.QRTReceiver
	table     *router.QueryRouteTable
}

func startFake(t *testing.T, sw faults) *fake {
	t.Helper()
	dir := t.TempDir()
	body := bytes.Repeat([]byte("fake penny lane\n"), 64)
	path := filepath.Join(dir, fakeFileName)
	require.NoError(t, os.WriteFile(path, body, 0o644))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fake{sw: sw, ln: ln, guid: wire.NewGUID(),
		file:  httpxfer.File{Index: 1, Name: fakeFileName, Size: int64(len(body)), SHA1: sha1.Sum(body), Path: path},
		peers: map[*fakePeer]bool{}, queries: map[wire.GUID]*fakePeer{}, pushes: map[wire.GUID]bool{},
		pushRoutes: map[wire.GUID]*fakePeer{}, conns: map[netip.Addr]int{}, links: map[netip.Addr]int{}}
	f.table, err = router.BuildQRT([]string{fakeFileName}, nil, qrpBits)
	require.NoError(t, err)
	f.tableMsgs, err = router.PatchMessages(nil, f.table, 4, true, 4096)
	require.NoError(t, err)
	f.up = httpxfer.NewUploader(httpxfer.UploaderConfig{Library: fakeLibrary{f}, Server: "Fake/1"})
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.stop)
	return f
}

func (f *fake) addr() string { return f.ln.Addr().String() }

func (f *fake) stop() {
	f.cancel()
	f.ln.Close()
	f.mu.Lock()
	for p := range f.peers {
		p.nc.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// fakeLibrary shows the uploader the one file.
type fakeLibrary struct{ f *fake }

func (l fakeLibrary) ByIndex(i uint32) (httpxfer.File, bool) { return l.f.file, i == l.f.file.Index }
func (l fakeLibrary) BySHA1(d wire.SHA1) (httpxfer.File, bool) {
	return l.f.file, d == l.f.file.SHA1
}
func (fakeLibrary) Tree(wire.TTH) (*thex.Tree, bool) { return nil, false }

func (f *fake) accept() {
	defer f.wg.Done()
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			br := bufio.NewReader(nc)
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			first, err := br.Peek(4)
			http := string(first) == "GET " || string(first) == "HEAD"
			n := f.seen(nc)
			switch {
			case err != nil:
				nc.Close()
			case f.sw.banRepeat && n == fakeBanAfter+1:
				f.refuseBanned(nc, http)
			case f.sw.banRepeat && n > fakeBanAfter+1:
				// Banned: hold the connection and say nothing.
				_ = nc.SetReadDeadline(time.Time{})
				_, _ = io.Copy(io.Discard, br)
				nc.Close()
			case http:
				_ = nc.SetReadDeadline(time.Time{})
				_ = f.up.ServeConn(f.ctx, nc, br)
			default:
				f.handshake(nc, br)
			}
		}()
	}
}

// seen counts a connection from nc's address and returns the count.
func (f *fake) seen(nc net.Conn) int {
	a := nc.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns[a]++
	return f.conns[a]
}

// refuseBanned answers as gtk-gnutella does the connection that gets an
// address banned, and closes.
func (f *fake) refuseBanned(nc net.Conn, http bool) {
	if http {
		_, _ = io.WriteString(nc, "HTTP/1.1 429 Banned for 5m 0s\r\nRetry-After: 300\r\nContent-Length: 0\r\n\r\n")
	} else {
		_, _ = io.WriteString(nc, "GNUTELLA/0.6 429 Banned for 5m 0s\r\nUser-Agent: Fake/1\r\n\r\n")
	}
	nc.Close()
}

// addrs returns how many addresses connected, and the most connections
// one of them opened.
func (f *fake) addrs() (n, most int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		most = max(most, c)
	}
	return len(f.conns), most
}

// handshake answers a 0.6 CONNECT (or a later version) as an ultrapeer;
// anything else is closed.
func (f *fake) handshake(nc net.Conn, br *bufio.Reader) {
	hello, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
	ver, ok := "", false
	if err == nil {
		ver, ok = hello.IsConnect()
	}
	if !ok || ver == "0.4" {
		nc.Close()
		return
	}
	p := &fakePeer{nc: nc, out: make(chan []byte, 256)}
	up, _ := hello.Get("X-Ultrapeer")
	p.leaf = strings.EqualFold(strings.TrimSpace(up), "false")
	_, p.upQRP = hello.Get("X-Ultrapeer-Query-Routing")
	if v, ok := hello.Get("Listen-IP"); ok {
		p.listen, _ = netip.ParseAddrPort(strings.TrimSpace(v))
	}
	from := nc.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
	f.mu.Lock()
	full := f.nlinks >= fakeMaxPeers
	already := f.links[from] > 0
	var try []netip.AddrPort
	for q := range f.peers {
		if q.listen.IsValid() {
			try = append(try, q.listen)
		}
	}
	if !full && !already {
		f.links[from]++
		f.nlinks++
		p.from = from
	}
	f.mu.Unlock()
	if f.sw.onePerAddr && already {
		_, _ = nc.Write((&wire.Handshake{StartLine: wire.StatusLine06(409, "Already connected")}).Append(nil))
		nc.Close()
		return
	}
	if full {
		h := &wire.Handshake{StartLine: wire.StatusLine06(503, "Full")}
		if len(try) > 0 {
			h.Add("X-Try-Ultrapeers", wire.FormatAddrList(try))
		}
		_, _ = nc.Write(h.Append(nil))
		nc.Close()
		return
	}
	ans := &wire.Handshake{StartLine: wire.StatusLine06(200, "OK")}
	for _, hd := range [][2]string{{"User-Agent", "Fake/1"}, {"X-Ultrapeer", "True"}, {"X-Query-Routing", "0.2"},
		{"X-Ultrapeer-Query-Routing", "0.1"}, {"Bye-Packet", "0.1"}, {"Vendor-Message", "0.2"}, {"GUID", f.guid.String()}} {
		ans.Add(hd[0], hd[1])
	}
	if _, err := nc.Write(ans.Append(nil)); err != nil {
		f.unlink(p)
		nc.Close()
		return
	}
	final, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
	if err != nil {
		f.unlink(p)
		nc.Close()
		return
	}
	if _, code, _, err := final.ParseStatus(); err != nil || code != 200 {
		f.unlink(p)
		nc.Close()
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	f.mu.Lock()
	f.peers[p] = true
	f.mu.Unlock()
	f.wg.Add(1)
	go f.writeLoop(p)
	if _, ok := hello.Get("Vendor-Message"); ok {
		ms, _ := wire.NewMessagesSupported(nil)
		f.send(p, &wire.Message{Header: wire.Header{Type: wire.TypeVendor, TTL: 1}, Vendor: ms})
	}
	if p.upQRP && !p.leaf {
		for i := range f.tableMsgs {
			f.send(p, &wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeQRP, TTL: 1}, QRP: f.tableMsgs[i]})
		}
	}
	f.readLoop(p, br)
}

// writeLoop writes what is queued for p; a nil entry ends the link: a
// half-close, so that the peer reads everything first, then the close.
func (f *fake) writeLoop(p *fakePeer) {
	defer f.wg.Done()
	for b := range p.out {
		if b == nil {
			if tc, ok := p.nc.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			time.AfterFunc(100*time.Millisecond, func() { p.nc.Close() })
			return
		}
		if _, err := p.nc.Write(b); err != nil {
			p.nc.Close()
			return
		}
	}
}

// send queues m for p, dropping it when p's queue is full.
func (f *fake) send(p *fakePeer, m *wire.Message) {
	b, err := m.Append(nil)
	if err != nil {
		return
	}
	select {
	case p.out <- b:
	default:
	}
}

// sendRaw queues an encoded descriptor with a new header.
func (f *fake) sendRaw(p *fakePeer, h wire.Header, payload []byte) {
	h.Length = uint32(len(payload))
	select {
	case p.out <- append(h.Append(nil), payload...):
	default:
	}
}

// bye says Bye (long form, TTL 1) as the last thing on the link.
func (f *fake) bye(p *fakePeer, code uint16, reason string) {
	f.send(p, &wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeBye, TTL: 1},
		Bye: wire.NewBye(code, reason, "Server: Fake/1")})
	f.drop(p)
}

// unlink gives back the link count p holds.
func (f *fake) unlink(p *fakePeer) {
	f.mu.Lock()
	f.unlinkLocked(p)
	f.mu.Unlock()
}

func (f *fake) unlinkLocked(p *fakePeer) {
	if !p.from.IsValid() {
		return
	}
	if f.links[p.from]--; f.links[p.from] <= 0 {
		delete(f.links, p.from)
	}
	f.nlinks--
	p.from = netip.Addr{}
}

// drop forgets p and ends its link after what is queued.
func (f *fake) drop(p *fakePeer) {
	p.closeOnce.Do(func() {
		f.mu.Lock()
		delete(f.peers, p)
		for g, q := range f.queries {
			if q == p {
				delete(f.queries, g)
			}
		}
		f.unlinkLocked(p)
		f.mu.Unlock()
		select {
		case p.out <- nil:
		default:
			p.nc.Close()
		}
	})
}

func (f *fake) readLoop(p *fakePeer, br *bufio.Reader) {
	defer f.drop(p)
	r := wire.NewReader(br, wire.DefaultMaxPayload)
	for {
		m, err := r.ReadMessage()
		if m == nil {
			if errors.Is(err, wire.ErrFrame) {
				f.bye(p, wire.ByeTooBig, "Too Large")
			}
			return
		}
		if err != nil {
			continue // a malformed payload: dropped
		}
		switch m.Header.Type {
		case wire.TypeBye:
			return
		case wire.TypePing:
			f.ping(p, m)
		case wire.TypeQuery:
			f.query(p, m)
		case wire.TypeQueryHit:
			f.queryHit(p, m)
		case wire.TypePush:
			f.push(p, m)
		case wire.TypeQRP:
			if err := f.qrp(p, m); err != nil {
				f.bye(p, 413, "Bad QRP Table")
				return
			}
		}
		// Pongs, vendor messages and unknown types are dropped.
	}
}

func (f *fake) ping(p *fakePeer, m *wire.Message) {
	h := m.Header
	if h.TTL == 0 && h.Hops == 0 {
		return
	}
	alive := h.TTL == 1 && h.Hops <= 1
	if !alive && time.Since(p.lastPing) < time.Second {
		return
	}
	if !alive {
		p.lastPing = time.Now()
	}
	g := h.GUID
	if f.sw.newPongGUID {
		g = wire.NewGUID()
	}
	ap := netip.MustParseAddrPort(f.addr())
	f.send(p, &wire.Message{Header: wire.Header{GUID: g, Type: wire.TypePong, TTL: h.Hops + 1},
		Pong: wire.Pong{Port: ap.Port(), Addr: ap.Addr(), Files: 1, KB: 1}})
}

// hop returns the TTL a descriptor leaves with, and whether it may go on.
func (f *fake) hop(ttl uint8) (uint8, bool) {
	if f.sw.keepTTL {
		return ttl, ttl > 0
	}
	if ttl == 0 {
		return 0, false
	}
	return ttl - 1, ttl > 1
}

func (f *fake) query(from *fakePeer, m *wire.Message) {
	h := m.Header
	if h.TTL == 0 && h.Hops == 0 || int(h.TTL)+int(h.Hops) > 15 {
		return
	}
	f.mu.Lock()
	_, dup := f.queries[h.GUID]
	if !dup {
		f.queries[h.GUID] = from
	}
	f.mu.Unlock()
	if dup && !f.sw.forwardDuplicates {
		return
	}
	f.answer(from, m)
	ttl := h.TTL
	if int(ttl)+int(h.Hops) > 7 {
		ttl = 7 - min(h.Hops, 7)
	}
	out, onward := f.hop(ttl)
	fwd := wire.Header{GUID: h.GUID, Type: h.Type, TTL: out, Hops: h.Hops + 1}
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := range f.peers {
		if p == from {
			continue
		}
		var match bool
		if p.leaf {
			// Leaves get matching Queries whatever the TTL left.
			match = f.sw.ignoreQRP || p.table != nil && p.table.MatchQuery(&m.Query)
		} else {
			// Ultrapeers while the TTL lasts; on the last hop only on a
			// table match when they sent one.
			match = onward && (out != 1 || p.table == nil || f.sw.ignoreQRP || p.table.MatchQuery(&m.Query))
		}
		if match {
			f.sendRaw(p, fwd, m.Payload)
		}
	}
}

// answer sends a QueryHit when the Query names the shared file: every word
// of the criteria (words of one letter do not count) is a word of its
// name, or its urn:sha1 is asked for.
func (f *fake) answer(from *fakePeer, m *wire.Message) {
	q := &m.Query
	match := false
	if d, ok := q.Ext.SHA1(); ok {
		match = d == f.file.SHA1
	} else {
		words := keywords(string(q.Criteria))
		names := keywords(f.file.Name)
		match = len(words) > 0
		for _, w := range words {
			match = match && len(w) > 1 && slices.Contains(names, w)
		}
	}
	if !match {
		return
	}
	ap := netip.MustParseAddrPort(f.addr())
	qh := wire.QueryHit{Port: ap.Port(), Addr: ap.Addr(), Speed: 100,
		Results: []wire.Result{{Index: f.file.Index, Size: uint32(f.file.Size), Name: []byte(f.file.Name),
			Ext: wire.ExtArea{Blocks: []wire.ExtBlock{wire.NewSHA1Block(f.file.SHA1)}, Terminated: true}}},
		HasQHD: true, QHD: wire.QHD{Vendor: [4]byte{'F', 'A', 'K', 'E'}}, ServentGUID: f.guid}
	qh.QHD.SetPush(false)
	qh.QHD.SetBusy(false)
	qh.QHD.SetGGEPFlag(false)
	f.send(from, &wire.Message{Header: wire.Header{GUID: m.Header.GUID, Type: wire.TypeQueryHit, TTL: m.Header.Hops + 1}, QueryHit: qh})
}

func (f *fake) queryHit(from *fakePeer, m *wire.Message) {
	h := m.Header
	out, onward := f.hop(h.TTL)
	f.mu.Lock()
	defer f.mu.Unlock()
	back, ok := f.queries[h.GUID]
	if !ok {
		return
	}
	f.pushRoutes[m.QueryHit.ServentGUID] = from
	if !onward {
		return
	}
	fwd := wire.Header{GUID: h.GUID, Type: h.Type, TTL: out, Hops: h.Hops + 1}
	for p := range f.peers {
		if p != from && (p == back || f.sw.hitsEverywhere) {
			f.sendRaw(p, fwd, m.Payload)
		}
	}
}

func (f *fake) push(from *fakePeer, m *wire.Message) {
	h := m.Header
	f.mu.Lock()
	dup := f.pushes[h.GUID]
	f.pushes[h.GUID] = true
	to := f.pushRoutes[m.Push.ServentGUID]
	f.mu.Unlock()
	if dup && !f.sw.forwardDuplicates {
		return
	}
	if m.Push.ServentGUID == f.guid {
		f.wg.Add(1)
		go f.giv(m.Push)
		return
	}
	out, onward := f.hop(h.TTL)
	if to == nil || to == from || !onward {
		return
	}
	f.sendRaw(to, wire.Header{GUID: h.GUID, Type: h.Type, TTL: out, Hops: h.Hops + 1}, m.Payload)
}

// giv answers a Push for us: connect back, GIV, serve what is asked.
func (f *fake) giv(p wire.Push) {
	defer f.wg.Done()
	nc, err := net.DialTimeout("tcp", p.AddrPort().String(), 2*time.Second)
	if err != nil {
		return
	}
	if _, err := fmt.Fprintf(nc, "GIV %d:%s/%s\n\n", p.Index, f.guid, f.file.Name); err != nil {
		nc.Close()
		return
	}
	_ = f.up.ServeConn(f.ctx, nc, nil)
}

func (f *fake) qrp(p *fakePeer, m *wire.Message) error {
	if p.recv == nil {
		p.recv = router.NewQRTReceiver(0)
	}
	t, err := p.recv.Handle(&m.QRP)
	if err != nil {
		return err
	}
	if t != nil {
		f.mu.Lock()
		p.table = t
		f.mu.Unlock()
	}
	return nil
}
