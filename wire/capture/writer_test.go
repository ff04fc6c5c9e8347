package capture

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	testClient = netip.MustParseAddrPort("127.0.0.1:40000")
	testServer = netip.MustParseAddrPort("127.0.0.1:6346")
	testStart  = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

func readBytes(t *testing.T, b []byte, opt Options) *Capture {
	t.Helper()
	c, err := Read(bytes.NewReader(b), opt)
	require.NoError(t, err)
	return c
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func TestWriteConnReadsBack(t *testing.T) {
	chunks := []Chunk{
		{ClientToServer, []byte("GNUTELLA CONNECT/0.6\r\nUser-Agent: test\r\n\r\n")},
		{ServerToClient, []byte("GNUTELLA/0.6 200 OK\r\n\r\n")},
		{ClientToServer, []byte("GNUTELLA/0.6 200 OK\r\n\r\n")},
		{ServerToClient, pattern(100000, 1)}, // split into 32 KiB segments
		{ClientToServer, pattern(10, 2)},
		{ServerToClient, pattern(5, 3)},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteConn(&buf, 40000, chunks))

	c := readBytes(t, buf.Bytes(), Options{})
	assert.Equal(t, layers.LinkTypeEthernet, c.LinkType)
	// 3 handshake packets, 1+1+1+4+1+1 data segments, FIN, FIN, ACK.
	assert.Equal(t, 3+9+3, c.Packets)
	require.Len(t, c.Conns, 1)
	conn := c.Conns[0]
	assert.Equal(t, testClient, conn.Client)
	assert.Equal(t, testServer, conn.Server)
	assert.True(t, conn.SYN)
	assert.True(t, conn.Closed())
	assert.Equal(t, testClient, conn.FromClient.From)
	assert.Equal(t, testServer, conn.FromServer.From)

	var up, down []byte
	var upOffsets, downOffsets []int
	for _, ch := range chunks {
		if ch.Dir == ClientToServer {
			upOffsets = append(upOffsets, len(up))
			up = append(up, ch.Data...)
			continue
		}
		for off := 0; off < len(ch.Data); off += 32 << 10 {
			downOffsets = append(downOffsets, len(down)+off)
		}
		down = append(down, ch.Data...)
	}
	assert.Equal(t, up, conn.FromClient.Data)
	assert.Equal(t, down, conn.FromServer.Data)
	assert.Equal(t, upOffsets, timelineOffsets(conn.FromClient.Timeline))
	assert.Equal(t, downOffsets, timelineOffsets(conn.FromServer.Timeline))
	// Every packet is 1 ms after the previous: the 4th packet carries the
	// first data.
	assert.Equal(t, testStartOfWriteConn().Add(3*time.Millisecond), conn.FromClient.Timeline[0].Time)
}

func testStartOfWriteConn() time.Time { return writerStart }

func timelineOffsets(tl Timeline) []int {
	var offs []int
	for _, s := range tl {
		offs = append(offs, s.Offset)
	}
	return offs
}

// onesSum folds b into a 16-bit ones' complement sum.
func onesSum(b []byte, sum uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum
}

func TestWriteConnChecksums(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteConn(&buf, 40001, []Chunk{{ClientToServer, []byte("GNUTELLA CONNECT/0.6\r\n\r\n")}, {ServerToClient, pattern(33, 9)}}))
	r, err := pcapgo.NewReader(&buf)
	require.NoError(t, err)
	assert.Equal(t, uint32(262144), r.Snaplen())
	assert.Equal(t, layers.LinkTypeEthernet, r.LinkType())
	n := 0
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		n++
		require.Greater(t, len(data), 14+20+20)
		ip := data[14:]
		ihl := int(ip[0]&0x0f) * 4
		// A correct IPv4 header sums to 0xffff, checksum included.
		assert.Equal(t, uint32(0xffff), onesSum(ip[:ihl], 0), "packet %d IPv4 checksum", n)
		totalLen := int(binary.BigEndian.Uint16(ip[2:4]))
		if len(data) > 60 {
			assert.Equal(t, len(ip), totalLen, "packet %d IPv4 length", n)
		} else { // gopacket pads short frames to Ethernet's 60-byte minimum
			assert.LessOrEqual(t, totalLen, len(ip), "packet %d IPv4 length", n)
		}
		// The TCP checksum covers the pseudo-header: addresses, protocol,
		// TCP length.
		seg := ip[ihl:totalLen]
		pseudo := append(append([]byte{}, ip[12:20]...), 0, 6, byte(len(seg)>>8), byte(len(seg)))
		assert.Equal(t, uint32(0xffff), onesSum(seg, onesSum(pseudo, 0)), "packet %d TCP checksum", n)
	}
	assert.Equal(t, 3+2+3, n)
}

