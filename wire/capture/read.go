package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/google/gopacket/reassembly"
)

// Defaults for the zero Options.
const (
	DefaultMaxStreamBytes   = 64 << 20
	DefaultMaxTotalBytes    = 1 << 30
	DefaultMaxInflatedBytes = 64 << 20
	DefaultMaxBlockBytes    = 16 << 10
	DefaultMaxPayload       = 65536
)

// maxPacketBytes bounds one captured packet whatever snaplen the file claims:
// pcapgo sizes its packet buffer from the header, which a hostile file sets
// to 4 GiB.
const maxPacketBytes = 1 << 20

// Options bound what reading and splitting a capture may hold in memory.
// Zero fields take the Default* values.
type Options struct {
	// MaxStreamBytes caps the bytes kept for one direction of one TCP
	// connection. Past it the stream is marked Overflow and later bytes are
	// dropped.
	MaxStreamBytes int
	// MaxTotalBytes caps the TCP payload kept for the whole capture; past it
	// Read fails with ErrCaptureTooLarge.
	MaxTotalBytes int64
	// MaxInflatedBytes caps one inflated descriptor stream.
	MaxInflatedBytes int
	// MaxBlockBytes caps one handshake block (or GIV line).
	MaxBlockBytes int
	// MaxPayload caps a descriptor payload length for Flow.Scanner.
	MaxPayload uint32
}

