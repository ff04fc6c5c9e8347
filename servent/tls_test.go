package servent

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// tlsOf returns the TLS state of s's link to addr, failing the test when
// the link is plain.
func tlsOf(t *testing.T, s *Servent, addr netip.AddrPort) tls.ConnectionState {
	t.Helper()
	c := connOf(s, addr)
	require.NotNil(t, c, "a link to %s", addr)
	tc, ok := c.nc.(*tls.Conn)
	require.True(t, ok, "the link to %s runs over TLS", addr)
	return tc.ConnectionState()
}

// searchFinds fails the test unless a search from s finds name.
func searchFinds(t *testing.T, s *Servent, query, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sr, err := s.Search(ctx, query)
	require.NoError(t, err)
	res := collect(t, sr, 1, 10*time.Second)
	require.Len(t, res, 1, "search for %q", query)
	assert.Equal(t, name, res[0].Name)
}

// Two Govents upgrade their link to TLS whichever dials, with deflate
// inside TLS or without: both ends run TLS, each holds the other's
// self-signed certificate (whose subject key ID is the servent GUID, as
// gtk-gnutella makes it), deflate is as negotiated, and searches cross the
// link both ways.
func TestTLSLinkBetweenGovents(t *testing.T) {
	for _, dir := range []string{"ultrapeer dials leaf", "leaf dials ultrapeer"} {
		for _, deflate := range []bool{true, false} {
			name := dir + "/plain inside"
			if deflate {
				name = dir + "/deflate inside"
			}
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					n := memnet.New()
					node := func(addr string, mode Mode, file string) *Servent {
						cfg := memConfig(t, n, addr)
						cfg.Mode = mode
						cfg.NoDeflateOut = !deflate
						cfg.ShareDir = shareDir(t, map[string]string{file: "secret " + file})
						return startServent(t, cfg)
					}
					up := node("127.0.0.1:6346", ModeUltrapeer, "alpha song.mp3")
					leaf := node("127.0.0.2:6346", ModeLeaf, "omega song.mp3")
					if dir == "ultrapeer dials leaf" {
						require.NoError(t, up.Connect(leaf.Addr()))
					} else {
						require.NoError(t, leaf.Connect(up.Addr()))
					}
					synctest.Wait()
					dialer, dialed := leaf, up
					if dir == "ultrapeer dials leaf" {
						dialer, dialed = up, leaf
					}
					// The dialer is the TLS client and sees the dialed's
					// certificate; like gtk-gnutella, the server asks for none.
					st := tlsOf(t, dialer, dialed.Addr())
					require.Len(t, st.PeerCertificates, 1)
					cert := st.PeerCertificates[0]
					g := dialed.GUID()
					assert.Equal(t, g[:], cert.SubjectKeyId, "the certificate names the servent GUID")
					assert.Equal(t, UserAgent, cert.Subject.CommonName)
					require.NoError(t, cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature), "self-signed")
					assert.Empty(t, tlsOf(t, dialed, dialer.Addr()).PeerCertificates)
					for _, end := range []struct{ s, other *Servent }{{up, leaf}, {leaf, up}} {
						assert.True(t, tlsOf(t, end.s, end.other.Addr()).HandshakeComplete)
						c := connOf(end.s, end.other.Addr())
						assert.Equal(t, deflate, c.peer.deflateOut, "deflate out")
						assert.Equal(t, deflate, c.peer.deflateIn, "deflate in")
						peers := end.s.Peers()
						require.Len(t, peers, 1)
						assert.True(t, peers[0].TLS, "PeerInfo says TLS")
					}
					searchFinds(t, leaf, "alpha", "alpha song.mp3")
					searchFinds(t, up, "omega", "omega song.mp3")
				})
			})
		}
	}
}