func TestWriterRefusesIPv6(t *testing.T) {
	_, err := NewConnWriter(io.Discard, netip.MustParseAddrPort("[::1]:1"), testServer, testStart)
	assert.ErrorIs(t, err, ErrAddress)
}

// writeSegments writes a connection whose client sends segs as given
// (seq offsets relative to the first data byte), for reassembly tests.
type seg struct {
	off  uint32
	data string
}

func writeSegments(t *testing.T, isn uint32, segs []seg, fin bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := newConnWriter(&buf, testClient, testServer, testStart, isn, serverISN)
	require.NoError(t, err)
	end := uint32(0)
	for _, s := range segs {
		require.NoError(t, w.segment(ClientToServer, isn+1+s.off, true, tcpPSH, []byte(s.data)))
		end = max(end, s.off+uint32(len(s.data)))
	}
	if fin {
		w.next[ClientToServer] = isn + 1 + end
		require.NoError(t, w.Close())
	}
	return buf.Bytes()
}

func TestReassembly(t *testing.T) {
	tests := []struct {
		name    string
		isn     uint32
		segs    []seg
		want    string
		wantOff []int
		gap     bool
	}{
		{"in order", clientISN, []seg{{0, "GNUT"}, {4, "ELLA "}, {9, "CONNECT"}}, "GNUTELLA CONNECT", []int{0, 4, 9}, false},
		{"out of order", clientISN, []seg{{0, "GNUT"}, {9, "CONNECT"}, {4, "ELLA "}}, "GNUTELLA CONNECT", []int{0, 4, 9}, false},
		{"reversed", clientISN, []seg{{9, "CONNECT"}, {4, "ELLA "}, {0, "GNUT"}}, "GNUTELLA CONNECT", []int{0, 4, 9}, false},
		{"retransmission", clientISN, []seg{{0, "GNUT"}, {4, "ELLA "}, {4, "ELLA "}, {9, "CONNECT"}}, "GNUTELLA CONNECT", []int{0, 4, 9}, false},
		{"sequence wraps", 0xfffffff8, []seg{{0, "GNUTELLA"}, {8, " CONNECT"}}, "GNUTELLA CONNECT", []int{0, 8}, false},
		{"hole stops the stream", clientISN, []seg{{0, "GNUT"}, {9, "CONNECT"}}, "GNUT", []int{0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := readBytes(t, writeSegments(t, tt.isn, tt.segs, true), Options{})
			require.Len(t, c.Conns, 1)
			s := c.Conns[0].FromClient
			assert.Equal(t, tt.want, string(s.Data))
			assert.Equal(t, tt.wantOff, timelineOffsets(s.Timeline))
			assert.Equal(t, tt.gap, s.Gap)
			if tt.gap {
				assert.ErrorIs(t, s.Err(), ErrGap)
			} else {
				assert.NoError(t, s.Err())
			}
		})
	}
}

func TestReassemblyTimelineKeepsArrivalTimes(t *testing.T) {
	// The second half arrives first (packet 4), the first half later
	// (packet 5): each byte keeps its own segment's time.
	c := readBytes(t, writeSegments(t, clientISN, []seg{{4, "ELLA"}, {0, "GNUT"}}, false), Options{})
	require.Len(t, c.Conns, 1)
	tl := c.Conns[0].FromClient.Timeline
	assert.Equal(t, "GNUTELLA", string(c.Conns[0].FromClient.Data))
	assert.Equal(t, testStart.Add(4*time.Millisecond), tl.At(0))
	assert.Equal(t, testStart.Add(3*time.Millisecond), tl.At(4))
	assert.Equal(t, testStart.Add(3*time.Millisecond), tl.At(7))
	assert.True(t, tl.At(-1).IsZero())
	assert.False(t, c.Conns[0].Closed(), "no FIN written")
}

func TestStreamLimits(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteConn(&buf, 40002, []Chunk{{ClientToServer, pattern(100, 0)}, {ServerToClient, pattern(5, 0)}}))

	t.Run("per stream cap keeps the first bytes", func(t *testing.T) {
		c := readBytes(t, buf.Bytes(), Options{MaxStreamBytes: 64})
		require.Len(t, c.Conns, 1)
		s := c.Conns[0].FromClient
		assert.True(t, s.Overflow)
		assert.Equal(t, pattern(100, 0)[:64], s.Data)
		assert.ErrorIs(t, s.Err(), ErrStreamTooLarge)
		assert.False(t, c.Conns[0].FromServer.Overflow)
		f := Split(c.Conns[0], Options{MaxStreamBytes: 64})
		assert.ErrorIs(t, f.FromClient.Err, ErrStreamTooLarge)
	})
	t.Run("total cap fails the read", func(t *testing.T) {
		_, err := Read(bytes.NewReader(buf.Bytes()), Options{MaxTotalBytes: 104})
		assert.ErrorIs(t, err, ErrCaptureTooLarge)
	})
	t.Run("total cap at the exact size passes", func(t *testing.T) {
		_, err := Read(bytes.NewReader(buf.Bytes()), Options{MaxTotalBytes: 105})
		assert.NoError(t, err)
	})
}

