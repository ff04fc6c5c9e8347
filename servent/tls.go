package servent

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/httpxfer/atomicfile"
	"github.com/govent/govent/wire"
)

// TLS on Gnutella links, as gtk-gnutella does it (doc/gnutella/
// gnet-TLS-upgrade; src/core/nodes.c, tls_common.c):
//
//   - The dialer offers "Upgrade: TLS/1.0" in its CONNECT. An acceptor that
//     will switch answers "Upgrade: TLS/1.0" and "Connection: Upgrade"; the
//     dialer agrees with "Connection: Upgrade" in its final 200, and right
//     after that block both run a TLS handshake (the dialer is the TLS
//     client) and the link's descriptors, deflated if negotiated, go inside
//     TLS. A peer that does not answer the offer keeps a plain link.
//   - A connection may also open with TLS straight away: gtk-gnutella does
//     so to a host that said "tls" in X-Features (downloads, and links it
//     retries after a reset). The listener tells a TLS ClientHello from
//     Gnutella, HTTP and GIV by its first byte, as gtk-gnutella's does.
//
// There is no PKI: each servent has a self-signed certificate, nobody
// verifies the other's, and TLS only keeps the link private from onlookers.
// The certificate follows gtk-gnutella's: the common name is the user agent
// and the subject key ID the servent GUID. gtk-gnutella makes an RSA key;
// ours is ECDSA P-256, which every GnuTLS "NORMAL" priority takes, and which
// is made in microseconds instead of seconds.

// tlsToken is the protocol of the upgrade, in Upgrade and in X-Features.
const (
	tlsToken   = "TLS/1.0"
	tlsFeature = "tls/1.0"
)

// Files of the certificate and its key in the data directory.
const (
	TLSCertFile = "tls-cert.pem"
	TLSKeyFile  = "tls-key.pem"
)

// tlsRecordHandshake is the first byte of a TLS ClientHello record.
const tlsRecordHandshake = 0x16

// tlsValidity is how long a new certificate is valid. Nobody checks it, but
// a peer's TLS library may refuse one that has expired.
const tlsValidity = 20 * 365 * 24 * time.Hour

// loadOrCreateCert returns the servent's certificate: the one kept in
// dataDir, or a new one, saved there when dataDir is set. A pair that
// cannot be read is replaced (a new certificate costs nothing: nobody
// pins it).
func loadOrCreateCert(dataDir string, guid wire.GUID, log *zap.Logger) (tls.Certificate, error) {
	if dataDir != "" {
		cert, err := tls.LoadX509KeyPair(filepath.Join(dataDir, TLSCertFile), filepath.Join(dataDir, TLSKeyFile))
		if err == nil {
			return cert, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			log.Warn("TLS certificate unreadable, making a new one", zap.String("dir", dataDir), zap.Error(err))
		}
	}
	certPEM, keyPEM, err := selfSignedCert(guid, time.Now())
	if err != nil {
		return tls.Certificate{}, err
	}
	if dataDir != "" {
		// The key first: a certificate without its key is useless, a key
		// without its certificate gets one at the next start.
		if err := atomicfile.WritePerm(filepath.Join(dataDir, TLSKeyFile), keyPEM, 0o600); err != nil {
			return tls.Certificate{}, fmt.Errorf("saving the TLS key: %w", err)
		}
		if err := atomicfile.Write(filepath.Join(dataDir, TLSCertFile), certPEM); err != nil {
			return tls.Certificate{}, fmt.Errorf("saving the TLS certificate: %w", err)
		}
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// selfSignedCert makes a certificate and its key, PEM-encoded.
func selfSignedCert(guid wire.GUID, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("TLS serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: UserAgent},
		SubjectKeyId:          guid[:],
		AuthorityKeyId:        guid[:],
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(tlsValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("TLS certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("TLS key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// newTLSConfig is the configuration of both ends: our certificate, and no
// verification of the peer's (there is no PKI to verify it against).
func newTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // no PKI: see the comment at the top
		MinVersion:         tls.VersionTLS12,
	}
}

// bufferedConn reads through the bufio.Reader that read the handshake, so
// that TLS records that arrived with the last plain block are not lost.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// startTLS runs a TLS handshake over nc, whose first bytes br may hold
// already: as the client when we dialled, else as the server. The
// deadline on nc, the first phase's, bounds it, as ctx does. It returns
// the TLS connection and a reader over it.
func (s *Servent) startTLS(ctx context.Context, nc net.Conn, br *bufio.Reader, client bool) (*tls.Conn, *bufio.Reader, error) {
	bc := &bufferedConn{Conn: nc, r: br}
	var tc *tls.Conn
	if client {
		tc = tls.Client(bc, s.tlsConf)
	} else {
		tc = tls.Server(bc, s.tlsConf)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, bufio.NewReaderSize(tc, readBufferSize), nil
}

// isTLS reports whether nc already runs over TLS.
func isTLS(nc net.Conn) bool {
	_, ok := nc.(*tls.Conn)
	return ok
}
