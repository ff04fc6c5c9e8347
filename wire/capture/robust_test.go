package capture

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordEnds returns the offsets at which a classic pcap's records end, read
// by hand: a 24-byte file header, then 16-byte record headers whose bytes
// 8..11 hold the captured length (little-endian in these files).
func recordEnds(t *testing.T, b []byte) []int {
	t.Helper()
	require.Equal(t, []byte{0xd4, 0xc3, 0xb2, 0xa1}, b[:4], "little-endian microsecond pcap")
	ends := []int{24}
	for off := 24; off < len(b); {
		caplen := int(binary.LittleEndian.Uint32(b[off+8:]))
		off += 16 + caplen
		ends = append(ends, off)
	}
	require.Equal(t, len(b), ends[len(ends)-1])
	return ends
}

func TestTruncatedPcapFiles(t *testing.T) {
	for _, name := range []string{"leaf-deflate.pcap", "handshake-04-refused.pcap"} {
		t.Run(name, func(t *testing.T) {
			full, err := os.ReadFile(testdata + name)
			require.NoError(t, err)
			ends := recordEnds(t, full)
			atEnd := map[int]bool{}
			var cuts []int
			for n := 0; n <= 24; n++ { // inside the file header
				cuts = append(cuts, n)
			}
			for _, e := range ends {
				atEnd[e] = true
				// At the boundary, inside the record header, right after it
				// (pcapgo calls that a clean EOF), inside the data.
				cuts = append(cuts, e, e+8, e+16, e+17)
			}
			for _, n := range cuts {
				if n < 0 || n >= len(full) {
					continue
				}
				_, err := Read(bytes.NewReader(full[:n]), Options{})
				if atEnd[n] {
					assert.NoError(t, err, "cut at record boundary %d", n)
				} else {
					assert.ErrorIs(t, err, ErrFormat, "cut at %d", n)
				}
			}
		})
	}
}

// pcapHeader writes a little-endian classic pcap header by hand.
func pcapHeader(snaplen, link uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0) // thiszone
	b = binary.LittleEndian.AppendUint32(b, 0) // sigfigs
	b = binary.LittleEndian.AppendUint32(b, snaplen)
	return binary.LittleEndian.AppendUint32(b, link)
}

func pcapRecord(caplen, origlen uint32, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 1)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, caplen)
	b = binary.LittleEndian.AppendUint32(b, origlen)
	return append(b, data...)
}

func TestGarbageFiles(t *testing.T) {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"three bytes", []byte("abc")},
		{"text", []byte("GNUTELLA CONNECT/0.6\r\n\r\n")},
		{"pcap magic, header cut", []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0}},
		{"unsupported link type", pcapHeader(65535, 147)},
		{"4 GiB snaplen and packet", cat(pcapHeader(0xffffffff, 1), pcapRecord(0xfffffff0, 0xfffffff0, nil))},
		{"captured longer than original", cat(pcapHeader(65535, 1), pcapRecord(10, 5, make([]byte, 10)))},
		{"pcapng magic, nothing else", []byte{0x0a, 0x0d, 0x0d, 0x0a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Read(bytes.NewReader(tt.in), Options{})
			assert.ErrorIs(t, err, ErrFormat)
			assert.Nil(t, c)
		})
	}
}

func TestJunkPacketsAreSkipped(t *testing.T) {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	// Ethernet carrying IPv4 whose header length field says 60 bytes in a
	// 20-byte packet, an ARP frame, and a 5-byte frame.
	badIP := append(make([]byte, 12), 0x08, 0x00, 0x4f)
	badIP = append(badIP, make([]byte, 19)...)
	arp := append(make([]byte, 12), 0x08, 0x06)
	arp = append(arp, make([]byte, 28)...)
	in := cat(pcapHeader(65535, 1),
		pcapRecord(uint32(len(badIP)), uint32(len(badIP)), badIP),
		pcapRecord(uint32(len(arp)), uint32(len(arp)), arp),
		pcapRecord(5, 5, []byte{1, 2, 3, 4, 5}))
	c := readBytes(t, in, Options{})
	assert.Equal(t, 3, c.Packets)
	assert.Equal(t, 3, c.Skipped)
	assert.Empty(t, c.Conns)
}

