package capture

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

var update = flag.Bool("update", false, "rewrite the hand-written captures under testdata/")

// g2Packet encodes a G2 packet: children first, then (after a zero byte
// when there are children) the payload; the length little-endian in as few
// bytes as it needs.
func g2Packet(name string, payload []byte, children ...[]byte) []byte {
	body := bytes.Join(children, nil)
	if len(children) > 0 && len(payload) > 0 {
		body = append(body, 0)
	}
	body = append(body, payload...)
	lenLen := 0
	for n := len(body); n > 0; n >>= 8 {
		lenLen++
	}
	cb := byte(lenLen<<6 | (len(name)-1)<<3)
	if len(children) > 0 {
		cb |= 0x04
	}
	var lb [4]byte
	binary.LittleEndian.PutUint32(lb[:], uint32(len(body)))
	out := append([]byte{cb}, lb[:lenLen]...)
	out = append(out, name...)
	return append(out, body...)
}

// g2HandshakeChunks is a G2 connection as Shareaza opens one, written by
// hand after Shareaza's ShakeNeighbour.cpp (no G2 servent was run to
// record it): the same 0.6 handshake as Gnutella, "Accept" and
// "Content-Type: application/x-gnutella2", then G2 packets; the hub
// deflates what it sends, the leaf does not.
func g2HandshakeChunks(t *testing.T) []Chunk {
	guid := bytes.Repeat([]byte{0xab}, 16)
	na := []byte{127, 0, 0, 1, 0xca, 0x18} // 127.0.0.1:6346
	leafLNI := g2Packet("LNI", nil, g2Packet("NA", na), g2Packet("GU", guid), g2Packet("V", []byte("RAZA")))
	hubLNI := g2Packet("LNI", nil, g2Packet("NA", na), g2Packet("GU", guid), g2Packet("V", []byte("RAZA")), g2Packet("HS", []byte{3, 0, 200, 0}))
	khl := g2Packet("KHL", nil, g2Packet("TS", []byte{0, 0, 0x66, 0x5a}), g2Packet("NH", na))
	var hub bytes.Buffer
	zw := zlib.NewWriter(&hub)
	_, err := zw.Write(bytes.Join([][]byte{hubLNI, khl, g2Packet("PI", nil)}, nil))
	require.NoError(t, err)
	require.NoError(t, zw.Flush())
	return []Chunk{
		{ClientToServer, []byte(crlfBlock("GNUTELLA CONNECT/0.6",
			"Listen-IP: 127.0.0.1:40001", "Remote-IP: 127.0.0.1", "User-Agent: Shareaza 2.7.10.2",
			"Accept: application/x-gnutella2", "X-Hub: False", "X-Hub-Needed: True", "Accept-Encoding: deflate"))},
		{ServerToClient, []byte(crlfBlock("GNUTELLA/0.6 200 OK",
			"Listen-IP: 127.0.0.1:6346", "Remote-IP: 127.0.0.1", "User-Agent: Shareaza 2.7.10.2",
			"Content-Type: application/x-gnutella2", "Accept: application/x-gnutella2",
			"Accept-Encoding: deflate", "Content-Encoding: deflate", "X-Hub: True", "X-Hub-Needed: False"))},
		{ClientToServer, []byte(crlfBlock("GNUTELLA/0.6 200 OK",
			"Content-Type: application/x-gnutella2", "X-Hub: False"))},
		{ClientToServer, bytes.Join([][]byte{leafLNI, g2Packet("PI", nil)}, nil)},
		{ServerToClient, hub.Bytes()},
	}
}

const g2Capture = testdata + "g2/shareaza-handshake.pcap"

// The committed G2 capture is what g2HandshakeChunks writes (go test
// -run TestG2CaptureFile -update ./wire/capture/ rewrites it).
func TestG2CaptureFile(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteConn(&buf, 40001, g2HandshakeChunks(t)))
	if *update {
		require.NoError(t, os.WriteFile(g2Capture, buf.Bytes(), 0o644))
	}
	committed, err := os.ReadFile(g2Capture)
	require.NoError(t, err)
	assert.Equal(t, buf.Bytes(), committed, "run with -update to rewrite")
}

