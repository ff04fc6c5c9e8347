package servent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/capture"
)

// These tests play gtk-gnutella's side of the TLS captures recorded against
// a live gtk-gnutella (testdata/tls/README.md). A TLS handshake cannot be
// replayed whole (each side's randomness and key share are fresh), so they
// replay what can be: gtk-gnutella's plain handshake blocks, byte for byte,
// and its first TLS flight where we are the server; where we are the
// client they check that what gtk-gnutella's GnuTLS chose in the recorded
// ServerHello is among what our client offers now.

// recordedTLS is the first connection of a TLS capture, split.
func recordedTLS(t *testing.T, name string) capture.Session {
	t.Helper()
	sessions, err := capture.DecodeFile(filepath.Join("..", "testdata", "tls", name), capture.Options{})
	require.NoError(t, err)
	require.NotEmpty(t, sessions)
	return sessions[0]
}

// readRecord reads one whole TLS record.
func readRecord(t *testing.T, r io.Reader) []byte {
	t.Helper()
	rec := make([]byte, 5)
	_, err := io.ReadFull(r, rec)
	require.NoError(t, err)
	body := make([]byte, binary.BigEndian.Uint16(rec[3:]))
	_, err = io.ReadFull(r, body)
	require.NoError(t, err)
	return append(rec, body...)
}

// gtk-gnutella dials us: its recorded CONNECT gets our upgrade answer, and
// after its recorded final block its recorded ClientHello (GnuTLS, 35
// suites) gets our whole first flight: a ServerHello choosing TLS 1.3 and a
// suite it offered, then encrypted records (not a HelloRetryRequest, which
// is followed by nothing until a new ClientHello).
func TestTLSRecordedGtkgDialsUs(t *testing.T) {
	gtk := recordedTLS(t, "upgrade-gtkg-dials.pcap").FromClient
	require.Len(t, gtk.Blocks, 2)
	require.NotNil(t, gtk.TLS)
	require.Equal(t, "ClientHello", gtk.TLS.Hello)
	hello := readRecord(t, bytes.NewReader(gtk.Wire))
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s := startServent(t, memConfig(t, n, "127.0.0.1:6346"))
		nc, err := n.DialFrom(context.Background(), netip.MustParseAddr("127.0.0.9"), "tcp", s.Addr().String())
		require.NoError(t, err)
		defer nc.Close()
		br := bufio.NewReader(nc)
		_, err = nc.Write(gtk.Blocks[0])
		require.NoError(t, err)
		ans, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
		require.NoError(t, err)
		require.Equal(t, status200, ans.StartLine)
		assert.True(t, ans.HasToken("Upgrade", "TLS/1.0"))
		assert.True(t, ans.HasToken("Connection", "Upgrade"))
		_, err = nc.Write(append(append([]byte{}, gtk.Blocks[1]...), hello...))
		require.NoError(t, err)
		sh := capture.ReadTLS(readRecord(t, br))
		require.NoError(t, sh.Err)
		require.Equal(t, "ServerHello", sh.Hello)
		assert.Equal(t, uint16(tls.VersionTLS13), sh.Version)
		assert.Contains(t, gtk.TLS.CipherSuites, sh.CipherSuite, "a suite gtk-gnutella offered")
		kinds := []byte{readRecord(t, br)[0], readRecord(t, br)[0]}
		assert.Contains(t, kinds, byte(23), "encrypted handshake records follow: %v", kinds)
	})
}

// We dial gtk-gnutella: its recorded 200 with Upgrade and Connection:
// Upgrade makes us agree (with deflate, which it also said) and start TLS
// as the client; the version and suite its GnuTLS chose in the recorded
// ServerHello are among those our ClientHello offers.
func TestTLSRecordedGtkgAnswersUs(t *testing.T) {
	rec := recordedTLS(t, "upgrade-we-dial.pcap")
	gtk := rec.FromServer
	require.Len(t, gtk.Blocks, 1)
	require.NotNil(t, gtk.TLS)
	require.Equal(t, "ServerHello", gtk.TLS.Hello)
	synctest.Test(t, func(t *testing.T) {
		s, nc, br, connect, errc := ourDial(t, memnet.New())
		require.True(t, connect.HasToken("Upgrade", "TLS/1.0"))
		_, err := nc.Write(gtk.Blocks[0])
		require.NoError(t, err)
		final, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
		require.NoError(t, err)
		assert.Equal(t, status200, final.StartLine)
		assert.True(t, final.HasToken("Connection", "Upgrade"), "we agree to switch")
		assert.True(t, final.HasToken("Content-Encoding", "deflate"), "and deflate inside TLS")
		ch := capture.ReadTLS(readRecord(t, br))
		require.Equal(t, "ClientHello", ch.Hello)
		assert.GreaterOrEqual(t, ch.Version, gtk.TLS.Version, "we offer the version gtk-gnutella chose")
		assert.Contains(t, ch.CipherSuites, gtk.TLS.CipherSuite, "we offer the suite gtk-gnutella chose")
		nc.Close()
		require.Error(t, <-errc)
		assert.Empty(t, s.Peers())
	})
}

// gtk-gnutella's certificate (RSA 3072, self-signed, its subject key ID
// zero) is taken by our TLS client: served with a key that is not its own,
// the handshake gets past the certificate and fails only where the server
// proves it holds the key. Our servents never check a peer's certificate
// against anything; this shows crypto/tls does not refuse gtk-gnutella's
// kind of certificate either.
func TestTLSClientTakesGtkgCertificate(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "tls", "gtkg-cert.pem"))
	require.NoError(t, err)
	blk, _ := pem.Decode(b)
	require.NotNil(t, blk)
	cert, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	require.True(t, ok, "an RSA key")
	assert.Equal(t, 3072, pub.N.BitLen())
	assert.Equal(t, "gtk-gnutella/1.2.3", cert.Subject.CommonName)
	require.NoError(t, cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature), "self-signed")

	other, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	ours := startServent(t, testConfig(t))
	require.NotNil(t, ours.tlsConf)
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	go tls.Server(c2, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{blk.Bytes}, PrivateKey: other}}}).Handshake()
	err = tls.Client(c1, ours.tlsConf).Handshake()
	require.Error(t, err)
	assert.ErrorContains(t, err, "invalid signature by the server certificate")
}
