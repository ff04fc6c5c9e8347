package capture

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

const testdata = "../../testdata/"

// crlfBlock joins README header lines into a 0.6 handshake block.
func crlfBlock(lines ...string) string {
	return strings.Join(lines, "\r\n") + "\r\n\r\n"
}

// label names a descriptor the way the fixture README's tables do.
func label(t *testing.T, d Descriptor) string {
	t.Helper()
	h, p := d.Layer.Header, d.Layer.Payload()
	switch h.Type {
	case wire.TypeQRP:
		require.NotEmpty(t, p, "QRP descriptor without variant byte")
		switch p[0] {
		case 0:
			return "QRP RESET"
		case 1:
			return "QRP PATCH"
		}
		return fmt.Sprintf("QRP %d", p[0])
	case wire.TypeVendor:
		require.GreaterOrEqual(t, len(p), 8, "vendor descriptor too short")
		vendor := string(p[:4])
		if vendor == "\x00\x00\x00\x00" {
			vendor = "0000"
		}
		return fmt.Sprintf("VENDOR %s/%d", vendor, binary.LittleEndian.Uint16(p[4:6]))
	}
	return h.Type.String()
}

// scanAll returns the flow's descriptors and fails on a broken stream.
func scanAll(t *testing.T, f *Flow) []Descriptor {
	t.Helper()
	var ds []Descriptor
	s := f.Scanner()
	for s.Scan() {
		ds = append(ds, s.Descriptor())
	}
	require.NoError(t, s.Err())
	return ds
}

func countLabels(t *testing.T, ds []Descriptor) map[string]int {
	m := map[string]int{}
	for _, d := range ds {
		m[label(t, d)]++
	}
	return m
}

func decodeFixture(t *testing.T, name string) []Session {
	t.Helper()
	sessions, err := DecodeFile(testdata+name, Options{})
	require.NoError(t, err)
	return sessions
}

