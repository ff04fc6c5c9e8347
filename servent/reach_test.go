package servent

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base32"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// firewalledNet is an ultrapeer at 127.0.0.1 (relaying when relay is
// set), a firewalled leaf at 127.0.0.2 without a listening port sharing
// body as "far away.bin", and a downloader at 127.0.0.3; all in virtual
// time on one in-memory network. The downloader is a leaf without a port
// too when downFirewalled is set, else an ultrapeer that listens.
type firewalledNet struct {
	n              *memnet.Network
	up, leaf, down *Servent
	downDir        string
	body           []byte
	upCfg          Config
}

func newFirewalledNet(t *testing.T, body []byte, relay, downFirewalled bool) *firewalledNet {
	t.Helper()
	return newFirewalledNetOf(t, body, downFirewalled, func(c *Config) { c.Relay = relay })
}

// newFirewalledNetWith is the relayed network, the ultrapeer's config
// changed by set.
func newFirewalledNetWith(t *testing.T, body []byte, set func(*Config)) *firewalledNet {
	t.Helper()
	return newFirewalledNetOf(t, body, true, set)
}

func newFirewalledNetOf(t *testing.T, body []byte, downFirewalled bool, set func(*Config)) *firewalledNet {
	t.Helper()
	f := &firewalledNet{n: memnet.New(), body: body, downDir: t.TempDir()}
	f.upCfg = memConfig(t, f.n, "127.0.0.1:6346")
	set(&f.upCfg)
	f.up = startServent(t, f.upCfg)
	lc := memLeafConfig(t, f.n, "127.0.0.2:6346")
	lc.NoListen = true
	lc.ShareDir = shareDir(t, map[string]string{"far away.bin": string(body)})
	f.leaf = startServent(t, lc)
	dc := memConfig(t, f.n, "127.0.0.3:6346")
	if downFirewalled {
		dc.Mode = ModeLeaf
		dc.NoListen = true
	}
	dc.DownloadDir = f.downDir
	f.down = startServent(t, dc)
	require.NoError(t, f.leaf.Connect(f.up.Addr()))
	require.NoError(t, f.down.Connect(f.up.Addr()))
	synctest.Wait()
	require.Len(t, f.up.Peers(), 2)
	return f
}

// find searches from the downloader and returns the one result.
func (f *firewalledNet) find(t *testing.T) Result {
	t.Helper()
	sr, err := f.down.Search(searchCtx(t), "far away")
	require.NoError(t, err)
	res := collect(t, sr, 1, 5*time.Second)
	require.Len(t, res, 1)
	return res[0]
}

func (f *firewalledNet) download(t *testing.T, r Result) (httpxfer.Result, error) {
	return f.down.Download(searchCtx(t), httpxfer.Request{
		Name: r.Name, Size: int64(r.Size), SHA1: r.SHA1, Sources: []httpxfer.Source{SourceOf(r)},
	})
}

func (f *firewalledNet) checkFile(t *testing.T, got httpxfer.Result) {
	t.Helper()
	data, err := os.ReadFile(got.Path)
	require.NoError(t, err)
	assert.Equal(t, sha1.Sum(f.body), sha1.Sum(data), "the file arrived intact")
}