// A G2 connection is told by its Content-Type and its packets walked, in
// the clear and inflated: neither a descriptor frame error nor an inflate
// error.
func TestG2Capture(t *testing.T) {
	sessions := decodeFixture(t, "g2/shareaza-handshake.pcap")
	require.Len(t, sessions, 1)
	s := &sessions[0]
	tests := []struct {
		what    string
		f       *Flow
		blocks  int
		deflate bool
		names   []string
	}{
		{"leaf", &s.FromClient, 2, false, []string{"LNI", "PI"}},
		{"hub", &s.FromServer, 1, true, []string{"LNI", "KHL", "PI"}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			require.NoError(t, tt.f.Err)
			assert.Equal(t, KindGnutella2, tt.f.Kind)
			assert.Len(t, tt.f.Blocks, tt.blocks)
			assert.Equal(t, tt.deflate, tt.f.Deflate)
			assert.Empty(t, tt.f.Descriptors, "G2 packets are not descriptors")
			packets, err := G2Packets(tt.f.G2)
			require.NoError(t, err)
			var names []string
			for _, p := range packets {
				names = append(names, p.Name)
			}
			assert.Equal(t, tt.names, names)
			assert.True(t, packets[0].Compound, "/LNI has children")
			assert.False(t, packets[len(packets)-1].Compound, "/PI has none")
		})
	}
}

// A 0.6 handshake with no G2 Content-Type stays Gnutella even if it
// accepts G2: only what a side says it sends decides.
func TestG2AcceptAloneIsGnutella(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteConn(&buf, 40002, []Chunk{
		{ClientToServer, []byte(crlfBlock("GNUTELLA CONNECT/0.6", "Accept: application/x-gnutella2, application/x-gnutella-packets"))},
		{ServerToClient, []byte(crlfBlock("GNUTELLA/0.6 200 OK"))},
		{ClientToServer, []byte(crlfBlock("GNUTELLA/0.6 200 OK"))},
		{ClientToServer, descriptor(1, byte(wire.TypePing), 1, 0, 0, nil)},
	}))
	c, err := Read(&buf, Options{})
	require.NoError(t, err)
	s := Split(c.Conns[0], Options{})
	assert.Equal(t, KindGnutella06, s.FromClient.Kind)
	assert.Equal(t, map[string]int{"PING": 1}, countLabels(t, scanAll(t, &s.FromClient)))
}

func TestG2Packets(t *testing.T) {
	pi := g2Packet("PI", nil)
	q := g2Packet("Q2", []byte("payload"), g2Packet("DN", []byte("x")))
	tests := []struct {
		name  string
		in    []byte
		names []string
		err   error
	}{
		{"two packets", bytes.Join([][]byte{q, pi}, nil), []string{"Q2", "PI"}, nil},
		{"a zero control byte ends the stream", bytes.Join([][]byte{pi, {0}, q}, nil), []string{"PI"}, nil},
		{"big-endian length", []byte{0x4a, 2, 'P', 'O', 'x', 'y'}, []string{"PO"}, nil},
		{"payload cut short", q[:len(q)-1], nil, wire.ErrTruncated},
		{"header cut short", []byte{0x50, 3, 'Q'}, nil, wire.ErrTruncated},
		{"length beyond the stream", []byte{0xc8, 0xff, 0xff, 0xff, 'P', 'I'}, nil, wire.ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			packets, err := G2Packets(tt.in)
			var names []string
			for _, p := range packets {
				names = append(names, p.Name)
			}
			assert.Equal(t, tt.names, names)
			if tt.err != nil {
				assert.ErrorIs(t, err, tt.err)
			} else {
				assert.NoError(t, err)
			}
		})
	}
	packets, err := G2Packets(q)
	require.NoError(t, err)
	assert.Equal(t, []G2Packet{{Offset: 0, Name: "Q2", Length: len(q) - 4, Compound: true}}, packets)
}