func TestZeroSnaplenStillReads(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteConn(&buf, 40030, []Chunk{{ClientToServer, []byte("GIV 0:00/x\n\n")}}))
	b := buf.Bytes()
	binary.LittleEndian.PutUint32(b[16:20], 0) // snaplen
	c := readBytes(t, b, Options{})
	require.Len(t, c.Conns, 1)
	assert.Equal(t, "GIV 0:00/x\n\n", string(c.Conns[0].FromClient.Data))
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// ngBuilder writes pcapng blocks by hand in either byte order.
type ngBuilder struct {
	order byteOrder
	buf   []byte
}

func (g *ngBuilder) block(typ uint32, body []byte) {
	total := uint32(12 + len(body))
	g.buf = g.order.AppendUint32(g.buf, typ)
	g.buf = g.order.AppendUint32(g.buf, total)
	g.buf = append(g.buf, body...)
	g.buf = g.order.AppendUint32(g.buf, total)
}

func (g *ngBuilder) section() {
	b := g.order.AppendUint32(nil, 0x1a2b3c4d)
	b = g.order.AppendUint16(b, 1)
	b = g.order.AppendUint16(b, 0)
	b = g.order.AppendUint64(b, 0xffffffffffffffff)
	g.block(0x0a0d0d0a, b)
}