// A firewalled leaf without a port asks its ultrapeer to be its push
// proxy (LIME/21, acknowledged with LIME/22) and lists it in its hits
// (GGEP PUSH); the downloader asks the proxy over HTTP, the proxy sends
// the Push over the leaf's link, and the file arrives on the GIV's
// connection. Nothing is routed: the ultrapeer forwards no Push.
func TestPushProxyDownload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFirewalledNet(t, randomBytes(300<<10, 14), false, false)
		assert.EqualValues(t, 1, f.up.Stats().PushProxy.Accepted, "the ultrapeer took the role")
		assert.EqualValues(t, 1, f.leaf.Stats().PushProxy.Acked, "the leaf got the ack")
		assert.Equal(t, []netip.AddrPort{f.up.Addr()}, f.leaf.ownProxies())
		assert.Zero(t, f.down.Stats().PushProxy.Accepted, "a servent that listens asks nobody")

		r := f.find(t)
		assert.True(t, r.Push)
		assert.Equal(t, []netip.AddrPort{f.up.Addr()}, r.Proxies, "the hit lists the proxy")
		synctest.Wait() // the hit's forwarding is counted
		forwarded := f.up.Stats().Forwarded
		got, err := f.download(t, r)
		require.NoError(t, err)
		f.checkFile(t, got)
		st := f.up.Stats()
		assert.EqualValues(t, 1, st.PushProxy.Sent, "one Push sent for a 202")
		assert.Equal(t, forwarded, st.Forwarded, "no Push was routed through the ultrapeer")
		assert.Zero(t, f.down.Stats().PushProxy.Failed)

		// A downloader of its own, by hand: the proxy has the leaf connect
		// to it, and the leaf's replies list its proxy (X-Push-Proxy).
		ln, err := f.n.Host(ip("127.0.0.4")).Listen(context.Background(), "tcp", "127.0.0.4:7000")
		require.NoError(t, err)
		defer ln.Close()
		b32 := base32.StdEncoding.EncodeToString(r.ServentGUID[:])
		line := proxyGet(t, f.n, f.up.Addr(), "GET /gnutella/push-proxy?ServerId="+b32+" HTTP/1.1\r\nX-Node: 127.0.0.4:7000\r\n\r\n")
		require.True(t, strings.HasPrefix(line, "HTTP/1.1 202 "), line)
		nc, err := ln.Accept()
		require.NoError(t, err)
		defer nc.Close()
		br := bufio.NewReader(nc)
		giv, err := httpxfer.ReadGIV(br)
		require.NoError(t, err)
		assert.Equal(t, f.leaf.GUID(), giv.ServentGUID)
		_, err = nc.Write([]byte("HEAD /uri-res/N2R?" + r.SHA1.String() + " HTTP/1.1\r\n\r\n"))
		require.NoError(t, err)
		head, err := wire.ReadHTTPHead(br, wire.HandshakeLimits{})
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(head.StartLine, "HTTP/1.1 200"), head.StartLine)
		pp, _ := head.Get("X-Push-Proxy")
		assert.Equal(t, f.up.Addr().String(), pp)
	})
}

// When the proxy no longer has the leaf (410), the downloader falls back
// to a Push routed along the hit's path.
func TestPushProxyGoneFallsBackToRoutedPush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFirewalledNet(t, randomBytes(100<<10, 15), false, false)
		r := f.find(t)
		require.Equal(t, []netip.AddrPort{f.up.Addr()}, r.Proxies)
		// The proxy forgets the leaf, as if it had reconnected elsewhere.
		f.up.xfer.px.mu.Lock()
		clear(f.up.xfer.px.leaves)
		f.up.xfer.px.mu.Unlock()
		synctest.Wait()
		forwarded := f.up.Stats().Forwarded
		got, err := f.download(t, r)
		require.NoError(t, err)
		f.checkFile(t, got)
		st := f.up.Stats()
		assert.EqualValues(t, 1, st.PushProxy.Gone)
		assert.Greater(t, st.Forwarded, forwarded, "the Push went the routed way")
		assert.EqualValues(t, 1, f.down.Stats().PushProxy.Failed)
	})
}

