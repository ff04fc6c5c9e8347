package servent

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base32"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// firstBytes records, per address dialled, the first byte the servent
// wrote on each connection: 0x16 opens a TLS handshake, 'G' a plain GET,
// GIV or GNUTELLA CONNECT. It is how these tests see whether a transfer
// really ran over TLS.
type firstBytes struct {
	Network
	mu sync.Mutex
	by map[string][]byte
}

func recordFirstBytes(n Network) *firstBytes { return &firstBytes{Network: n, by: map[string][]byte{}} }

func (f *firstBytes) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := f.Network.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &firstByteConn{Conn: nc, f: f, addr: addr}, nil
}

// to returns the first bytes of the connections to addr, in order.
func (f *firstBytes) to(addr netip.AddrPort) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]byte(nil), f.by[addr.String()]...)
}

type firstByteConn struct {
	net.Conn
	f    *firstBytes
	addr string
	once sync.Once
}

func (c *firstByteConn) Write(p []byte) (int, error) {
	if len(p) > 0 {
		c.once.Do(func() {
			c.f.mu.Lock()
			c.f.by[c.addr] = append(c.f.by[c.addr], p[0])
			c.f.mu.Unlock()
		})
	}
	return c.Conn.Write(p)
}

const tlsFirst = 0x16 // a TLS handshake record

// tlsTransfer is an uploader sharing one file and a downloader whose dials
// are recorded, both TLS-capable unless the test says otherwise.
type tlsTransfer struct {
	body       []byte
	up, down   *Servent
	downDials  *firstBytes
	upDials    *firstBytes
	uploadName string
}

func newTLSTransfer(t *testing.T, size int, upCfg, downCfg func(*Config)) *tlsTransfer {
	tt := &tlsTransfer{body: randomBytes(size, 41), uploadName: "sealed letter.bin"}
	cfgU := testConfig(t)
	cfgU.ShareDir = shareDir(t, map[string]string{tt.uploadName: string(tt.body)})
	tt.upDials = recordFirstBytes(cfgU.Network)
	cfgU.Network = tt.upDials
	if upCfg != nil {
		upCfg(&cfgU)
	}
	tt.up = startServent(t, cfgU)
	cfgD := testConfig(t)
	cfgD.DownloadDir = t.TempDir()
	tt.downDials = recordFirstBytes(cfgD.Network)
	cfgD.Network = tt.downDials
	if downCfg != nil {
		downCfg(&cfgD)
	}
	tt.down = startServent(t, cfgD)
	return tt
}

// download fetches the file from src and checks it arrived intact.
func (tt *tlsTransfer) download(t *testing.T, src httpxfer.Source) {
	t.Helper()
	f, ok := tt.up.lib.ByIndex(src.Index)
	require.True(t, ok)
	got, err := tt.down.Download(searchCtx(t), httpxfer.Request{Name: f.Name, Size: f.Size, SHA1: f.SHA1, Sources: []httpxfer.Source{src}})
	require.NoError(t, err)
	data, err := os.ReadFile(got.Path)
	require.NoError(t, err)
	require.Equal(t, sha1.Sum(tt.body), sha1.Sum(data), "the file arrived intact")
	require.NoError(t, os.Remove(got.Path))
}

// find links both to a middle servent and returns the downloader's one
// search result, the uploader's file.
func (tt *tlsTransfer) find(t *testing.T) Result {
	t.Helper()
	middle := startServent(t, testConfig(t))
	require.NoError(t, tt.up.Connect(middle.Addr()))
	require.NoError(t, tt.down.Connect(middle.Addr()))
	waitFor(t, "middle has both", func() bool { return len(middle.Peers()) == 2 })
	sr, err := tt.down.Search(searchCtx(t), "sealed letter")
	require.NoError(t, err)
	res := collect(t, sr, 1, 5*time.Second)
	require.Len(t, res, 1)
	return res[0]
}

// source is the uploader's file as a direct source.
func (tt *tlsTransfer) source(t *testing.T) httpxfer.Source {
	t.Helper()
	files := tt.up.lib.Search("sealed", 1)
	require.Len(t, files, 1)
	return httpxfer.Source{Addr: tt.up.Addr(), Index: files[0].Index, Name: files[0].Name}
}