// rewrite copies a classic pcap, letting edit change or drop (nil) each
// packet, under a new link type.
func rewrite(t *testing.T, in []byte, link layers.LinkType, edit func(i int, data []byte) []byte) []byte {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(in))
	require.NoError(t, err)
	var out bytes.Buffer
	w := pcapgo.NewWriter(&out)
	require.NoError(t, w.WriteFileHeader(WriterSnaplen, link))
	for i := 0; ; i++ {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if data = edit(i, data); data == nil {
			continue
		}
		ci.CaptureLength, ci.Length = len(data), len(data)
		require.NoError(t, w.WritePacket(ci, data))
	}
	return out.Bytes()
}

func TestCaptureWithoutHandshake(t *testing.T) {
	var buf bytes.Buffer
	chunks := []Chunk{{ClientToServer, []byte("GNUTELLA CONNECT/0.6\r\n\r\n")}, {ServerToClient, []byte("GNUTELLA/0.6 200 OK\r\n\r\n")}}
	require.NoError(t, WriteConn(&buf, 40003, chunks))
	// Drop SYN, SYN-ACK and ACK: the capture starts mid-connection.
	cut := rewrite(t, buf.Bytes(), layers.LinkTypeEthernet, func(i int, d []byte) []byte {
		if i < 3 {
			return nil
		}
		return d
	})
	c := readBytes(t, cut, Options{})
	require.Len(t, c.Conns, 1)
	conn := c.Conns[0]
	assert.False(t, conn.SYN)
	assert.Equal(t, testClient.Addr(), conn.Client.Addr())
	assert.Equal(t, uint16(40003), conn.Client.Port(), "first sender taken as client")
	assert.Equal(t, chunks[0].Data, conn.FromClient.Data)
	assert.Equal(t, chunks[1].Data, conn.FromServer.Data)
}

func TestOpenerFromSYNACK(t *testing.T) {
	var buf bytes.Buffer
	chunks := []Chunk{{ClientToServer, []byte("GET / HTTP/1.0\r\n\r\n")}, {ServerToClient, []byte("HTTP/1.0 200 OK\r\n\r\n")}}
	require.NoError(t, WriteConn(&buf, 40006, chunks))
	tests := []struct {
		name string
		edit func(i int, d []byte, frames [][]byte) []byte
	}{
		{"SYN lost", func(i int, d []byte, _ [][]byte) []byte {
			if i == 0 {
				return nil
			}
			return d
		}},
		{"SYN-ACK captured before the SYN", func(i int, d []byte, frames [][]byte) []byte {
			switch i {
			case 0:
				return frames[1]
			case 1:
				return frames[0]
			}
			return d
		}},
	}
	var frames [][]byte
	rewrite(t, buf.Bytes(), layers.LinkTypeEthernet, func(_ int, d []byte) []byte {
		frames = append(frames, append([]byte{}, d...))
		return d
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := rewrite(t, buf.Bytes(), layers.LinkTypeEthernet, func(i int, d []byte) []byte { return tt.edit(i, d, frames) })
			c := readBytes(t, in, Options{})
			require.Len(t, c.Conns, 1)
			conn := c.Conns[0]
			assert.True(t, conn.SYN)
			assert.Equal(t, uint16(40006), conn.Client.Port())
			assert.Equal(t, uint16(GnutellaPort), conn.Server.Port())
			assert.Equal(t, chunks[0].Data, conn.FromClient.Data)
			assert.Equal(t, chunks[1].Data, conn.FromServer.Data)
		})
	}
}

type failingWriter struct{ left int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, io.ErrShortWrite
	}
	w.left -= len(p)
	return len(p), nil
}