// Both sides are firewalled and have no port; their ultrapeer relays. The
// downloader gets a slot, the uploader's ordinary Push answer (connect and
// GIV) lands at the relay, and the file arrives intact through it.
func TestRelayBothFirewalled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFirewalledNet(t, randomBytes(400<<10, 16), true, true)
		r := f.find(t)
		require.True(t, r.Push)
		got, err := f.download(t, r)
		require.NoError(t, err)
		f.checkFile(t, got)
		synctest.Wait()
		st := f.up.Stats().Relay
		assert.EqualValues(t, 1, st.Granted)
		assert.EqualValues(t, 1, st.Transfers)
		assert.GreaterOrEqual(t, st.Bytes, uint64(len(f.body)), "the body went through the relay")
		assert.Zero(t, st.Active, "the slot is released")
		assert.Zero(t, st.StrayGIV+st.UnknownJoin+st.Expired)
	})
}

// Without a relaying ultrapeer, two firewalled hosts give up with a clear
// error, and the firewalled downloader's Query carries the firewalled flag.
func TestBothFirewalledWithoutRelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFirewalledNet(t, randomBytes(10<<10, 17), false, true)
		src := httpxfer.Source{Push: true, ServentGUID: f.leaf.GUID(), Name: "far away.bin"}
		_, err := f.down.xfer.DialSource(searchCtx(t), src)
		require.ErrorIs(t, err, errBothBehind)
		require.ErrorIs(t, err, errNoRelay)
		require.ErrorIs(t, err, httpxfer.ErrUnreachable, "no retry mends it")
		assert.Contains(t, err.Error(), "both firewalled")
	})
}

// rawLeafOf connects a hand-driven leaf from ip to s.
func rawLeafOf(t *testing.T, n *memnet.Network, from string, s *Servent) *rawPeer {
	t.Helper()
	p := dialRawFrom(t, n.Host(ip(from)), s.Addr())
	p.writeString(leafConnect)
	ans, err := p.readBlock()
	require.NoError(t, err)
	require.Equal(t, status200, ans.StartLine)
	p.writeString("GNUTELLA/0.6 200 OK\r\n\r\n")
	p.r = wire.NewReader(p.br, 0)
	return p
}

// askSlot sends GOVT/1 and reads the GOVT/2 that answers it.
func askSlot(t *testing.T, p *rawPeer, uploader wire.GUID) wire.RelayGrant {
	t.Helper()
	guid := wire.NewGUID()
	p.send(wire.Message{Header: wire.Header{GUID: guid, Type: wire.TypeVendor, TTL: 1}, Vendor: wire.NewRelayRequest(uploader)})
	var g wire.RelayGrant
	p.readUntil("the relay grant", func(m *wire.Message) bool {
		if m.Header.Type != wire.TypeVendor || m.Header.GUID != guid {
			return false
		}
		var err error
		g, err = wire.ParseRelayGrant(&m.Vendor)
		require.NoError(t, err)
		return true
	})
	return g
}

// The relay grants RelayMaxTransfers slots and refuses the next; slots
// that nobody uses expire after RelaySlotTimeout and free their place. It
// grants nothing to a peer that is not its leaf, nor when it does not relay.
func TestRelayCaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		cfg := memConfig(t, n, "127.0.0.1:6346")
		cfg.Relay = true
		cfg.RelayMaxTransfers = 2
		cfg.RelaySlotTimeout = 10 * time.Second // within the raw leaf's keepalive
		relay := startServent(t, cfg)
		hs := rawLeafOf(t, n, "127.0.0.5", relay)
		ans, _ := relay.ourHeaders(netip.AddrPort{}, false).Get(relayHeader)
		assert.Equal(t, "1", ans, "a relay says so in its handshake")

		up := wire.NewGUID()
		first, second := askSlot(t, hs, up), askSlot(t, hs, up)
		assert.Equal(t, wire.RelayGranted, first.Status)
		assert.Equal(t, wire.RelayGranted, second.Status)
		assert.Equal(t, relay.Addr(), first.Relay)
		assert.NotEqual(t, first.Index, second.Index, "each slot has an index of its own")
		assert.NotEqual(t, first.Token, second.Token)
		assert.Equal(t, wire.RelayFull, askSlot(t, hs, up).Status, "the third is refused")
		st := relay.Stats().Relay
		assert.EqualValues(t, 2, st.Granted)
		assert.EqualValues(t, 1, st.RefusedFull)
		assert.Equal(t, 2, st.Active)

		time.Sleep(cfg.RelaySlotTimeout + time.Second)
		synctest.Wait()
		assert.EqualValues(t, 2, relay.Stats().Relay.Expired)
		assert.Equal(t, wire.RelayGranted, askSlot(t, hs, up).Status, "expired slots free their place")

		neighbour := dialRawFrom(t, n.Host(ip("127.0.0.6")), relay.Addr())
		neighbour.handshake06()
		assert.Equal(t, wire.RelayNotLeaf, askSlot(t, neighbour, up).Status)
		assert.EqualValues(t, 1, relay.Stats().Relay.RefusedNotLeaf)

		plain := startServent(t, memConfig(t, n, "127.0.0.7:6346"))
		_, said := plain.ourHeaders(netip.AddrPort{}, false).Get(relayHeader)
		assert.False(t, said, "relaying is off by default")
		assert.Equal(t, wire.RelayOff, askSlot(t, rawLeafOf(t, n, "127.0.0.5", plain), up).Status)
	})
}

