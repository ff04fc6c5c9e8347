package capture

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/google/gopacket"

	"github.com/govent/govent/wire"
)

// FuzzGnutellaDecodeFromBytes calls the layer directly: gopacket's parsers
// recover panics and would hide them.
func FuzzGnutellaDecodeFromBytes(f *testing.F) {
	f.Add(descriptor(1, 0x80, 7, 0, 8, []byte("\x80\x00penny\x00")), uint32(0))
	f.Add(descriptor(2, 0x00, 1, 0, 0, nil), uint32(0))
	f.Add(descriptor(3, 0x81, 1, 0, 0xffffffff, nil), uint32(0))
	f.Add(descriptor(4, 0x02, 1, 0, 3, []byte{200, 0}), uint32(2))
	f.Add([]byte{1, 2, 3}, uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, max uint32) {
		g := Gnutella{MaxPayload: max}
		var df truncFlag
		err := g.DecodeFromBytes(data, &df)
		if err != nil {
			if !errors.Is(err, wire.ErrFrame) {
				t.Fatalf("error outside ErrFrame: %v", err)
			}
			return
		}
		limit := max
		if limit == 0 {
			limit = DefaultMaxPayload
		}
		if df.truncated {
			t.Fatal("truncated flag set on success")
		}
		if g.Header.Length > limit || int(g.Header.Length) != len(g.Payload()) {
			t.Fatalf("payload %d bytes, header says %d, limit %d", len(g.Payload()), g.Header.Length, limit)
		}
		if g.Len() > len(data) || !bytes.Equal(g.LayerContents(), data[:wire.HeaderLen]) {
			t.Fatalf("layer of %d bytes does not match input of %d", g.Len(), len(data))
		}
		if g.NextLayerType() == gopacket.LayerTypePayload && len(g.Payload()) == 0 {
			t.Fatal("payload layer announced for an empty payload")
		}
	})
}

// FuzzRead feeds arbitrary bytes through reading, splitting and scanning:
// errors are fine, panics are not.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"handshake-04-refused.pcap", "outbound.pcap", "tls/upgrade-we-dial.pcap", "g2/shareaza-handshake.pcap"} {
		b, err := os.ReadFile(testdata + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var buf bytes.Buffer
	if err := WriteConn(&buf, 40050, []Chunk{
		{ClientToServer, []byte("GNUTELLA CONNECT/0.6\r\n\r\n")},
		{ServerToClient, []byte("GNUTELLA/0.6 200 OK\r\nContent-Encoding: deflate\r\n\r\nx\x9c")},
		{ClientToServer, []byte("GNUTELLA/0.6 200 OK\r\n\r\n")},
		{ClientToServer, descriptor(1, 0, 1, 0, 0, nil)},
	}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	g := &ngBuilder{order: littleEndianOrder}
	g.section()
	g.iface(1, 0, g.option(9, []byte{6}))
	g.enhanced(4, 4, []byte{1, 2, 3, 4})
	f.Add(g.buf)
	opt := Options{MaxStreamBytes: 1 << 16, MaxTotalBytes: 1 << 20, MaxInflatedBytes: 1 << 16, MaxBlockBytes: 1 << 12}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Read(bytes.NewReader(data), opt)
		if err != nil {
			return
		}
		for _, conn := range c.Conns {
			s := Split(conn, opt)
			for _, fl := range []*Flow{&s.FromClient, &s.FromServer} {
				sc := fl.Scanner()
				for sc.Scan() {
					_ = sc.Descriptor()
				}
				_, _ = G2Packets(fl.G2)
			}
		}
	})
}
