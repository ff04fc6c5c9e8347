package capture

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/reassembly"
)

// dirIndex maps reassembly's direction (first packet's sender = "client") to
// an index into tcpConn.half.
func dirIndex(d reassembly.TCPFlowDirection) int {
	if d == reassembly.TCPDirClientToServer {
		return 0
	}
	return 1
}

// rawSegment is one data-carrying TCP segment as seen in Accept, before its
// stream offset is known.
type rawSegment struct {
	seq  uint32
	time time.Time
}

// tcpHalf is one direction while the capture is being read.
type tcpHalf struct {
	stream  Stream
	base    uint32 // sequence number of the first data byte
	started bool   // base is known
	rawSegs []rawSegment
}

// tcpConn is the reassembly.Stream for one connection.
type tcpConn struct {
	a       *assembly
	start   time.Time
	half    [2]tcpHalf
	synSeen bool
	// opener is the index of the half whose sender opened the connection.
	opener int
}

// Accept takes every packet: the capture is what it is, and a stricter
// state machine would only drop bytes. It learns where each direction's
// byte stream starts, notes when data-carrying segments arrived, and forces
// the start of streams whose SYN is not in the capture.
func (c *tcpConn) Accept(tcp *layers.TCP, ci gopacket.CaptureInfo, dir reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, ac reassembly.AssemblerContext) bool {
	i := dirIndex(dir)
	h := &c.half[i]
	switch {
	case tcp.SYN:
		// A bare SYN comes from the opener, a SYN-ACK goes to it.
		c.synSeen, c.opener = true, i
		if tcp.ACK {
			c.opener = 1 - i
		}
		if !h.started {
			h.base, h.started = tcp.Seq+1, true
		}
	case !h.started && len(tcp.Payload) > 0:
		h.base, h.started = tcp.Seq, true
		*start = true
	}
	if len(tcp.Payload) > 0 {
		h.rawSegs = append(h.rawSegs, rawSegment{seq: tcp.Seq, time: ci.Timestamp})
	}
	h.stream.FIN = h.stream.FIN || tcp.FIN
	h.stream.RST = h.stream.RST || tcp.RST
	return true
}

// ReassembledSG appends in-order bytes to the direction's stream, up to the
// per-stream and total caps. After a hole nothing more is kept: later bytes
// would sit at the wrong offsets.
func (c *tcpConn) ReassembledSG(sg reassembly.ScatterGather, ac reassembly.AssemblerContext) {
	dir, _, _, skip := sg.Info()
	s := &c.half[dirIndex(dir)].stream
	length, _ := sg.Lengths()
	if skip > 0 && length > 0 {
		s.Gap = true
	}
	if s.Gap || s.Overflow || length == 0 || c.a.err != nil {
		return
	}
	data := sg.Fetch(length)
	if room := c.a.opt.MaxStreamBytes - len(s.Data); len(data) > room {
		data = data[:room]
		s.Overflow = true
	}
	c.a.total += int64(len(data))
	if c.a.total > c.a.opt.MaxTotalBytes {
		c.a.err = fmt.Errorf("%w: more than %d bytes of TCP payload", ErrCaptureTooLarge, c.a.opt.MaxTotalBytes)
		return
	}
	s.Data = append(s.Data, data...)
}

// ReassemblyComplete lets the pool forget the connection once both sides
// closed, so that a later connection on the same ports starts afresh.
func (c *tcpConn) ReassemblyComplete(ac reassembly.AssemblerContext) bool {
	return true
}

// conn builds the Conn, with the halves ordered by who sent the SYN.
func (c *tcpConn) conn() *Conn {
	for i := range c.half {
		c.half[i].finishTimeline()
	}
	client, server := &c.half[0], &c.half[1]
	if c.synSeen && c.opener == 1 {
		client, server = server, client
	}
	return &Conn{
		Client:     client.stream.From,
		Server:     client.stream.To,
		SYN:        c.synSeen,
		Start:      c.start,
		FromClient: client.stream,
		FromServer: server.stream,
	}
}

// finishTimeline turns the sequence numbers of the data segments into offsets
// of the kept bytes. Retransmissions land on offsets already seen; the first
// arrival wins.
func (h *tcpHalf) finishTimeline() {
	segs := make(Timeline, 0, len(h.rawSegs))
	for _, r := range h.rawSegs {
		// uint32 arithmetic handles the sequence wrap; kept streams are far
		// shorter than 4 GiB.
		off := int(r.seq - h.base)
		if off < len(h.stream.Data) {
			segs = append(segs, Segment{Offset: off, Time: r.time})
		}
	}
	slices.SortStableFunc(segs, func(a, b Segment) int {
		if a.Offset != b.Offset {
			return a.Offset - b.Offset
		}
		return a.Time.Compare(b.Time)
	})
	segs = slices.CompactFunc(segs, func(a, b Segment) bool { return a.Offset == b.Offset })
	h.stream.Timeline = segs
	h.rawSegs = nil
}