// Hostile input at the relay: GIVs that match no slot, RELAY lines with an
// unknown token, a garbled one, and a real token from another address.
// Each is closed and counted; the relay goes on serving.
func TestRelayBadInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		cfg := memConfig(t, n, "127.0.0.1:6346")
		cfg.Relay = true
		relay := startServent(t, cfg)
		leaf := rawLeafOf(t, n, "127.0.0.5", relay)
		uploader, other := guidN('u', 1), guidN('u', 2)
		g := askSlot(t, leaf, uploader)
		require.Equal(t, wire.RelayGranted, g.Status)

		send := func(from, what string) {
			p := dialRawFrom(t, n.Host(ip(from)), relay.Addr())
			p.writeString(what)
			p.expectClosed()
		}
		send("127.0.0.8", fmt.Sprintf("GIV %d:%s/file\n\n", g.Index+1, uploader)) // wrong index
		send("127.0.0.8", fmt.Sprintf("GIV %d:%s/file\n\n", g.Index, other))      // wrong GUID
		send("127.0.0.8", "RELAY "+wire.NewGUID().String()+"\r\n\r\n")            // no such token
		send("127.0.0.8", "RELAY banana\r\n\r\n")                                 // garbled
		send("127.0.0.8", "RELAY "+strings.Repeat("a", 400)+"\r\n\r\n")           // too long
		send("127.0.0.9", "RELAY "+g.Token.String()+"\r\n\r\n")                   // not the leaf's address
		st := relay.Stats().Relay
		assert.EqualValues(t, 2, st.StrayGIV)
		assert.EqualValues(t, 4, st.UnknownJoin)
		assert.Equal(t, 1, st.Active, "the slot is still there for its leaf")

		// The leaf itself still gets its transfer spliced.
		down := dialRawFrom(t, n.Host(ip("127.0.0.5")), relay.Addr())
		down.writeString("RELAY " + g.Token.String() + "\r\n\r\n")
		upc := dialRawFrom(t, n.Host(ip("127.0.0.8")), relay.Addr())
		giv := fmt.Sprintf("GIV %d:%s/file\n\n", g.Index, uploader)
		upc.writeString(giv)
		gotGIV, err := httpxfer.ReadGIV(down.br)
		require.NoError(t, err)
		assert.Equal(t, uploader, gotGIV.ServentGUID)
		down.writeString("GET /uri-res/N2R?urn:sha1:X HTTP/1.1\r\n\r\n")
		line, err := upc.br.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "GET /uri-res/N2R?urn:sha1:X HTTP/1.1\r\n", line, "bytes flow through")
		upc.nc.Close()
		_, err = io.ReadAll(down.br)
		require.NoError(t, err, "the uploader's end reaches the downloader as an end")
		synctest.Wait()
		assert.EqualValues(t, 1, relay.Stats().Relay.Transfers)
		assert.Len(t, relay.Peers(), 1, "the leaf's link survived all of it")
	})
}