func TestWriteConnReportsWriteErrors(t *testing.T) {
	var full bytes.Buffer
	chunks := []Chunk{{ClientToServer, pattern(100, 1)}, {ServerToClient, pattern(100, 2)}}
	require.NoError(t, WriteConn(&full, 40007, chunks))
	for _, n := range []int{0, 10, 24, 100, 300, full.Len() - 1} {
		err := WriteConn(&failingWriter{left: n}, 40007, chunks)
		// pcapgo wraps some write errors with %v, so match the text.
		assert.ErrorContains(t, err, io.ErrShortWrite.Error(), "failing after %d bytes", n)
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := ReadFile(testdata+"no-such-file.pcap", Options{})
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestLinkTypes(t *testing.T) {
	var buf bytes.Buffer
	chunks := []Chunk{{ClientToServer, []byte("GET / HTTP/1.1\r\n\r\n")}, {ServerToClient, []byte("HTTP/1.1 404 Not Found\r\n\r\n")}}
	require.NoError(t, WriteConn(&buf, 40004, chunks))
	const ethLen = 14
	tests := []struct {
		name string
		link layers.LinkType
		edit func(int, []byte) []byte
	}{
		{"raw IPv4", layers.LinkTypeRaw, func(_ int, d []byte) []byte { return d[ethLen:] }},
		{"linux cooked", layers.LinkTypeLinuxSLL, func(_ int, d []byte) []byte {
			// Packet type 0 (to us), ARPHRD_LOOPBACK, 6-byte zero address, IPv4.
			sll := []byte{0, 0, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00}
			return append(sll, d[ethLen:]...)
		}},
		{"BSD loopback", layers.LinkTypeNull, func(_ int, d []byte) []byte {
			return append([]byte{2, 0, 0, 0}, d[ethLen:]...) // AF_INET, host order (little-endian)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := readBytes(t, rewrite(t, buf.Bytes(), tt.link, tt.edit), Options{})
			assert.Equal(t, tt.link, c.LinkType)
			require.Len(t, c.Conns, 1)
			s := Split(c.Conns[0], Options{})
			assert.Equal(t, KindHTTP, s.FromClient.Kind)
			assert.Equal(t, chunks[0].Data, s.FromClient.HTTP)
			assert.Equal(t, chunks[1].Data, s.FromServer.HTTP)
		})
	}
}

func TestIPv6RawCapture(t *testing.T) {
	client := netip.MustParseAddrPort("[::1]:40005")
	server := netip.MustParseAddrPort("[::1]:6346")
	var out bytes.Buffer
	w := pcapgo.NewWriter(&out)
	require.NoError(t, w.WriteFileHeader(WriterSnaplen, layers.LinkTypeRaw))
	pkt := func(from, to netip.AddrPort, seq, ack uint32, syn bool, payload string) {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: from.Addr().AsSlice(), DstIP: to.Addr().AsSlice()}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(from.Port()), DstPort: layers.TCPPort(to.Port()),
			Seq: seq, Ack: ack, SYN: syn, ACK: ack != 0, Window: 65535}
		require.NoError(t, tcp.SetNetworkLayerForChecksum(ip))
		b := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(b, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			ip, tcp, gopacket.Payload(payload)))
		ci := gopacket.CaptureInfo{Timestamp: testStart, CaptureLength: len(b.Bytes()), Length: len(b.Bytes())}
		require.NoError(t, w.WritePacket(ci, b.Bytes()))
	}
	pkt(client, server, 100, 0, true, "")
	pkt(server, client, 500, 101, true, "")
	pkt(client, server, 101, 501, false, "GIV 1:")
	pkt(client, server, 107, 501, false, "00/x\n\n")
	c := readBytes(t, out.Bytes(), Options{})
	require.Len(t, c.Conns, 1)
	assert.Equal(t, client, c.Conns[0].Client)
	assert.Equal(t, server, c.Conns[0].Server)
	s := Split(c.Conns[0], Options{})
	assert.Equal(t, KindGIV, s.FromClient.Kind)
	require.Len(t, s.FromClient.Blocks, 1)
	assert.Equal(t, "GIV 1:00/x\n\n", string(s.FromClient.Blocks[0]))
}

func TestPcapNGReadsLikePcap(t *testing.T) {
	in, err := os.ReadFile(testdata + "leaf-deflate.pcap")
	require.NoError(t, err)
	r, err := pcapgo.NewReader(bytes.NewReader(in))
	require.NoError(t, err)
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriter(&ng, r.LinkType())
	require.NoError(t, err)
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.NoError(t, w.WritePacket(ci, data))
	}
	require.NoError(t, w.Flush())
	require.Equal(t, []byte{0x0a, 0x0d, 0x0d, 0x0a}, ng.Bytes()[:4], "pcapng magic")

	fromPcap := readBytes(t, in, Options{})
	fromNG := readBytes(t, ng.Bytes(), Options{})
	assert.Equal(t, fromPcap, fromNG)
	require.Len(t, fromNG.Conns, 1)
	assert.Len(t, Split(fromNG.Conns[0], Options{}).FromServer.Wire, 521)
}
