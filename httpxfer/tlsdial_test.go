package httpxfer

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testCert is a self-signed certificate, as every servent has.
func testCert(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsSource serves an Uploader on loopback as a servent's port does: a
// connection that opens with a TLS record gets TLS (when tls is on),
// anything else is served plain (when plain is on), else closed. It counts
// what it saw.
type tlsSource struct {
	addr               netip.AddrPort
	tlsDone, plainDone atomic.Int32 // connections served each way
	tlsRefused         atomic.Int32 // TLS ClientHellos closed unanswered
}

func startTLSSource(t testing.TB, lib Library, features string, withTLS, plain bool) *tlsSource {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	src := &tlsSource{addr: netip.MustParseAddrPort(ln.Addr().String())}
	conf := &tls.Config{Certificates: []tls.Certificate{testCert(t)}}
	up := NewUploader(UploaderConfig{Library: lib, Features: features})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(conn)
				first, err := br.Peek(1)
				if err != nil {
					return
				}
				switch {
				case first[0] == 0x16 && withTLS:
					tc := tls.Server(&peekedConn{Conn: conn, r: br}, conf)
					if tc.HandshakeContext(ctx) != nil {
						return
					}
					src.tlsDone.Add(1)
					_ = conn.SetDeadline(time.Time{})
					_ = up.ServeConn(ctx, tc, bufio.NewReader(tc))
				case first[0] == 0x16:
					src.tlsRefused.Add(1)
				case plain:
					src.plainDone.Add(1)
					_ = conn.SetDeadline(time.Time{})
					_ = up.ServeConn(ctx, conn, br)
				}
			})
		}
	})
	return src
}

// peekedConn reads through the reader that peeked at the first byte.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// tlsGet downloads f from src with d, and checks it arrived.
func tlsGet(t *testing.T, d NetDialer, hosts *TLSHosts, src Source, f File, data []byte) {
	t.Helper()
	dir := t.TempDir()
	cfg := DownloaderConfig{Dir: dir, Dialer: d, TLSHosts: hosts, Wait: (&waitRecorder{}).wait}
	res, err := NewDownloader(cfg).Download(context.Background(), Request{Name: f.Name, Size: f.Size, SHA1: f.SHA1, Sources: []Source{src}})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, f.Name)
}

func tlsTestFile(t *testing.T) (*memLibrary, File, []byte) {
	lib := &memLibrary{}
	f, data := shareFile(t, t.TempDir(), 3, "secret.ogg", 200000)
	lib.add(f)
	return lib, f, data
}

// A source that only speaks TLS, named as taking TLS, is downloaded from
// over TLS, and is remembered as taking it.
func TestNetDialerTLSSource(t *testing.T) {
	lib, f, data := tlsTestFile(t)
	srv := startTLSSource(t, lib, "tls/1.0", true, false)
	hosts := NewTLSHosts()
	tlsGet(t, NetDialer{TLS: NewClientTLSConfig(), Hosts: hosts}, hosts, Source{Addr: srv.addr, TLS: true}, f, data)
	assert.Positive(t, srv.tlsDone.Load(), "served over TLS")
	assert.True(t, hosts.Known(srv.addr))
}

// A source dialled plain that says "tls/1.0" in X-Features is dialled with
// TLS the next time.
func TestNetDialerLearnsTLSFromXFeatures(t *testing.T) {
	lib, f, data := tlsTestFile(t)
	srv := startTLSSource(t, lib, "tls/1.0", true, true)
	hosts := NewTLSHosts()
	d := NetDialer{TLS: NewClientTLSConfig(), Hosts: hosts}
	tlsGet(t, d, hosts, Source{Addr: srv.addr}, f, data)
	assert.Zero(t, srv.tlsDone.Load(), "not known to take TLS: plain")
	assert.True(t, hosts.Known(srv.addr), "its X-Features taught us")
	tlsGet(t, d, hosts, Source{Addr: srv.addr}, f, data)
	assert.Positive(t, srv.tlsDone.Load(), "known: TLS")

	// A source that does not say so is not learnt.
	srv2 := startTLSSource(t, lib, "", true, true)
	tlsGet(t, d, hosts, Source{Addr: srv2.addr}, f, data)
	assert.False(t, hosts.Known(srv2.addr))
	assert.Zero(t, srv2.tlsDone.Load())
}

// A source said to take TLS that does not: the handshake fails, the same
// dial falls back to plain, and the source is dialled plain from then on.
// Without a TLS configuration (--no-tls) nothing tries TLS.
func TestNetDialerFallsBackToPlain(t *testing.T) {
	lib, f, data := tlsTestFile(t)
	srv := startTLSSource(t, lib, "", false, true)
	hosts := NewTLSHosts()
	d := NetDialer{TLS: NewClientTLSConfig(), Hosts: hosts}
	tlsGet(t, d, hosts, Source{Addr: srv.addr, TLS: true}, f, data)
	assert.EqualValues(t, 1, srv.tlsRefused.Load(), "one TLS attempt")
	assert.Positive(t, srv.plainDone.Load(), "then plain")
	assert.False(t, hosts.WantTLS(srv.addr, true), "the refusal is remembered")
	tlsGet(t, d, hosts, Source{Addr: srv.addr, TLS: true}, f, data)
	assert.EqualValues(t, 1, srv.tlsRefused.Load(), "no second attempt")

	plainOnly := startTLSSource(t, lib, "", false, true)
	tlsGet(t, NetDialer{}, nil, Source{Addr: plainOnly.addr, TLS: true}, f, data)
	assert.Zero(t, plainOnly.tlsRefused.Load(), "no TLS configuration: plain only")

	// A source that only speaks TLS cannot be reached without it.
	tlsOnly := startTLSSource(t, lib, "", true, false)
	dir := t.TempDir()
	_, err := NewDownloader(DownloaderConfig{Dir: dir, Dialer: NetDialer{}, MaxFailures: 1, Wait: (&waitRecorder{}).wait}).
		Download(context.Background(), Request{Name: f.Name, Size: f.Size, SHA1: f.SHA1, Sources: []Source{{Addr: tlsOnly.addr, TLS: true}}})
	assert.Error(t, err)
	assert.Zero(t, tlsOnly.tlsDone.Load())
}