// A servent that cannot do TLS leaves a plain link whichever side it is: it
// neither offers the upgrade nor answers one, and the link carries
// searches.
func TestTLSOfferToPeerWithoutTLSFallsBack(t *testing.T) {
	for _, noTLS := range []string{"dialed", "dialer"} {
		t.Run("no TLS on the "+noTLS, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := memnet.New()
				dcfg := memConfig(t, n, "127.0.0.1:6346")
				dcfg.ShareDir = shareDir(t, map[string]string{"alpha song.mp3": "a"})
				dcfg.NoTLS = noTLS == "dialed"
				dialed := startServent(t, dcfg)
				cfg := memConfig(t, n, "127.0.0.2:6346")
				cfg.NoTLS = noTLS == "dialer"
				dialer := startServent(t, cfg)
				require.NoError(t, dialer.Connect(dialed.Addr()))
				synctest.Wait()
				for _, s := range []*Servent{dialer, dialed} {
					peers := s.Peers()
					require.Len(t, peers, 1)
					assert.False(t, peers[0].TLS)
				}
				_, isTLS := connOf(dialer, dialed.Addr()).nc.(*tls.Conn)
				assert.False(t, isTLS)
				searchFinds(t, dialer, "alpha", "alpha song.mp3")
			})
		})
	}
}

// pingPong sends a Ping on a link after its handshake and reads until the
// Pong comes back.
func pingPong(t *testing.T, nc net.Conn, br *bufio.Reader) {
	t.Helper()
	writePing(t, nc)
	r := wire.NewReader(br, 1<<16)
	for {
		m, err := r.ReadMessage()
		require.NoError(t, err)
		if m.Header.Type == wire.TypePong {
			return
		}
	}
}

// acceptRaw listens on n at addr and returns the first connection to it.
func acceptRaw(t *testing.T, n *memnet.Network, addr string) <-chan net.Conn {
	t.Helper()
	ln, err := n.Listen(context.Background(), "tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	ch := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			t.Cleanup(func() { nc.Close() })
			ch <- nc
		}
		close(ch)
	}()
	return ch
}

// ourDial starts a servent on n that dials a hand-driven peer, and
// returns the servent, the peer's end, a reader on it, the servent's
// CONNECT block and where Connect's result will come.
func ourDial(t *testing.T, n *memnet.Network) (*Servent, net.Conn, *bufio.Reader, *wire.Handshake, <-chan error) {
	t.Helper()
	accepted := acceptRaw(t, n, "127.0.0.5:6346")
	s := startServent(t, memConfig(t, n, "127.0.0.1:6346"))
	errc := make(chan error, 1)
	go func() { errc <- s.Connect(netip.MustParseAddrPort("127.0.0.5:6346")) }()
	nc := <-accepted
	br := bufio.NewReader(nc)
	connect, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
	require.NoError(t, err)
	return s, nc, br, connect, errc
}

// What our dialer does with each answer to its TLS offer, seen from a
// hand-driven peer: no upgrade in the answer keeps the link plain (its
// descriptors arrive in the clear), and an upgrade to something we did not
// offer is refused with a final 400.
func TestTLSDialerAnswers(t *testing.T) {
	cases := []struct {
		name    string
		answer  string
		refused bool
	}{
		{"plain 200", "GNUTELLA/0.6 200 OK\r\nX-Ultrapeer: True\r\n\r\n", false},
		{"upgrade to something else", "GNUTELLA/0.6 200 OK\r\nX-Ultrapeer: True\r\nUpgrade: SSL/3.0\r\nConnection: Upgrade\r\n\r\n", true},
		{"Connection: Upgrade alone", "GNUTELLA/0.6 200 OK\r\nX-Ultrapeer: True\r\nConnection: Upgrade\r\n\r\n", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, nc, br, connect, errc := ourDial(t, memnet.New())
				assert.True(t, connect.HasToken("Upgrade", "TLS/1.0"), "we offer TLS: %v", connect.Values("Upgrade"))
				assert.True(t, connect.HasToken("X-Features", "tls/1.0"))
				_, err := nc.Write([]byte(tc.answer))
				require.NoError(t, err)
				final, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
				require.NoError(t, err)
				assert.False(t, final.HasToken("Connection", "Upgrade"), "we do not agree to switch")
				if tc.refused {
					assert.Equal(t, "GNUTELLA/0.6 400 Cannot Upgrade", final.StartLine)
					require.ErrorContains(t, <-errc, "an upgrade we did not offer")
					return
				}
				require.NoError(t, <-errc)
				assert.Equal(t, status200, final.StartLine)
				// The hello Ping comes in the clear.
				h, err := wire.NewReader(br, 1<<16).ReadMessage()
				require.NoError(t, err)
				assert.Equal(t, wire.TypePing, h.Header.Type)
			})
		})
	}
}

