package capture

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Dir is a direction within one connection.
type Dir uint8

const (
	ClientToServer Dir = iota
	ServerToClient
)

// Chunk is bytes one side wrote to the connection.
type Chunk struct {
	Dir  Dir
	Data []byte
}

const (
	// WriterSnaplen is the snaplen ConnWriter declares, tcpdump's default.
	WriterSnaplen = 262144
	// GnutellaPort is the server port WriteConn uses.
	GnutellaPort = 6346
	// maxSegment bounds the payload of one written segment, well inside the
	// 65535-byte IPv4 total length.
	maxSegment = 32 << 10
	// packetGap is the capture time between two written packets.
	packetGap = time.Millisecond
	// Initial sequence numbers; fixed so that written files are reproducible.
	clientISN = 0x10000000
	serverISN = 0x20000000
)

// writerStart is the first packet's time in files written by WriteConn.
var writerStart = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// ConnWriter writes one IPv4 TCP connection as a classic pcap (Ethernet with
// zero MAC addresses, microsecond timestamps): the three-way handshake, then
// each Write as properly sequenced segments, then FIN both ways on Close.
// Checksums are computed, so other tools (tshark) accept the file.
type ConnWriter struct {
	w    *pcapgo.Writer
	ends [2]netip.AddrPort // indexed by Dir: the sender
	next [2]uint32         // next sequence number each side sends
	now  time.Time
	buf  gopacket.SerializeBuffer
	mac  net.HardwareAddr
}

// NewConnWriter writes the file header and the handshake of a connection
// from client to server; both must be IPv4. Packets are start, start+1ms, ...
func NewConnWriter(w io.Writer, client, server netip.AddrPort, start time.Time) (*ConnWriter, error) {
	return newConnWriter(w, client, server, start, clientISN, serverISN)
}

func newConnWriter(w io.Writer, client, server netip.AddrPort, start time.Time, cISN, sISN uint32) (*ConnWriter, error) {
	if !client.Addr().Is4() || !server.Addr().Is4() {
		return nil, fmt.Errorf("%w: %s -> %s: ConnWriter writes IPv4 only", ErrAddress, client, server)
	}
	c := &ConnWriter{
		w:    pcapgo.NewWriter(w),
		ends: [2]netip.AddrPort{client, server},
		next: [2]uint32{cISN, sISN},
		now:  start,
		buf:  gopacket.NewSerializeBuffer(),
		mac:  make(net.HardwareAddr, 6),
	}
	if err := c.w.WriteFileHeader(WriterSnaplen, layers.LinkTypeEthernet); err != nil {
		return nil, fmt.Errorf("writing pcap header: %w", err)
	}
	// The SYNs take one sequence number each.
	if err := c.segment(ClientToServer, c.next[ClientToServer], false, tcpSYN, nil); err != nil {
		return nil, err
	}
	c.next[ClientToServer]++
	if err := c.segment(ServerToClient, c.next[ServerToClient], true, tcpSYN, nil); err != nil {
		return nil, err
	}
	c.next[ServerToClient]++
	if err := c.segment(ClientToServer, c.next[ClientToServer], true, 0, nil); err != nil {
		return nil, err
	}
	return c, nil
}

// Write sends payload from one side, in segments of at most 32 KiB.
func (c *ConnWriter) Write(d Dir, payload []byte) error {
	if d > ServerToClient {
		return fmt.Errorf("direction %d", d)
	}
	for len(payload) > 0 {
		n := min(len(payload), maxSegment)
		if err := c.segment(d, c.next[d], true, tcpPSH, payload[:n]); err != nil {
			return err
		}
		c.next[d] += uint32(n)
		payload = payload[n:]
	}
	return nil
}

// Close ends the connection: the client's FIN, the server's FIN, the last
// ACK.
func (c *ConnWriter) Close() error {
	if err := c.segment(ClientToServer, c.next[ClientToServer], true, tcpFIN, nil); err != nil {
		return err
	}
	c.next[ClientToServer]++
	if err := c.segment(ServerToClient, c.next[ServerToClient], true, tcpFIN, nil); err != nil {
		return err
	}
	c.next[ServerToClient]++
	return c.segment(ClientToServer, c.next[ClientToServer], true, 0, nil)
}

// TCP flags for segment, besides ACK.
type tcpFlags uint8

const (
	tcpSYN tcpFlags = 1 << iota
	tcpFIN
	tcpPSH
)

// segment writes one TCP segment from side d with sequence number seq,
// acknowledging everything the other side sent when ack is set. Tests call
// it directly to write segments out of order.
func (c *ConnWriter) segment(d Dir, seq uint32, ack bool, flags tcpFlags, payload []byte) error {
	src, dst := c.ends[d], c.ends[1-d]
	eth := &layers.Ethernet{SrcMAC: c.mac, DstMAC: c.mac, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{
		Version:  4,
		TTL:      64,
		Flags:    layers.IPv4DontFragment,
		Protocol: layers.IPProtocolTCP,
		SrcIP:    src.Addr().AsSlice(),
		DstIP:    dst.Addr().AsSlice(),
	}
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(src.Port()),
		DstPort: layers.TCPPort(dst.Port()),
		Seq:     seq,
		ACK:     ack,
		SYN:     flags&tcpSYN != 0,
		FIN:     flags&tcpFIN != 0,
		PSH:     flags&tcpPSH != 0,
		Window:  65535,
	}
	if ack {
		tcp.Ack = c.next[1-d]
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return fmt.Errorf("serializing segment: %w", err)
	}
	opts := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
	if err := gopacket.SerializeLayers(c.buf, opts, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		return fmt.Errorf("serializing segment: %w", err)
	}
	data := c.buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: c.now, CaptureLength: len(data), Length: len(data)}
	c.now = c.now.Add(packetGap)
	if err := c.w.WritePacket(ci, data); err != nil {
		return fmt.Errorf("writing packet: %w", err)
	}
	return nil
}

// WriteConn writes a whole connection between 127.0.0.1:clientPort and
// 127.0.0.1:6346 carrying chunks in order, as a classic pcap.
func WriteConn(w io.Writer, clientPort uint16, chunks []Chunk) error {
	loopback := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	c, err := NewConnWriter(w, netip.AddrPortFrom(loopback, clientPort), netip.AddrPortFrom(loopback, GnutellaPort), writerStart)
	if err != nil {
		return err
	}
	for _, ch := range chunks {
		if err := c.Write(ch.Dir, ch.Data); err != nil {
			return err
		}
	}
	return c.Close()
}
