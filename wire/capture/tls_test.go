package capture

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// The TLS captures were recorded between Govent and a live gtk-gnutella on
// loopback (testdata/tls/README.md). Without keys, what a decoder can say
// is what the record layer and the hellos show: these are the facts of
// each file, read off with tshark -V.
func TestTLSCaptures(t *testing.T) {
	type tlsWant struct {
		records, bytes int
		hello          string
	}
	type want struct {
		client, server       string
		kind                 Kind
		clientBlocks         int
		serverBlocks         int
		fromClient, fromServ tlsWant
	}
	tests := []struct {
		file     string
		sessions []want
	}{
		// Govent dials gtk-gnutella, offers the upgrade, gtk-gnutella
		// takes it; deflate inside TLS both ways.
		{"tls/upgrade-we-dial.pcap", []want{{
			client: "127.0.0.1:49332", server: "127.0.0.1:16446", kind: KindGnutella06, clientBlocks: 2, serverBlocks: 1,
			fromClient: tlsWant{11, 1915, "ClientHello"}, fromServ: tlsWant{9, 2231, "ServerHello"},
		}}},
		// gtk-gnutella dials Govent and offers; Govent takes it.
		{"tls/upgrade-gtkg-dials.pcap", []want{{
			client: "127.0.0.1:33781", server: "127.0.0.1:16449", kind: KindGnutella06, clientBlocks: 2, serverBlocks: 1,
			fromClient: tlsWant{16, 1430, "ClientHello"}, fromServ: tlsWant{36, 2220, "ServerHello"},
		}}},
		// gtk-gnutella opens TLS from the first byte to a host that said
		// tls in X-Features: a Gnutella link, then an HTTP download.
		{"tls/direct-gtkg-dials.pcap", []want{{
			client: "127.0.0.1:42527", server: "127.0.0.1:16451", kind: KindTLS,
			fromClient: tlsWant{13, 1925, "ClientHello"}, fromServ: tlsWant{25, 2242, "ServerHello"},
		}, {
			client: "127.0.0.1:51715", server: "127.0.0.1:16451", kind: KindTLS,
			fromClient: tlsWant{5, 889, "ClientHello"}, fromServ: tlsWant{10, 1293, "ServerHello"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			sessions := decodeFixture(t, tt.file)
			require.Len(t, sessions, len(tt.sessions))
			for i, w := range tt.sessions {
				s := &sessions[i]
				assert.Equal(t, addr(w.client), s.Conn.Client)
				assert.Equal(t, addr(w.server), s.Conn.Server)
				for _, fc := range []struct {
					f      *Flow
					blocks int
					want   tlsWant
				}{{&s.FromClient, w.clientBlocks, w.fromClient}, {&s.FromServer, w.serverBlocks, w.fromServ}} {
					f := fc.f
					require.NoError(t, f.Err, "neither a frame nor an inflate error")
					assert.Equal(t, w.kind, f.Kind)
					assert.Len(t, f.Blocks, fc.blocks)
					require.NotNil(t, f.TLS, "the flow is TLS")
					assert.Equal(t, fc.want.records, f.TLS.Records)
					assert.Equal(t, fc.want.bytes, f.TLS.Bytes)
					assert.Len(t, f.Wire, fc.want.bytes, "all bytes after the handshake are records")
					assert.Equal(t, fc.want.hello, f.TLS.Hello)
					assert.Equal(t, uint16(tls.VersionTLS13), f.TLS.Version)
					assert.Empty(t, f.Descriptors, "no descriptors read out of TLS")
					if w.kind == KindGnutella06 {
						assert.True(t, f.Deflate, "deflate was negotiated, inside TLS")
					}
					if fc.want.hello == "ServerHello" {
						assert.Equal(t, tls.TLS_AES_128_GCM_SHA256, f.TLS.CipherSuite)
					} else {
						assert.Contains(t, f.TLS.CipherSuites, tls.TLS_AES_128_GCM_SHA256)
					}
				}
			}
		})
	}
}

// tlsRecord is one record of content type typ around body.
func tlsRecord(typ byte, body []byte) []byte {
	return append([]byte{typ, 3, 3, byte(len(body) >> 8), byte(len(body))}, body...)
}

// serverHello12 is a TLS 1.2 ServerHello without extensions choosing suite.
func serverHello12(suite uint16) []byte {
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // no session ID
	body = binary.BigEndian.AppendUint16(body, suite)
	body = append(body, 0) // no compression
	return append([]byte{tlsServerHello, 0, byte(len(body) >> 8), byte(len(body))}, body...)
}

func TestReadTLS(t *testing.T) {
	hello := tlsRecord(tlsHandshake, serverHello12(tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256))
	app := tlsRecord(tlsApplicationData, []byte("ciphertext"))
	oversize := []byte{tlsApplicationData, 3, 3, 0x48, 0x00}
	tests := []struct {
		name           string
		in             []byte
		records, bytes int
		hello          string
		err            string
		truncated      bool
	}{
		{name: "TLS 1.2 ServerHello, no extensions", in: bytes.Join([][]byte{hello, app}, nil), records: 2, bytes: len(hello) + len(app), hello: "ServerHello"},
		{name: "no hello in the first record", in: app, records: 1, bytes: len(app)},
		{name: "record cut short", in: bytes.Join([][]byte{hello, app[:8]}, nil), records: 1, bytes: len(hello), hello: "ServerHello", truncated: true},
		{name: "header cut short", in: bytes.Join([][]byte{app, app[:3]}, nil), records: 1, bytes: len(app), truncated: true},
		{name: "plain text after records", in: bytes.Join([][]byte{app, []byte("GNUTELLA/0.6 200 OK\r\n\r\n")}, nil), records: 1, bytes: len(app), err: "no TLS record at offset 15"},
		{name: "record over the limit", in: oversize, err: "over the limit"},
		{name: "hello with a lying length", in: tlsRecord(tlsHandshake, []byte{tlsServerHello, 0, 1, 0, 3, 3}), records: 1, bytes: 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ReadTLS(tt.in)
			assert.Equal(t, tt.records, got.Records)
			assert.Equal(t, tt.bytes, got.Bytes)
			assert.Equal(t, tt.hello, got.Hello)
			switch {
			case tt.truncated:
				assert.ErrorIs(t, got.Err, wire.ErrTruncated)
			case tt.err != "":
				assert.ErrorContains(t, got.Err, tt.err)
			default:
				assert.NoError(t, got.Err)
			}
		})
	}
	got := ReadTLS(hello)
	assert.Equal(t, uint16(tls.VersionTLS12), got.Version, "the legacy version when no extension names one")
	assert.Equal(t, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, got.CipherSuite)
	assert.Equal(t, "ServerHello TLS 1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, 1 records, 47 bytes, encrypted", got.String())
}

// Only a sender that said Connection: Upgrade has TLS after its block: an
// acceptor that offered the switch to a dialer that did not take it keeps
// talking Gnutella, and its descriptors are read as such.
func TestUpgradeOfferNotTakenStaysGnutella(t *testing.T) {
	ping := descriptor(1, byte(wire.TypePing), 1, 0, 0, nil)
	var buf bytes.Buffer
	require.NoError(t, WriteConn(&buf, 40000, []Chunk{
		{ClientToServer, []byte(crlfBlock("GNUTELLA CONNECT/0.6", "Upgrade: TLS/1.0"))},
		{ServerToClient, []byte(crlfBlock("GNUTELLA/0.6 200 OK", "Upgrade: TLS/1.0", "Connection: Upgrade"))},
		{ClientToServer, []byte(crlfBlock("GNUTELLA/0.6 200 OK"))},
		{ClientToServer, ping},
		{ServerToClient, ping},
	}))
	c, err := Read(&buf, Options{})
	require.NoError(t, err)
	require.Len(t, c.Conns, 1)
	s := Split(c.Conns[0], Options{})
	for _, f := range []*Flow{&s.FromClient, &s.FromServer} {
		require.NoError(t, f.Err)
		assert.Equal(t, KindGnutella06, f.Kind)
		assert.Nil(t, f.TLS)
		assert.Equal(t, map[string]int{"PING": 1}, countLabels(t, scanAll(t, f)))
	}
}