// The servent as the dialed side of the upgrade, against a hand-driven
// dialer: it answers an offer with Upgrade and Connection: Upgrade and none
// without one; a dialer that then agrees gets TLS, one that does not keeps
// plain; a servent without TLS answers no offer.
func TestTLSAcceptorAnswers(t *testing.T) {
	cases := []struct {
		name           string
		noTLS, offer   bool
		agree, wantTLS bool
	}{
		{"offer agreed", false, true, true, true},
		{"offer not taken up", false, true, false, false},
		{"no offer", false, false, false, false},
		{"offer to a servent without TLS", true, true, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := memnet.New()
				cfg := memConfig(t, n, "127.0.0.1:6346")
				cfg.NoTLS = tc.noTLS
				s := startServent(t, cfg)
				nc, err := n.DialFrom(context.Background(), netip.MustParseAddr("127.0.0.9"), "tcp", s.Addr().String())
				require.NoError(t, err)
				defer nc.Close()
				br := bufio.NewReader(nc)
				var extra []string
				if tc.offer {
					extra = append(extra, "Upgrade: TLS/1.0")
				}
				_, err = nc.Write([]byte(rawConnect(extra...)))
				require.NoError(t, err)
				ans, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
				require.NoError(t, err)
				require.Equal(t, status200, ans.StartLine)
				willTLS := tc.offer && !tc.noTLS
				assert.Equal(t, willTLS, ans.HasToken("Upgrade", "TLS/1.0"))
				assert.Equal(t, willTLS, ans.HasToken("Connection", "Upgrade"))
				assert.Equal(t, !tc.noTLS, ans.HasToken("X-Features", "tls/1.0"))
				final := "GNUTELLA/0.6 200 OK\r\n\r\n"
				if tc.agree {
					final = "GNUTELLA/0.6 200 OK\r\nConnection: Upgrade\r\n\r\n"
				}
				_, err = nc.Write([]byte(final))
				require.NoError(t, err)
				var link net.Conn = nc
				if tc.wantTLS {
					tcn := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
					require.NoError(t, tcn.Handshake())
					link, br = tcn, bufio.NewReader(tcn)
				}
				// Our Ping is answered with a Pong over whichever it is.
				pingPong(t, link, br)
				require.Len(t, s.Peers(), 1)
				assert.Equal(t, tc.wantTLS, s.Peers()[0].TLS)
			})
		})
	}
}

// The TLS handshake of an upgrade is part of the first phase: a peer that
// agrees to switch and then says nothing more is dropped when the
// handshake deadline that began with the connection ends, on either side.
func TestTLSHandshakeWithinFirstPhaseDeadline(t *testing.T) {
	t.Run("we dial", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now() // the servent starts and dials at once
			s, nc, br, _, errc := ourDial(t, memnet.New())
			_, err := nc.Write([]byte("GNUTELLA/0.6 200 OK\r\nX-Ultrapeer: True\r\nUpgrade: TLS/1.0\r\nConnection: Upgrade\r\n\r\n"))
			require.NoError(t, err)
			final, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
			require.NoError(t, err)
			require.True(t, final.HasToken("Connection", "Upgrade"))
			// Read the ClientHello and answer nothing.
			rec := make([]byte, 5)
			_, err = br.Read(rec)
			require.NoError(t, err)
			assert.Equal(t, byte(tlsRecordHandshake), rec[0], "a TLS record follows the final block")
			err = <-errc
			require.Error(t, err)
			assert.Equal(t, s.cfg.HandshakeTimeout, time.Since(start), "dropped when the first phase ends")
			assert.Empty(t, s.Peers())
		})
	})
	t.Run("we are dialled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := memnet.New()
			s := startServent(t, memConfig(t, n, "127.0.0.1:6346"))
			start := time.Now()
			nc, err := n.DialFrom(context.Background(), netip.MustParseAddr("127.0.0.9"), "tcp", s.Addr().String())
			require.NoError(t, err)
			defer nc.Close()
			br := bufio.NewReader(nc)
			_, err = nc.Write([]byte(rawConnect("Upgrade: TLS/1.0")))
			require.NoError(t, err)
			_, err = wire.ReadHandshake(br, wire.HandshakeLimits{})
			require.NoError(t, err)
			_, err = nc.Write([]byte("GNUTELLA/0.6 200 OK\r\nConnection: Upgrade\r\n\r\n"))
			require.NoError(t, err)
			// No ClientHello: the servent waits for it until the deadline.
			_, err = br.ReadByte()
			require.Error(t, err, "the servent closes")
			assert.Equal(t, s.cfg.HandshakeTimeout, time.Since(start))
			assert.Empty(t, s.Peers())
			assert.Equal(t, uint64(1), s.Stats().HandshakeFailed)
		})
	})
}