func addr(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// The facts below are the fixture README's, written out by hand.

type flowWant struct {
	kind    Kind
	blocks  []int // lengths of the handshake blocks
	deflate bool
	wire    int // bytes after the handshake, as sent
	counts  map[string]int
}

type sessionWant struct {
	client, server string
	fromClient     flowWant
	fromServer     flowWant
}

func TestFixtureGnutellaSessions(t *testing.T) {
	tests := []struct {
		file     string
		sessions []sessionWant
	}{
		{"leaf-deflate.pcap", []sessionWant{{
			client: "127.0.0.1:45872", server: "127.0.0.1:6350",
			fromClient: flowWant{kind: KindGnutella06, blocks: []int{-1, 50}, deflate: true, wire: 253, counts: map[string]int{
				"PING": 1, "QUERY": 2, "QRP RESET": 1, "QRP PATCH": 1, "BYE": 1}},
			fromServer: flowWant{kind: KindGnutella06, blocks: []int{572}, deflate: true, wire: 521, counts: map[string]int{
				"PONG": 1, "QUERYHIT": 2, "VENDOR 0000/0": 1, "VENDOR 0000/10": 1}},
		}}},
		{"ultrapeer-plain.pcap", []sessionWant{{
			client: "127.0.0.1:34608", server: "127.0.0.1:6350",
			fromClient: flowWant{kind: KindGnutella06, blocks: []int{-1, 23}, wire: 276, counts: map[string]int{
				"PING": 2, "QUERY": 5}},
			fromServer: flowWant{kind: KindGnutella06, blocks: []int{545}, wire: 1322, counts: map[string]int{
				"PING": 1, "PONG": 1, "QUERYHIT": 4, "QRP RESET": 1, "QRP PATCH": 1, "VENDOR 0000/0": 1, "VENDOR 0000/10": 1}},
		}}},
		{"outbound.pcap", []sessionWant{{
			client: "127.0.0.1:35379", server: "127.0.0.1:6999",
			fromClient: flowWant{kind: KindGnutella06, blocks: []int{617, 23}, wire: -1, counts: map[string]int{
				"QRP RESET": 1, "QRP PATCH": 1, "PING": 2, "VENDOR 0000/0": 1, "VENDOR 0000/10": 1}},
			fromServer: flowWant{kind: KindGnutella06, blocks: []int{-1}, wire: -1, counts: map[string]int{"PONG": 1}},
		}}},
		{"handshake-04-refused.pcap", []sessionWant{{
			client: "127.0.0.1:38620", server: "127.0.0.1:6350",
			fromClient: flowWant{kind: KindGnutella04, blocks: []int{22}, wire: 0, counts: map[string]int{}},
			fromServer: flowWant{kind: KindNone, wire: 0, counts: map[string]int{}},
		}}},
		{"push-giv.pcap", []sessionWant{{
			client: "127.0.0.1:49246", server: "127.0.0.1:6350",
			fromClient: flowWant{kind: KindGnutella06, blocks: []int{-1, 23}, wire: -1, counts: map[string]int{
				"QUERY": 1, "PUSH": 1}},
			fromServer: flowWant{kind: KindGnutella06, blocks: []int{545}, wire: -1, counts: map[string]int{
				"QRP RESET": 1, "QRP PATCH": 1, "VENDOR 0000/0": 1, "VENDOR 0000/10": 1,
				"VENDOR BEAR/7": 1, "VENDOR LIME/21": 1, "QUERYHIT": 1}},
		}, {
			client: "127.0.0.1:54247", server: "127.0.0.1:7000",
			fromClient: flowWant{kind: KindGIV, blocks: []int{45}, wire: -1},
			fromServer: flowWant{kind: KindHTTP, wire: -1},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			sessions := decodeFixture(t, tt.file)
			require.Len(t, sessions, len(tt.sessions), "TCP connections")
			for i, want := range tt.sessions {
				s := &sessions[i]
				assert.Equal(t, addr(want.client), s.Conn.Client, "client")
				assert.Equal(t, addr(want.server), s.Conn.Server, "server")
				assert.True(t, s.Conn.SYN, "SYN seen")
				assert.True(t, s.Conn.Closed(), "connection closed in the capture")
				checkFlow(t, "from client", &s.FromClient, want.fromClient, addr(want.client), addr(want.server))
				checkFlow(t, "from server", &s.FromServer, want.fromServer, addr(want.server), addr(want.client))
			}
		})
	}
}

func checkFlow(t *testing.T, what string, f *Flow, want flowWant, from, to netip.AddrPort) {
	t.Helper()
	require.NoError(t, f.Err, what)
	assert.Equal(t, from, f.From, what)
	assert.Equal(t, to, f.To, what)
	assert.Equal(t, want.kind, f.Kind, what)
	require.Len(t, f.Blocks, len(want.blocks), "%s: blocks", what)
	for i, n := range want.blocks {
		if n >= 0 {
			assert.Len(t, f.Blocks[i], n, "%s: block %d", what, i)
		}
	}
	assert.Equal(t, want.deflate, f.Deflate, "%s: deflate", what)
	if want.wire >= 0 {
		assert.Len(t, f.Wire, want.wire, "%s: wire bytes after the handshake", what)
	}
	if want.counts != nil {
		assert.Equal(t, want.counts, countLabels(t, scanAll(t, f)), "%s: descriptors", what)
	}
}

func TestLeafDeflateHandshakeAndSequence(t *testing.T) {
	sessions := decodeFixture(t, "leaf-deflate.pcap")
	require.Len(t, sessions, 1)
	s := sessions[0]

	require.Len(t, s.FromClient.Blocks, 2)
	assert.Equal(t, crlfBlock(
		"GNUTELLA CONNECT/0.6",
		"User-Agent: GoFixtureProbe/0.1",
		"X-Ultrapeer: False",
		"X-Query-Routing: 0.2",
		"Vendor-Message: 0.2",
		"GGEP: 0.5",
		"Bye-Packet: 0.1",
		"Pong-Caching: 0.1",
		"Accept-Encoding: deflate",
	), string(s.FromClient.Blocks[0]))
	assert.Equal(t, crlfBlock("GNUTELLA/0.6 200 OK", "Content-Encoding: deflate"), string(s.FromClient.Blocks[1]))

	require.Len(t, s.FromServer.Blocks, 1)
	assert.Equal(t, crlfBlock(
		"GNUTELLA/0.6 200 OK",
		"User-Agent: gtk-gnutella/1.2.3-dirty (2024-03-03; Topless; Linux x86_64)",
		"Pong-Caching: 0.1",
		"Bye-Packet: 0.1",
		"GGEP: 0.5",
		"GUID: 48c831020b29cc9f54ca85f81b70fef8",
		"Vendor-Message: 0.2",
		"Remote-IP: 127.0.0.1",
		"X-Ultrapeer: True",
		"X-Requeries: False",
		"Accept-Encoding: deflate",
		"Content-Encoding: deflate",
		"X-Ultrapeer-Needed: True",
		"X-Query-Routing: 0.2",
		"X-Ultrapeer-Query-Routing: 0.1",
		"X-Degree: 46",
		"X-Max-TTL: 4",
		"X-Dynamic-Querying: 0.1",
		"X-Ext-Probes: 0.1",
		"X-Live-Since: Sun, 22 Nov 2026 03:48:24 +0000",
		"X-Features: tls/1.0, browse/1.0, sflag/0.1, HSEP/0.2",
	), string(s.FromServer.Blocks[0]))

	// The zlib headers the README names: 68 81 from gtk-gnutella, 78 9c from
	// the probe.
	assert.Equal(t, []byte{0x68, 0x81}, s.FromServer.Wire[:2])
	assert.Equal(t, []byte{0x78, 0x9c}, s.FromClient.Wire[:2])

	probe := scanAll(t, &s.FromClient)
	gtkg := scanAll(t, &s.FromServer)
	type step struct {
		label string
		ttl   uint8
		hops  uint8
		len   uint32
		guid  string
	}
	wantProbe := []step{
		{"PING", 1, 0, 0, "3e15e4d8ff83a34effa0de67115fe600"},
		{"QUERY", 1, 0, 8, "5b4ffd864ba419b7ffb30b68cde5ba00"},
		{"QUERY", 1, 0, 13, "d6769677df4efc68ff80fd46f151ca00"},
		{"QRP RESET", 1, 0, 6, ""},
		{"QRP PATCH", 1, 0, 66, ""},
		{"BYE", 1, 0, 21, ""},
	}
	wantGtkg := []step{
		{"VENDOR 0000/0", 1, 0, 226, "00000000000000000000000000000000"},
		{"VENDOR 0000/10", 1, 0, 46, "00000000000000000000000000000000"},
		{"PONG", 1, 0, 41, "3e15e4d8ff83a34effa0de67115fe600"},
		{"QUERYHIT", 6, 0, 171, "5b4ffd864ba419b7ffb30b68cde5ba00"},
		{"QUERYHIT", 6, 0, 177, "d6769677df4efc68ff80fd46f151ca00"},
	}
	for _, c := range []struct {
		name string
		got  []Descriptor
		want []step
	}{{"probe", probe, wantProbe}, {"gtkg", gtkg, wantGtkg}} {
		require.Len(t, c.got, len(c.want), c.name)
		for i, w := range c.want {
			h := c.got[i].Layer.Header
			assert.Equal(t, w.label, label(t, c.got[i]), "%s #%d", c.name, i)
			assert.Equal(t, w.ttl, h.TTL, "%s #%d ttl", c.name, i)
			assert.Equal(t, w.hops, h.Hops, "%s #%d hops", c.name, i)
			assert.Equal(t, w.len, h.Length, "%s #%d length", c.name, i)
			assert.Len(t, c.got[i].Layer.Payload(), int(w.len), "%s #%d payload", c.name, i)
			if w.guid != "" {
				assert.Equal(t, w.guid, h.GUID.String(), "%s #%d guid", c.name, i)
			}
		}
	}
	// The Bye: code 200 little-endian, then the reason and its NUL.
	assert.Equal(t, append([]byte{200, 0}, "Closing, test done\x00"...), probe[5].Layer.Payload())
	// The QUERY payload: flags 0x8000 big-endian, "penny", NUL.
	assert.Equal(t, []byte("\x80\x00penny\x00"), probe[1].Layer.Payload())

	// Timing from the README: both vendor messages arrive in one flush 0.49 s
	// after the probe's final 200; the PONG answers the PING within a
	// millisecond.
	final200 := s.Conn.FromClient.Timeline.At(len(s.FromClient.Blocks[0]))
	require.False(t, final200.IsZero())
	assert.Equal(t, gtkg[0].Time, gtkg[1].Time, "one flush holds both vendor messages")
	assert.InDelta(t, 0.49, gtkg[0].Time.Sub(final200).Seconds(), 0.02)
	assert.InDelta(t, 0, gtkg[2].Time.Sub(probe[0].Time).Seconds(), 0.001)
	for i := 1; i < len(probe); i++ {
		assert.False(t, probe[i].Time.Before(probe[i-1].Time), "probe descriptors in time order")
	}
}

func TestUltrapeerPlainTiming(t *testing.T) {
	sessions := decodeFixture(t, "ultrapeer-plain.pcap")
	require.Len(t, sessions, 1)
	s := sessions[0]
	gtkg := scanAll(t, &s.FromServer)
	require.NotEmpty(t, gtkg)
	// f33: gtk-gnutella's own PING (TTL 4, GGEP SCP) 11.9 s into the capture.
	last := gtkg[len(gtkg)-1]
	assert.Equal(t, "PING", label(t, last))
	assert.Equal(t, uint8(4), last.Layer.Header.TTL)
	assert.Equal(t, "a3be310231aec586ff0ed06b7b6de103", last.Layer.Header.GUID.String())
	assert.InDelta(t, 11.9, last.Time.Sub(s.Conn.Start).Seconds(), 0.1)
	// Offsets follow one another: each descriptor starts where the last ended.
	off := 0
	for _, d := range gtkg {
		assert.Equal(t, off, d.Offset)
		off += d.Layer.Len()
	}
	assert.Equal(t, len(s.FromServer.Descriptors), off)
}

func TestOutboundConnectBlock(t *testing.T) {
	sessions := decodeFixture(t, "outbound.pcap")
	require.Len(t, sessions, 1)
	s := sessions[0]
	require.NotEmpty(t, s.FromClient.Blocks)
	assert.Equal(t, crlfBlock(
		"GNUTELLA CONNECT/0.6",
		"Node: 127.0.0.1:6350",
		"Remote-IP: 127.0.0.1",
		"User-Agent: gtk-gnutella/1.2.3-dirty (2024-03-03; Topless; Linux x86_64)",
		"Pong-Caching: 0.1",
		"Bye-Packet: 0.1",
		"GGEP: 0.5",
		"GUID: 48c831020b29cc9f54ca85f81b70fef8",
		"Vendor-Message: 0.2",
		"X-Query-Routing: 0.2",
		"X-Requeries: False",
		"Upgrade: TLS/1.0",
		"Accept-Encoding: deflate",
		"X-Token: awJmcJSmBPWxovB6YzcV5LqA0d0kRy9CRMRt; XrPBBT4v",
		"X-Live-Since: Sun, 22 Nov 2026 03:49:58 +0000",
		"X-Ultrapeer: True",
		"X-Ultrapeer-Query-Routing: 0.1",
		"X-Degree: 46",
		"X-Max-TTL: 4",
		"X-Dynamic-Querying: 0.1",
		"X-Ext-Probes: 0.1",
		"X-Features: tls/1.0, browse/1.0, sflag/0.1, HSEP/0.2",
	), string(s.FromClient.Blocks[0]))
	assert.Equal(t, crlfBlock("GNUTELLA/0.6 200 OK"), string(s.FromClient.Blocks[1]))
	// f10: the probe's PONG, 14 bytes: port 6999, 127.0.0.1, no files.
	probe := scanAll(t, &s.FromServer)
	require.Len(t, probe, 1)
	assert.Equal(t, "7cdb3102e28803a6ff1fe410305ca703", probe[0].Layer.Header.GUID.String())
	assert.Equal(t, []byte{0x57, 0x1b, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, probe[0].Layer.Payload())
}

func TestHandshake04Refused(t *testing.T) {
	sessions := decodeFixture(t, "handshake-04-refused.pcap")
	require.Len(t, sessions, 1)
	s := sessions[0]
	require.Len(t, s.FromClient.Blocks, 1)
	assert.Equal(t, "GNUTELLA CONNECT/0.4\n\n", string(s.FromClient.Blocks[0]))
	assert.Empty(t, s.Conn.FromServer.Data, "no reply bytes")
	assert.True(t, s.Conn.FromServer.FIN, "gtk-gnutella closes with FIN")
	assert.False(t, s.Conn.FromServer.RST, "and no RST")
}

func TestPushGIV(t *testing.T) {
	sessions := decodeFixture(t, "push-giv.pcap")
	require.Len(t, sessions, 2)
	giv := sessions[1]
	require.Len(t, giv.FromClient.Blocks, 1)
	assert.Equal(t, "GIV 2:48c831020b29cc9f54ca85f81b70fef8/file\n\n", string(giv.FromClient.Blocks[0]))

	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(giv.FromServer.HTTP)))
	require.NoError(t, err)
	assert.Equal(t, "GET", req.Method)
	assert.Equal(t, "/get/2/penny%20lane.mp3", req.RequestURI)
	assert.Equal(t, "127.0.0.1:6350", req.Host)

	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(giv.FromClient.HTTP)), req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "48c831020b29cc9f54ca85f81b70fef8; 6350:127.0.0.1", resp.Header.Get("X-FW-Node-Info"))
	assert.Equal(t, "ae350b9fea1ca49d4171e949ce9e6213cc010bae", sha1Hex(body))

	// The PUSH on the first connection names the servent, file 2, and
	// 127.0.0.1:7000.
	var push *Descriptor
	for _, d := range scanAll(t, &sessions[0].FromClient) {
		if d.Layer.Header.Type == wire.TypePush {
			push = &d
		}
	}
	require.NotNil(t, push)
	want, err := hex.DecodeString("48c831020b29cc9f54ca85f81b70fef8" + "02000000" + "7f000001" + "581b")
	require.NoError(t, err)
	assert.Equal(t, want, push.Layer.Payload())
	// The GIV connection opens right after the PUSH arrived.
	assert.InDelta(t, 0, giv.Conn.Start.Sub(push.Time).Seconds(), 0.01)
}