// proxyGet sends one push-proxy request and returns the status line.
func proxyGet(t *testing.T, n *memnet.Network, at netip.AddrPort, request string) string {
	t.Helper()
	nc, err := n.DialFrom(context.Background(), ip("127.0.0.8"), "tcp", at.String())
	require.NoError(t, err)
	defer nc.Close()
	_, err = nc.Write([]byte(request))
	require.NoError(t, err)
	line, err := bufio.NewReader(nc).ReadString('\n')
	require.NoError(t, err)
	return strings.TrimSpace(line)
}

// The push-proxy endpoint in the forms gtk-gnutella and LimeWire send:
// 202 with a Push to the leaf for a GUID we proxy for (base32 ServerId
// padded or not, any case, file=, the hex /gnet/ form); 410 for an
// unknown GUID; 400 for malformed requests. Each is counted; nothing
// crashes; an ordinary upload request still reaches the uploader.
func TestPushProxyEndpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		up := startServent(t, memConfig(t, n, "127.0.0.1:6346"))
		leaf := rawLeafOf(t, n, "127.0.0.5", up)
		lg := guidN('L', 7)
		leaf.send(wire.Message{Header: wire.Header{GUID: lg, Type: wire.TypeVendor, TTL: 1}, Vendor: wire.NewPushProxyRequest()})
		ack := leaf.readUntil("the LIME/22", func(m *wire.Message) bool {
			return m.Header.Type == wire.TypeVendor && m.Vendor.Vendor == wire.VendorLIME && m.Vendor.Selector == wire.SelectorPushProxyAck
		})
		assert.Equal(t, lg, ack.Header.GUID, "the ack carries the leaf's GUID")

		b32 := base32.StdEncoding.EncodeToString(lg[:])
		stranger := guidN('x', 1)
		node := "X-Node: 127.0.0.3:7000\r\n"
		pushes := 0
		for _, tc := range []struct{ req, status string }{
			{"GET /gnutella/push-proxy?ServerId=" + strings.TrimRight(b32, "=") + " HTTP/1.1\r\n" + node + "\r\n", "202"},
			{"GET /gnutella/push-proxy?ServerId=" + b32 + "&file=42 HTTP/1.1\r\n" + node + "\r\n", "202"},
			{"GET /gnutella/pushproxy?ServerId=" + strings.ToLower(b32) + " HTTP/1.0\r\n" + node + "\r\n", "202"},
			{"GET /gnutella/push-proxy?ServerID=" + b32 + "&File=3 HTTP/1.1\r\n" + node + "\r\n", "202"}, // LimeWire's spelling
			{"HEAD /gnet/push-proxy?guid=" + lg.String() + " HTTP/1.1\r\n" + node + "\r\n", "202"},
			{"GET /gnutella/push-proxy?ServerId=" + base32.StdEncoding.EncodeToString(stranger[:]) + " HTTP/1.1\r\n" + node + "\r\n", "410"},
			{"GET /gnutella/push-proxy?ServerId=" + b32 + " HTTP/1.1\r\n\r\n", "400"},                                 // no X-Node
			{"GET /gnutella/push-proxy?ServerId=" + b32 + " HTTP/1.1\r\nX-Node: 0.0.0.0:0\r\n\r\n", "400"},            // useless address
			{"GET /gnutella/push-proxy?ServerId=" + b32 + " HTTP/1.1\r\nX-Node: [::1]:7000\r\n\r\n", "400"},           // no room in a Push
			{"GET /gnutella/push-proxy?ServerId=ABC HTTP/1.1\r\n" + node + "\r\n", "400"},                             // short
			{"GET /gnutella/push-proxy?ServerId=" + strings.Repeat("1", 26) + " HTTP/1.1\r\n" + node + "\r\n", "400"}, // not base32
			{"GET /gnutella/push-proxy?file=1 HTTP/1.1\r\n" + node + "\r\n", "400"},                                   // no GUID
			{"GET /gnutella/push-proxy?ServerId=%zz HTTP/1.1\r\n" + node + "\r\n", "400"},                             // bad escape
			{"GET /gnutella/push-proxy?ServerId=" + b32 + " HTTP/1.1\r\n" + strings.Repeat("X-Junk: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 200) + "\r\n", "400"},
		} {
			line := proxyGet(t, n, up.Addr(), tc.req)
			assert.True(t, strings.HasPrefix(line, "HTTP/1.1 "+tc.status+" "), "%q: got %q", tc.req, line)
			if tc.status == "202" {
				pushes++
			}
		}
		var got []wire.Push
		for len(got) < pushes {
			m := leaf.readUntil("the proxied Push", func(m *wire.Message) bool { return m.Header.Type == wire.TypePush })
			got = append(got, m.Push)
		}
		for _, p := range got {
			assert.Equal(t, lg, p.ServentGUID)
			assert.Equal(t, netip.MustParseAddrPort("127.0.0.3:7000"), p.AddrPort())
		}
		assert.EqualValues(t, 42, got[1].Index, "file= is the index")
		st := up.Stats().PushProxy
		assert.EqualValues(t, 5, st.Sent)
		assert.EqualValues(t, 1, st.Gone)
		assert.EqualValues(t, 8, st.Bad)

		// The leaf leaves: its GUID now gets 410.
		leaf.nc.Close()
		synctest.Wait()
		line := proxyGet(t, n, up.Addr(), "GET /gnutella/push-proxy?ServerId="+b32+" HTTP/1.1\r\n"+node+"\r\n")
		assert.True(t, strings.HasPrefix(line, "HTTP/1.1 410 "), line)
		// And the uploader still answers its own requests.
		line = proxyGet(t, n, up.Addr(), "GET /gnutella/other HTTP/1.1\r\n\r\n")
		assert.True(t, strings.HasPrefix(line, "HTTP/1.1 4"), line)
		assert.NotContains(t, line, "Push Proxy")
	})
}