// A hit from a TLS-capable Govent carries GGEP "TLS"; the download from it
// then runs over TLS from the first byte, on every connection.
func TestTLSDownloadFromHit(t *testing.T) {
	vtest(t, func(t *testing.T) {
		tt := newTLSTransfer(t, 300<<10, nil, nil)
		r := tt.find(t)
		require.True(t, r.TLS, "the hit says its servent takes TLS")
		assert.True(t, tt.down.xfer.tlsHosts.Known(tt.up.Addr()), "and the TLS cache learnt it")
		tt.download(t, SourceOf(r))
		first := tt.downDials.to(tt.up.Addr())
		require.NotEmpty(t, first)
		assert.Equal(t, bytes.Repeat([]byte{tlsFirst}, len(first)), first, "every connection to the source opened with TLS")
	})
}

// A source not known to take TLS is dialled plain; its reply's X-Features
// "tls/1.0" teaches the downloader, whose next connection opens with TLS.
func TestTLSLearnedFromXFeatures(t *testing.T) {
	vtest(t, func(t *testing.T) {
		tt := newTLSTransfer(t, 20<<10, nil, nil)
		src := tt.source(t)
		tt.download(t, src)
		assert.Equal(t, []byte{'G'}, tt.downDials.to(tt.up.Addr()), "unknown: plain")
		assert.True(t, tt.down.xfer.tlsHosts.Known(tt.up.Addr()))
		tt.download(t, src)
		assert.Equal(t, []byte{'G', tlsFirst}, tt.downDials.to(tt.up.Addr()), "known: TLS")
	})
}

// A source said to take TLS that does not (a Govent with NoTLS): the TLS
// handshake fails, the same connection attempt falls back to plain, the
// file arrives, and the source is dialled plain from then on.
func TestTLSDownloadFallsBackToPlain(t *testing.T) {
	vtest(t, func(t *testing.T) {
		tt := newTLSTransfer(t, 20<<10, func(c *Config) { c.NoTLS = true }, nil)
		src := tt.source(t)
		src.TLS = true // the user's word, or a hit that lied
		tt.download(t, src)
		assert.Equal(t, []byte{tlsFirst, 'G'}, tt.downDials.to(tt.up.Addr()), "TLS tried once, then plain")
		assert.False(t, tt.down.xfer.tlsHosts.WantTLS(tt.up.Addr(), true), "the refusal is remembered")
		tt.download(t, src)
		assert.Equal(t, []byte{tlsFirst, 'G', 'G'}, tt.downDials.to(tt.up.Addr()), "no second TLS attempt")
	})
}

// With NoTLS the downloader dials plain even a source that says it takes
// TLS, and its hits and Pushes do not offer TLS.
func TestNoTLSDownloadsPlain(t *testing.T) {
	vtest(t, func(t *testing.T) {
		tt := newTLSTransfer(t, 20<<10, nil, func(c *Config) { c.NoTLS = true })
		src := tt.source(t)
		src.TLS = true
		tt.down.xfer.tlsHosts.Add(src.Addr)
		tt.download(t, src)
		assert.Equal(t, []byte{'G'}, tt.downDials.to(tt.up.Addr()))
	})
}

// A firewalled uploader gets our routed Push with GGEP "TLS" and sends its
// GIV over TLS, as gtk-gnutella does for a Push carrying it; without TLS
// on the downloader the Push carries none and the GIV comes plain.
func TestTLSGIVForPush(t *testing.T) {
	for _, downTLS := range []bool{true, false} {
		vtest(t, func(t *testing.T) {
			tt := newTLSTransfer(t, 50<<10, func(c *Config) { c.NoListen = true }, func(c *Config) { c.NoTLS = !downTLS })
			r := tt.find(t)
			require.True(t, r.Push)
			tt.download(t, SourceOf(r))
			want := []byte{'G'}
			if downTLS {
				want = []byte{tlsFirst}
			}
			assert.Equal(t, want, tt.upDials.to(tt.down.Addr()), "the GIV connection, downloader TLS %v", downTLS)
		})
	}
}