// The TLS cache forgets a host TLSHostsTTL after its last word, and a
// host that says it takes TLS again after a refusal is tried again.
func TestTLSHostsExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := NewTLSHosts()
		a := netip.MustParseAddrPort("192.0.2.1:6346")
		h.Add(netip.MustParseAddrPort("[::ffff:192.0.2.1]:6346"))
		assert.True(t, h.Known(a), "an IPv4-mapped address is the same host")
		time.Sleep(TLSHostsTTL - time.Second)
		assert.True(t, h.Known(a))
		time.Sleep(2 * time.Second)
		assert.False(t, h.Known(a), "expired")

		h.Refuse(a)
		assert.False(t, h.WantTLS(a, true))
		h.Add(a)
		assert.True(t, h.WantTLS(a, false))
		time.Sleep(TLSHostsTTL + time.Second)
		assert.True(t, h.WantTLS(a, true), "forgotten: the claim counts again")
		assert.False(t, h.WantTLS(a, false))

		var none *TLSHosts
		none.Add(a)
		assert.False(t, none.Known(a))
		assert.True(t, none.WantTLS(a, true))
	})
}

// BenchmarkTransferTLS moves one file (256 MiB; GOVENT_BENCH_BYTES
// overrides) over loopback from our Uploader to our Downloader, plain and
// over TLS in the same run, and reports both rates and tls/plain.
func BenchmarkTransferTLS(b *testing.B) {
	size := benchBytes(b, 256<<20)
	path := filepath.Join(b.TempDir(), "big.bin")
	d := writeRandomFile(b, path, size)
	lib := &memLibrary{}
	lib.add(File{Index: 1, Name: "big.bin", Size: size, SHA1: d, Path: path})
	srv := startTLSSource(b, lib, "", true, true)
	dialer := NetDialer{TLS: NewClientTLSConfig()}
	b.ReportAllocs()
	b.SetBytes(size)
	var plain, overTLS time.Duration
	for b.Loop() {
		for _, useTLS := range []bool{false, true} {
			dir := b.TempDir()
			start := time.Now()
			res, err := NewDownloader(DownloaderConfig{Dir: dir, Dialer: dialer}).Download(context.Background(), Request{
				Name: "big.bin", Size: size, SHA1: d, Sources: []Source{{Addr: srv.addr, TLS: useTLS}},
			})
			took := time.Since(start)
			require.NoError(b, err)
			require.NoError(b, os.Remove(res.Path))
			if useTLS {
				overTLS += took
			} else {
				plain += took
			}
		}
	}
	require.Positive(b, srv.tlsDone.Load())
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(plain), "plain-MB/s")
	b.ReportMetric(mbps(overTLS), "tls-MB/s")
	b.ReportMetric(mbps(overTLS)/mbps(plain), "tls/plain")
}

// An upload over TLS to a client that reads steadily but slowly (8 KiB/s,
// above MinUploadRate) runs to the end. A TLS connection cannot go on
// writing after a write deadline cut a write (crypto/tls), so the
// uploader must not judge the reader's rate by cutting TLS writes. One
// that stops reading still loses its slot.
func TestUploadOverTLSToSlowReader(t *testing.T) {
	lib := &memLibrary{}
	f, data := shareFile(t, t.TempDir(), 1, "big.bin", 300<<10)
	lib.add(f)
	cert := testCert(t)
	for _, stopAt := range []int{len(data), 64 << 10} {
		synctest.Test(t, func(t *testing.T) {
			u := NewUploader(UploaderConfig{Library: lib}) // 4 KiB/s over 30 s
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			client, server := net.Pipe()
			defer client.Close()
			remote := net.TCPAddrFromAddrPort(netip.MustParseAddrPort("10.0.0.1:1"))
			served := make(chan error, 1)
			ts := tls.Server(addrConn{server, remote}, &tls.Config{Certificates: []tls.Certificate{cert}})
			go func() { served <- u.ServeConn(ctx, ts, nil) }()
			tc := tls.Client(client, NewClientTLSConfig())
			c := &pipeClient{conn: tc, br: bufio.NewReader(tc), served: served}
			resp := c.get(t, "/get/1/big.bin", "")
			require.Equal(t, 200, resp.StatusCode)
			var got []byte
			buf := make([]byte, 4<<10)
			for len(got) < stopAt {
				n, err := resp.Body.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
				time.Sleep(500 * time.Millisecond) // 8 KiB/s
			}
			if stopAt == len(data) {
				assert.Equal(t, data, got, "the whole body arrived")
				tc.Close()
				cancel()
				<-served
				return
			}
			start := time.Now()
			err := <-served // the client reads no more
			assert.ErrorIs(t, err, ErrSlowReader)
			assert.LessOrEqual(t, time.Since(start), 37500*time.Millisecond, "within SlowUploadTime and a quarter")
			assert.Zero(t, u.ActiveUploads(), "slot freed")
		})
	}
}