// The relay's bandwidth cap holds a transfer to RelayKBps, in virtual
// time: 320 KiB at 4 KiB/s take 76 s (the first 16 KiB are a burst). That
// is longer than the idle limit, which only counts silence in both
// directions, so the one relayed transfer completes.
func TestRelayBandwidthCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFirewalledNetWith(t, randomBytes(320<<10, 18), func(c *Config) { c.Relay, c.RelayKBps = true, 4 })
		r := f.find(t)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		got, err := f.down.Download(ctx, httpxfer.Request{
			Name: r.Name, Size: int64(r.Size), SHA1: r.SHA1, Sources: []httpxfer.Source{SourceOf(r)},
		})
		require.NoError(t, err)
		took := time.Since(start)
		f.checkFile(t, got)
		assert.GreaterOrEqual(t, took, 75*time.Second, "faster than the cap")
		assert.Less(t, took, 80*time.Second)
		synctest.Wait()
		st := f.up.Stats().Relay
		assert.EqualValues(t, 1, st.Granted, "one slot, no retry")
		assert.EqualValues(t, 1, st.Transfers)
	})
}

// A requester gets proxyBurst Pushes sent at once and proxyRate a second
// after that (each one makes our leaf connect where it says); a link that
// sends LIME/21 under many GUIDs holds one entry, its last.
func TestPushProxyBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		up := startServent(t, memConfig(t, n, "127.0.0.1:6346"))
		leaf := rawLeafOf(t, n, "127.0.0.5", up)
		var guids []wire.GUID
		for i := range 50 {
			g := guidN('F', uint32(i))
			guids = append(guids, g)
			leaf.send(wire.Message{Header: wire.Header{GUID: g, Type: wire.TypeVendor, TTL: 1}, Vendor: wire.NewPushProxyRequest()})
		}
		synctest.Wait()
		up.xfer.px.mu.Lock()
		entries := len(up.xfer.px.leaves)
		up.xfer.px.mu.Unlock()
		assert.Equal(t, 1, entries, "one entry for the link")
		req := func(g wire.GUID) string {
			return proxyGet(t, n, up.Addr(), "GET /gnutella/push-proxy?ServerId="+base32.StdEncoding.EncodeToString(g[:])+
				" HTTP/1.1\r\nX-Node: 127.0.0.3:7000\r\n\r\n")
		}
		assert.Contains(t, req(guids[0]), " 410 ", "an earlier GUID of the link is gone")
		last := guids[len(guids)-1]
		codes := map[string]int{}
		for range proxyBurst + 5 {
			codes[strings.Fields(req(last))[1]]++
		}
		assert.Equal(t, map[string]int{"202": proxyBurst - 1, "503": 6}, codes, "the 410 took one of the burst")
		time.Sleep(3 * time.Second)
		assert.Contains(t, req(last), " 202 ", "the budget refills")
		st := up.Stats().PushProxy
		assert.EqualValues(t, 6, st.Throttled)
		assert.EqualValues(t, proxyBurst, st.Sent)
	})
}