func sha1Hex(b []byte) string {
	sum := sha1.Sum(b)
	return hex.EncodeToString(sum[:])
}

func TestHTTPFixture(t *testing.T) {
	type exchange struct {
		method, uri, rangeHdr string
		status                int
		bodyLen               int
		contentRange          string
	}
	// The README's table, one row per request.
	conns := []struct {
		port      uint16
		exchanges []exchange
	}{
		{40730, []exchange{
			{"GET", "/get/2/penny%20lane.mp3", "bytes=0-99", 206, 100, "bytes 0-99/102400"},
			{"HEAD", "/uri-res/N2R?urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O", "", 200, 0, ""},
			{"GET", "/get/2/penny%20lane.mp3", "bytes=200000-200099", 206, 1, "bytes 102399-102399/102400"},
		}},
		{40736, []exchange{{"GET", "/get/2/penny%20lane.mp3", "", 200, 102400, ""}}},
		{40752, []exchange{{"GET", "/uri-res/N2R?urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O", "", 200, 102400, ""}}},
		{40760, []exchange{{"GET", "/get/9/nosuchfile.mp3", "", 404, 0, ""}}},
		{40762, []exchange{{"GET", "/get/2/penny%20lane.mp3", "bytes=99-10", 400, 0, ""}}},
		{40776, []exchange{{"GET", "/", "", 200, 0x198, ""}}},
	}
	sessions := decodeFixture(t, "http.pcap")
	require.Len(t, sessions, len(conns))
	for i, c := range conns {
		s := sessions[i]
		assert.Equal(t, c.port, s.Conn.Client.Port())
		assert.Equal(t, addr("127.0.0.1:6350"), s.Conn.Server)
		require.Equal(t, KindHTTP, s.FromClient.Kind)
		require.Equal(t, KindHTTP, s.FromServer.Kind)
		reqs := bufio.NewReader(bytes.NewReader(s.FromClient.HTTP))
		resps := bufio.NewReader(bytes.NewReader(s.FromServer.HTTP))
		var bodies [][]byte
		for j, ex := range c.exchanges {
			req, err := http.ReadRequest(reqs)
			require.NoError(t, err, "conn %d request %d", c.port, j)
			assert.Equal(t, ex.method, req.Method)
			assert.Equal(t, ex.uri, req.RequestURI)
			assert.Equal(t, ex.rangeHdr, req.Header.Get("Range"))
			assert.Equal(t, "GoFixtureProbe/0.1", req.Header.Get("User-Agent"))
			resp, err := http.ReadResponse(resps, req)
			require.NoError(t, err, "conn %d response %d", c.port, j)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, ex.status, resp.StatusCode, "conn %d response %d", c.port, j)
			assert.Len(t, body, ex.bodyLen, "conn %d response %d body", c.port, j)
			assert.Equal(t, ex.contentRange, resp.Header.Get("Content-Range"))
			bodies = append(bodies, body)
		}
		_, err := http.ReadRequest(reqs)
		assert.ErrorIs(t, err, io.EOF, "conn %d: no more requests", c.port)

		switch c.port {
		case 40730:
			assert.Equal(t, "28b53868f9636fe405fca5d0b3a99e661487e8f7", sha1Hex(bodies[0]), "bytes 0-99")
			assert.Equal(t, []byte{0x87}, bodies[2], "the last byte")
		case 40736, 40752:
			assert.Equal(t, "ae350b9fea1ca49d4171e949ce9e6213cc010bae", sha1Hex(bodies[0]))
		case 40776:
			// The browse body is one QUERYHIT descriptor: GUID zero, TTL 1,
			// hops 0, 385 bytes, three hits, the servent GUID at the end.
			s := NewDescriptorScanner(bodies[0], nil)
			require.True(t, s.Scan(), "%v", s.Err())
			d := s.Descriptor()
			assert.Equal(t, wire.TypeQueryHit, d.Layer.Header.Type)
			assert.True(t, d.Layer.Header.GUID.IsZero())
			assert.Equal(t, uint8(1), d.Layer.Header.TTL)
			assert.Equal(t, uint32(385), d.Layer.Header.Length)
			p := d.Layer.Payload()
			assert.Equal(t, byte(3), p[0], "hits")
			assert.Equal(t, "48c831020b29cc9f54ca85f81b70fef8", hex.EncodeToString(p[len(p)-16:]))
			assert.False(t, s.Scan())
			assert.NoError(t, s.Err())
		}
	}
}

func TestReadCaptureCounts(t *testing.T) {
	// Frames per file from the README's table; everything is TCP over IPv4.
	tests := []struct {
		file   string
		frames int
		conns  int
	}{
		{"leaf-deflate.pcap", 32, 1},
		{"ultrapeer-plain.pcap", 37, 1},
		{"http.pcap", 73, 6},
		{"outbound.pcap", 16, 1},
		{"handshake-04-refused.pcap", 8, 1},
		{"push-giv.pcap", 33, 2},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := ReadFile(testdata+tt.file, Options{})
			require.NoError(t, err)
			assert.Equal(t, tt.frames, c.Packets)
			assert.Zero(t, c.Skipped)
			assert.Len(t, c.Conns, tt.conns)
			for _, conn := range c.Conns {
				assert.NoError(t, conn.FromClient.Err())
				assert.NoError(t, conn.FromServer.Err())
				// Capture times of 2026-11-22 (the host clock, per the README).
				assert.Equal(t, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), conn.Start.UTC().Truncate(24*time.Hour))
			}
		})
	}
}