// A push proxy passes the requester's wish for TLS on in the Push, as
// gtk-gnutella's does: "tls=true" in the request, or "tls" in its
// X-Features; otherwise the Push carries no GGEP TLS.
func TestPushProxyPassesTLS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		up := startServent(t, memConfig(t, n, "127.0.0.1:6346"))
		leaf := rawLeafOf(t, n, "127.0.0.5", up)
		lg := guidN('L', 8)
		leaf.send(wire.Message{Header: wire.Header{GUID: lg, Type: wire.TypeVendor, TTL: 1}, Vendor: wire.NewPushProxyRequest()})
		leaf.readUntil("the LIME/22", func(m *wire.Message) bool {
			return m.Header.Type == wire.TypeVendor && m.Vendor.Selector == wire.SelectorPushProxyAck
		})
		target := "GET /gnutella/push-proxy?ServerId=" + base32.StdEncoding.EncodeToString(lg[:])
		for _, tc := range []struct {
			req string
			tls bool
		}{
			{target + " HTTP/1.1\r\nX-Node: 127.0.0.3:7000\r\n\r\n", false},
			{target + "&tls=true HTTP/1.1\r\nX-Node: 127.0.0.3:7000\r\n\r\n", true},
			{target + "&tls=false HTTP/1.1\r\nX-Node: 127.0.0.3:7000\r\n\r\n", false},
			{target + " HTTP/1.1\r\nX-Node: 127.0.0.3:7000\r\nX-Features: tls/1.0, browse/1.0\r\n\r\n", true},
		} {
			line := proxyGet(t, n, up.Addr(), tc.req)
			require.True(t, strings.HasPrefix(line, "HTTP/1.1 202 "), line)
			m := leaf.readUntil("the proxied Push", func(m *wire.Message) bool { return m.Header.Type == wire.TypePush })
			assert.Equal(t, tc.tls, hasTLS(&m.Push.GGEP), "%q", tc.req)
		}
	})
}

// A neighbour whose handshake says "tls/1.0" in X-Features is known to
// take TLS at its listening address (Node), with no Pong saying so; one
// whose X-Features does not list it is not.
func TestTLSLearnedFromLinkHandshake(t *testing.T) {
	vtest(t, func(t *testing.T) {
		s := startServent(t, testConfig(t))
		withTLS := netip.MustParseAddrPort("127.0.0.9:6346")
		without := netip.MustParseAddrPort("127.0.0.10:6346")
		dialRaw(t, s.Addr()).handshake06("Node: "+withTLS.String(), "X-Features: browse/1.0, tls/1.0")
		dialRaw(t, s.Addr()).handshake06("Node: "+without.String(), "X-Features: browse/1.0")
		waitFor(t, "both links", func() bool { return len(s.Peers()) == 2 })
		assert.True(t, s.xfer.tlsHosts.Known(withTLS))
		assert.False(t, s.xfer.tlsHosts.Known(without))
	})
}

// TestTLSHostsKeptAcrossRestart: a servent that learnt that a source takes
// TLS, stopped and started again on the same data directory, dials the
// source with TLS from its first connection; started again more than
// httpxfer.TLSHostsTTL (12 h) after the last word about the source, it has
// forgotten it and dials plain.
func TestTLSHostsKeptAcrossRestart(t *testing.T) {
	vtest(t, func(t *testing.T) {
		data := t.TempDir()
		tt := newTLSTransfer(t, 20<<10, nil, func(c *Config) { c.DataDir = data })
		src := tt.source(t)
		tt.download(t, src)
		require.Equal(t, []byte{'G'}, tt.downDials.to(tt.up.Addr()), "unknown: plain")
		require.True(t, tt.down.xfer.tlsHosts.Known(tt.up.Addr()), "learnt from X-Features")
		require.NoError(t, tt.down.Close())
		assert.FileExists(t, filepath.Join(data, TLSHostsFile))

		restart := func() {
			cfg := testConfig(t)
			cfg.DataDir, cfg.DownloadDir, cfg.Network = data, t.TempDir(), tt.downDials
			tt.down = startServent(t, cfg)
		}
		restart()
		tt.download(t, src)
		assert.Equal(t, []byte{'G', tlsFirst}, tt.downDials.to(tt.up.Addr()), "known from the last run: TLS at once")
		require.NoError(t, tt.down.Close())

		time.Sleep(httpxfer.TLSHostsTTL + time.Second)
		restart()
		assert.False(t, tt.down.xfer.tlsHosts.Known(tt.up.Addr()), "older than 12 h: forgotten")
		tt.download(t, src)
		assert.Equal(t, []byte{'G', tlsFirst, 'G'}, tt.downDials.to(tt.up.Addr()), "forgotten: plain")
	})
}