// RelayMaxBytes cuts a relayed transfer that moves more (counted as
// Capped); the downloader's next attempt resumes where the cut left it, on
// a slot of its own.
func TestRelayByteCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFirewalledNetWith(t, randomBytes(200<<10, 19), func(c *Config) { c.Relay, c.RelayMaxBytes = true, 96<<10 })
		r := f.find(t)
		got, err := f.download(t, r)
		require.NoError(t, err)
		f.checkFile(t, got)
		synctest.Wait()
		st := f.up.Stats().Relay
		assert.GreaterOrEqual(t, st.Capped, uint64(1), "a transfer was cut")
		assert.Greater(t, st.Granted, uint64(1), "and the download went on in another slot")
		assert.LessOrEqual(t, st.Bytes, st.Granted*(96<<10), "no slot moved more than the cap")
	})
}

// When the source is gone, its proxy says 410 and the routed Push is
// answered by no GIV: the attempt fails saying both.
func TestFirewalledSourceGoneSaysWhy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFirewalledNet(t, randomBytes(10<<10, 20), false, false)
		r := f.find(t)
		require.NotEmpty(t, r.Proxies)
		f.leaf.Close()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := f.down.xfer.DialSource(ctx, SourceOf(r))
		require.Error(t, err)
		assert.ErrorIs(t, err, errProxyRefused)
		assert.ErrorIs(t, err, errGIVTimeout)
		assert.Contains(t, err.Error(), "after a routed Push")
		assert.Contains(t, err.Error(), "410 Push Proxy: Servent not connected")
		assert.Contains(t, err.Error(), "firewalled source "+f.leaf.GUID().String()+" unreachable")
		assert.NotContains(t, err.Error(), "\n", "one line, as get prints it")
	})
}

// A push proxy that is gone says so once, with its address: not "push
// proxy A: dial tcp A: connect: connection refused".
func TestFirewalledSourceProxyDownSaysWhy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFirewalledNet(t, randomBytes(10<<10, 20), false, false)
		r := f.find(t)
		require.NotEmpty(t, r.Proxies)
		f.up.Close()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := f.down.xfer.DialSource(ctx, SourceOf(r))
		require.Error(t, err)
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
		assert.Contains(t, err.Error(), "push proxy "+r.Proxies[0].String()+": connection refused")
		assert.NotContains(t, err.Error(), "dial tcp")
		assert.NotContains(t, err.Error(), "\n", "one line, as get prints it")
	})
}