// option encodes one option, padded to 4 bytes.
func (g *ngBuilder) option(code uint16, value []byte) []byte {
	b := g.order.AppendUint16(nil, code)
	b = g.order.AppendUint16(b, uint16(len(value)))
	b = append(b, value...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (g *ngBuilder) iface(link uint16, snaplen uint32, options ...[]byte) {
	b := g.order.AppendUint16(nil, link)
	b = g.order.AppendUint16(b, 0)
	b = g.order.AppendUint32(b, snaplen)
	for _, o := range options {
		b = append(b, o...)
	}
	g.block(1, b)
}

func (g *ngBuilder) enhanced(caplen, origlen uint32, data []byte) {
	b := g.order.AppendUint32(nil, 0)
	b = g.order.AppendUint32(b, 0)
	b = g.order.AppendUint32(b, 1)
	b = g.order.AppendUint32(b, caplen)
	b = g.order.AppendUint32(b, origlen)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	g.block(6, b)
}

func (g *ngBuilder) simple(origlen uint32, data []byte) {
	b := g.order.AppendUint32(nil, origlen)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	g.block(3, b)
}

// firstDataFrame returns the first data-carrying frame ConnWriter writes.
func firstDataFrame(t *testing.T) []byte {
	var buf bytes.Buffer
	require.NoError(t, WriteConn(&buf, 40040, []Chunk{{ClientToServer, []byte("GIV 0:00/x\n\n")}}))
	var frames [][]byte
	rewrite(t, buf.Bytes(), 1, func(_ int, d []byte) []byte {
		frames = append(frames, append([]byte{}, d...))
		return d
	})
	require.Greater(t, len(frames), 3)
	return frames[3]
}

func TestPcapNGGuard(t *testing.T) {
	frame := firstDataFrame(t)
	n := uint32(len(frame))
	tests := []struct {
		name    string
		build   func(g *ngBuilder)
		packets int
		wantErr bool
	}{
		{"valid", func(g *ngBuilder) { g.section(); g.iface(1, 0); g.enhanced(n, n, frame) }, 1, false},
		{"simple packet block", func(g *ngBuilder) { g.section(); g.iface(1, 0); g.simple(n, frame) }, 1, false},
		{"nanosecond resolution", func(g *ngBuilder) {
			g.section()
			g.iface(1, 0, g.option(9, []byte{9}), g.option(0, nil))
			g.enhanced(n, n, frame)
		}, 1, false},
		{"largest decimal resolution", func(g *ngBuilder) { g.section(); g.iface(1, 0, g.option(9, []byte{19})); g.enhanced(n, n, frame) }, 1, false},
		{"statistics block passes", func(g *ngBuilder) {
			g.section()
			g.iface(1, 0)
			g.block(5, make([]byte, 12)) // interface 0, timestamp 0, no options
			g.enhanced(n, n, frame)
		}, 1, false},
		{"unknown block type is skipped", func(g *ngBuilder) {
			g.section()
			g.iface(1, 0)
			g.block(0x0bad, make([]byte, 8))
			g.enhanced(n, n, frame)
		}, 1, false},
		{"statistics block too short", func(g *ngBuilder) { g.section(); g.iface(1, 0); g.block(5, make([]byte, 4)) }, 0, true},
		{"interface block too short", func(g *ngBuilder) { g.section(); g.block(1, make([]byte, 4)) }, 0, true},
		{"packet block too short", func(g *ngBuilder) { g.section(); g.iface(1, 0); g.block(6, make([]byte, 12)) }, 0, true},
		{"captured length beyond the block", func(g *ngBuilder) { g.section(); g.iface(1, 0); g.enhanced(0xf0000000, n, frame) }, 0, true},
		{"simple packet longer than its block", func(g *ngBuilder) { g.section(); g.iface(1, 0); g.simple(0xf0000000, frame) }, 0, true},
		{"binary resolution 2^127", func(g *ngBuilder) { g.section(); g.iface(1, 0, g.option(9, []byte{0xff})); g.enhanced(n, n, frame) }, 0, true},
		{"decimal resolution 10^20", func(g *ngBuilder) { g.section(); g.iface(1, 0, g.option(9, []byte{20})); g.enhanced(n, n, frame) }, 0, true},
		{"empty resolution option", func(g *ngBuilder) {
			g.section()
			g.iface(1, 0, g.option(2, []byte{0xff}), g.option(9, nil))
			g.enhanced(n, n, frame)
		}, 0, true},
		{"option overruns its block", func(g *ngBuilder) {
			g.section()
			g.iface(1, 0, g.order.AppendUint16(g.order.AppendUint16(nil, 2), 200))
		}, 0, true},
		{"block length under 12", func(g *ngBuilder) {
			g.section()
			g.buf = g.order.AppendUint32(g.buf, 1)
			g.buf = g.order.AppendUint32(g.buf, 8)
		}, 0, true},
		{"block length not a multiple of 4", func(g *ngBuilder) {
			g.section()
			g.buf = g.order.AppendUint32(g.buf, 1)
			g.buf = g.order.AppendUint32(g.buf, 22)
			g.buf = append(g.buf, make([]byte, 14)...)
		}, 0, true},
		{"block length 4 GiB", func(g *ngBuilder) {
			g.section()
			g.buf = g.order.AppendUint32(g.buf, 6)
			g.buf = g.order.AppendUint32(g.buf, 0xfffffffc)
		}, 0, true},
		{"trailer disagrees", func(g *ngBuilder) {
			g.section()
			g.iface(1, 0)
			g.buf[len(g.buf)-1] ^= 0x10
			g.buf[len(g.buf)-4] ^= 0x10
		}, 0, true},
		{"block cut short", func(g *ngBuilder) {
			g.section()
			g.iface(1, 0)
			g.enhanced(n, n, frame)
			g.buf = g.buf[:len(g.buf)-6]
		}, 0, true},
	}
	for _, order := range []byteOrder{littleEndianOrder, binary.BigEndian} {
		for _, tt := range tests {
			t.Run(order.String()+"/"+tt.name, func(t *testing.T) {
				g := &ngBuilder{order: order}
				tt.build(g)
				c, err := Read(bytes.NewReader(g.buf), Options{})
				if tt.wantErr {
					assert.ErrorIs(t, err, ErrFormat)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, tt.packets, c.Packets)
				require.Len(t, c.Conns, 1)
				assert.Equal(t, "GIV 0:00/x\n\n", string(c.Conns[0].FromClient.Data))
			})
		}
	}
}

var littleEndianOrder byteOrder = binary.LittleEndian