func (o Options) withDefaults() Options {
	if o.MaxStreamBytes <= 0 {
		o.MaxStreamBytes = DefaultMaxStreamBytes
	}
	if o.MaxTotalBytes <= 0 {
		o.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if o.MaxInflatedBytes <= 0 {
		o.MaxInflatedBytes = DefaultMaxInflatedBytes
	}
	if o.MaxBlockBytes <= 0 {
		o.MaxBlockBytes = DefaultMaxBlockBytes
	}
	if o.MaxPayload == 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	return o
}

// Segment says when the bytes of a stream from Offset on arrived: the
// capture time of the TCP segment that carried them.
type Segment struct {
	Offset int
	Time   time.Time
}

// Timeline lists a stream's segments in increasing Offset order.
type Timeline []Segment

// At returns the arrival time of the byte at offset off: the time of the
// last segment starting at or before it. It is zero when unknown.
func (tl Timeline) At(off int) time.Time {
	i := sort.Search(len(tl), func(i int) bool { return tl[i].Offset > off })
	if i == 0 {
		return time.Time{}
	}
	return tl[i-1].Time
}

// Stream is one direction of a TCP connection, reassembled in sequence order.
type Stream struct {
	From, To netip.AddrPort
	Data     []byte
	Timeline Timeline // arrival time of Data's bytes
	FIN      bool     // the sender closed its side
	RST      bool     // the sender reset the connection
	// Overflow: the sender sent more than Options.MaxStreamBytes; Data holds
	// the first MaxStreamBytes.
	Overflow bool
	// Gap: the capture lost bytes of this direction; Data stops at the hole.
	Gap bool
}

// Err says why Data may be incomplete (ErrStreamTooLarge, ErrGap), or nil.
func (s *Stream) Err() error {
	var errs []error
	if s.Overflow {
		errs = append(errs, fmt.Errorf("%w: %s->%s kept %d bytes", ErrStreamTooLarge, s.From, s.To, len(s.Data)))
	}
	if s.Gap {
		errs = append(errs, fmt.Errorf("%w: %s->%s hole after %d bytes", ErrGap, s.From, s.To, len(s.Data)))
	}
	return errors.Join(errs...)
}

// Conn is one TCP connection found in a capture.
type Conn struct {
	// Client opened the connection: it sent the SYN, or received the
	// SYN-ACK. When the capture holds neither, the sender of the first
	// packet seen is taken as Client and SYN is false.
	Client, Server netip.AddrPort
	SYN            bool
	Start          time.Time // capture time of the first packet
	FromClient     Stream
	FromServer     Stream
}

// Closed reports whether the connection ended inside the capture: both sides
// sent FIN, or either sent RST.
func (c *Conn) Closed() bool {
	return (c.FromClient.FIN && c.FromServer.FIN) || c.FromClient.RST || c.FromServer.RST
}

// Capture is what Read found in a file.
type Capture struct {
	LinkType layers.LinkType
	Packets  int // packets read
	// Skipped counts packets that are not TCP over IPv4/IPv6, IP fragments,
	// packets cut by the snaplen, and packets that do not decode.
	Skipped int
	Conns   []*Conn // in order of their first packet
}

// ReadFile reads and reassembles the capture file at path.
func ReadFile(path string, opt Options) (*Capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := Read(f, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Magic numbers that start a capture file, as read big-endian.
const (
	magicPcapMicro        = 0xa1b2c3d4
	magicPcapMicroSwapped = 0xd4c3b2a1
	magicPcapNano         = 0xa1b23c4d
	magicPcapNanoSwapped  = 0x4d3cb2a1
	magicPcapNG           = 0x0a0d0d0a // section header block type, same in both byte orders
)

// Read reads a classic pcap or pcapng capture from r (told apart by their
// magic numbers) and reassembles every TCP connection in it.
func Read(r io.Reader, opt Options) (*Capture, error) {
	opt = opt.withDefaults()
	br := bufio.NewReader(r)
	head, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%w: reading magic: %w", ErrFormat, err)
	}
	var (
		link layers.LinkType
		next func() ([]byte, gopacket.CaptureInfo, error)
		// For classic pcap: the bytes pcapgo read, and what the records it
		// returned account for. pcapgo reports a file cut right after a
		// record header as a clean io.EOF; at EOF the counter has seen the
		// whole file, so a difference gives the cut record away.
		counted  *countingReader
		expected int64
	)
	switch binary.BigEndian.Uint32(head) {
	case magicPcapMicro, magicPcapMicroSwapped, magicPcapNano, magicPcapNanoSwapped:
		counted = &countingReader{r: br}
		expected = pcapFileHeaderLen
		pr, err := pcapgo.NewReader(counted)
		if err != nil {
			return nil, fmt.Errorf("%w: pcap header: %w", ErrFormat, err)
		}
		// A packet longer than the (clamped) snaplen is refused by pcapgo
		// before it allocates.
		if s := pr.Snaplen(); s == 0 || s > maxPacketBytes {
			pr.SetSnaplen(maxPacketBytes)
		}
		link, next = pr.LinkType(), pr.ZeroCopyReadPacketData
	case magicPcapNG:
		nr, err := pcapgo.NewNgReader(newNgGuard(br), pcapgo.NgReaderOptions{})
		if err != nil {
			return nil, fmt.Errorf("%w: pcapng header: %w", ErrFormat, err)
		}
		// ReadPacketData, not the zero-copy variant: that one sizes its
		// buffer from the interface's snaplen, which the guard does not bound.
		link, next = nr.LinkType(), nr.ReadPacketData
	default:
		return nil, fmt.Errorf("%w: unknown magic %x", ErrFormat, head)
	}

	d, err := newPacketDecoder(link)
	if err != nil {
		return nil, err
	}
	a := newAssembly(opt)
	c := &Capture{LinkType: link}
	for {
		data, ci, err := next()
		if err == io.EOF {
			if counted != nil && counted.n != expected {
				return nil, fmt.Errorf("%w: packet %d: record cut short", ErrFormat, c.Packets+1)
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: packet %d: %w", ErrFormat, c.Packets+1, err)
		}
		c.Packets++
		expected += pcapRecordHeaderLen + int64(ci.CaptureLength)
		netFlow, tcp, ok := d.decode(data)
		if !ok {
			c.Skipped++
			continue
		}
		a.add(netFlow, tcp, ci)
		if a.err != nil {
			return nil, a.err
		}
	}
	c.Conns, err = a.finish()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Classic pcap framing: a file header, then a header before each record.
const (
	pcapFileHeaderLen   = 24
	pcapRecordHeaderLen = 16
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// packetDecoder decodes link, network and TCP layers of one packet into
// reused layer values.
type packetDecoder struct {
	eth     layers.Ethernet
	sll     layers.LinuxSLL
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	payload gopacket.Payload
	// raw link types carry IPv4 or IPv6 with nothing in front; the first
	// nibble says which, so there is one parser per version.
	parser, parser6 *gopacket.DecodingLayerParser
	raw             bool
	decoded         []gopacket.LayerType
}

func newPacketDecoder(link layers.LinkType) (*packetDecoder, error) {
	d := &packetDecoder{}
	var first gopacket.LayerType
	switch link {
	case layers.LinkTypeEthernet:
		first = layers.LayerTypeEthernet
	case layers.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		first = layers.LayerTypeLoopback
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		first, d.raw = layers.LayerTypeIPv4, true
	default:
		return nil, fmt.Errorf("%w: unsupported link type %s (%d)", ErrFormat, link, uint8(link))
	}
	dls := []gopacket.DecodingLayer{&d.eth, &d.sll, &d.loop, &d.ip4, &d.ip6, &d.tcp, &d.payload}
	d.parser = gopacket.NewDecodingLayerParser(first, dls...)
	d.parser.IgnoreUnsupported = true
	d.parser6 = gopacket.NewDecodingLayerParser(layers.LayerTypeIPv6, dls...)
	d.parser6.IgnoreUnsupported = true
	return d, nil
}

// decode returns the network flow and TCP layer of a complete TCP packet.
func (d *packetDecoder) decode(data []byte) (gopacket.Flow, *layers.TCP, bool) {
	p := d.parser
	if d.raw && len(data) > 0 && data[0]>>4 == 6 {
		p = d.parser6
	}
	if err := p.DecodeLayers(data, &d.decoded); err != nil || p.Truncated {
		return gopacket.Flow{}, nil, false
	}
	var netFlow gopacket.Flow
	haveTCP := false
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			netFlow = d.ip4.NetworkFlow()
		case layers.LayerTypeIPv6:
			netFlow = d.ip6.NetworkFlow()
		case layers.LayerTypeTCP:
			haveTCP = true
		}
	}
	if !haveTCP || netFlow == (gopacket.Flow{}) {
		return gopacket.Flow{}, nil, false
	}
	return netFlow, &d.tcp, true
}

// assemblyContext hands the packet's capture info to the streams.
type assemblyContext struct{ ci gopacket.CaptureInfo }

func (c *assemblyContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

// assembly feeds packets to a reassembly.Assembler and collects the
// connections its stream factory creates.
type assembly struct {
	opt       Options
	assembler *reassembly.Assembler
	conns     []*tcpConn
	total     int64 // payload bytes kept, all streams
	err       error
	ctx       assemblyContext
}

// pageBytes is the size of the assembler's out-of-order pages
// (reassembly's unexported pageBytes); used to turn byte caps into page caps.
const pageBytes = 1900

func newAssembly(opt Options) *assembly { return &assembly{opt: opt} }

func (a *assembly) add(netFlow gopacket.Flow, tcp *layers.TCP, ci gopacket.CaptureInfo) {
	if a.assembler == nil {
		// Made on the first TCP packet: an assembler starts with megabytes
		// of page cache, wasted on files that hold no TCP.
		a.assembler = reassembly.NewAssembler(reassembly.NewStreamPool(a))
		// Out-of-order data waits in pages; bound them like the streams.
		a.assembler.MaxBufferedPagesPerConnection = a.opt.MaxStreamBytes/pageBytes + 1
		a.assembler.MaxBufferedPagesTotal = int(min(a.opt.MaxTotalBytes/pageBytes+1, 1<<30))
	}
	a.ctx.ci = ci
	a.assembler.AssembleWithContext(netFlow, tcp, &a.ctx)
}

// New is the reassembly.StreamFactory hook: one tcpConn per connection.
func (a *assembly) New(netFlow, tcpFlow gopacket.Flow, tcp *layers.TCP, ac reassembly.AssemblerContext) reassembly.Stream {
	src := endpoint(netFlow.Src(), tcp.SrcPort)
	dst := endpoint(netFlow.Dst(), tcp.DstPort)
	c := &tcpConn{a: a, start: ac.GetCaptureInfo().Timestamp}
	// reassembly calls the sender of the first packet "client"; tcpConn.conn
	// swaps the halves if the SYN says otherwise.
	c.half[dirIndex(reassembly.TCPDirClientToServer)].stream.From = src
	c.half[dirIndex(reassembly.TCPDirClientToServer)].stream.To = dst
	c.half[dirIndex(reassembly.TCPDirServerToClient)].stream.From = dst
	c.half[dirIndex(reassembly.TCPDirServerToClient)].stream.To = src
	a.conns = append(a.conns, c)
	return c
}

func endpoint(e gopacket.Endpoint, port layers.TCPPort) netip.AddrPort {
	addr, _ := netip.AddrFromSlice(e.Raw())
	return netip.AddrPortFrom(addr, uint16(port))
}

// finish flushes what the assembler still holds and builds the Conns.
func (a *assembly) finish() ([]*Conn, error) {
	if a.assembler == nil {
		return nil, nil
	}
	a.assembler.FlushAll()
	if a.err != nil {
		return nil, a.err
	}
	conns := make([]*Conn, 0, len(a.conns))
	for _, c := range a.conns {
		// A stray ACK after a connection was torn down makes the assembler
		// open a new, empty connection; it carries nothing worth reporting.
		if !c.synSeen && c.half[0].rawSegs == nil && c.half[1].rawSegs == nil {
			continue
		}
		conns = append(conns, c.conn())
	}
	return conns, nil
}