// A connection that opens with TLS, as gtk-gnutella opens them to hosts
// that said tls in X-Features, is served inside TLS: a Gnutella link (an
// Upgrade offer over it is not answered: it is TLS already) and HTTP,
// whose replies say tls/1.0 in X-Features. Without TLS the ClientHello is
// an unknown protocol.
func TestTLSFromTheFirstByte(t *testing.T) {
	dial := func(t *testing.T, n *memnet.Network, s *Servent) (*tls.Conn, *bufio.Reader) {
		nc, err := n.DialFrom(context.Background(), netip.MustParseAddr("127.0.0.9"), "tcp", s.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { nc.Close() })
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
		return tc, bufio.NewReader(tc)
	}
	t.Run("gnutella", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := memnet.New()
			s := startServent(t, memConfig(t, n, "127.0.0.1:6346"))
			tc, br := dial(t, n, s)
			_, err := tc.Write([]byte(rawConnect("Upgrade: TLS/1.0")))
			require.NoError(t, err)
			ans, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
			require.NoError(t, err)
			require.Equal(t, status200, ans.StartLine)
			assert.Empty(t, ans.Values("Upgrade"), "no upgrade over TLS")
			_, err = tc.Write([]byte("GNUTELLA/0.6 200 OK\r\n\r\n"))
			require.NoError(t, err)
			pingPong(t, tc, br)
			require.Len(t, s.Peers(), 1)
			assert.True(t, s.Peers()[0].TLS)
		})
	})
	t.Run("http", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := memnet.New()
			cfg := memConfig(t, n, "127.0.0.1:6346")
			cfg.ShareDir = shareDir(t, map[string]string{"alpha song.mp3": "alpha body"})
			s := startServent(t, cfg)
			tc, br := dial(t, n, s)
			_, err := tc.Write([]byte("GET /get/1/alpha%20song.mp3 HTTP/1.1\r\nConnection: close\r\n\r\n"))
			require.NoError(t, err)
			head, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(head.StartLine, "HTTP/1.1 200"), head.StartLine)
			assert.True(t, head.HasToken("X-Features", "tls/1.0"))
		})
	})
	t.Run("without TLS", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := memnet.New()
			cfg := memConfig(t, n, "127.0.0.1:6346")
			cfg.NoTLS = true
			s := startServent(t, cfg)
			tc, _ := dial(t, n, s)
			require.Error(t, tc.Handshake())
		})
	})
}

// The certificate and its key are made once and kept in the data
// directory (the key readable by its owner only); a pair that cannot be
// read is replaced.
func TestTLSCertificateKept(t *testing.T) {
	dir := t.TempDir()
	certOf := func() *x509.Certificate {
		cfg := testConfig(t)
		cfg.DataDir = dir
		s, err := New(cfg)
		require.NoError(t, err)
		defer s.Close() // the next restart needs the data directory
		require.NotNil(t, s.tlsConf)
		c, err := x509.ParseCertificate(s.tlsConf.Certificates[0].Certificate[0])
		require.NoError(t, err)
		g := s.GUID()
		assert.Equal(t, g[:], c.SubjectKeyId)
		return c
	}
	first := certOf()
	fi, err := os.Stat(filepath.Join(dir, TLSKeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the key is private")
	assert.Equal(t, first.Raw, certOf().Raw, "the same certificate after a restart")

	require.NoError(t, os.WriteFile(filepath.Join(dir, TLSCertFile), []byte("garbage"), 0o644))
	replaced := certOf()
	assert.NotEqual(t, first.Raw, replaced.Raw)
	assert.Equal(t, replaced.Raw, certOf().Raw, "the replacement is kept")
}
