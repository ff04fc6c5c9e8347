package capture

import (
	"encoding/binary"
	"fmt"

	"github.com/govent/govent/wire"
)

// Gnutella2 in captures. Shareaza and other G2 servents open with the same
// "GNUTELLA CONNECT/0.6" as Gnutella, ask for "Accept:
// application/x-gnutella2", and a side that agrees says "Content-Type:
// application/x-gnutella2" in its block; what it sends after that block is
// G2 packets, not Gnutella descriptors. A flow that says so is
// KindGnutella2 and its packets are walked by G2Packets.

// g2ContentType is the protocol a G2 block names.
const g2ContentType = "application/x-gnutella2"

// carriesG2 reports whether a sender's blocks say that G2 follows.
func carriesG2(heads []*wire.Handshake) bool {
	for _, h := range heads {
		if h.HasToken("Content-Type", g2ContentType) {
			return true
		}
	}
	return false
}

// G2Packet is one top-level G2 packet of a stream.
type G2Packet struct {
	Offset   int    // of its control byte in the stream
	Name     string // "PI", "LNI", "KHL", "Q2", ...
	Length   int    // of its payload (children included)
	Compound bool   // the payload starts with child packets
}

// maxG2Packets bounds the packets G2Packets returns, as the descriptor
// scanner's callers bound theirs.
const maxG2Packets = 1 << 16

// G2Packets walks the top-level packets of a G2 stream (the G2 packet
// format: a control byte with the sizes of the length and name fields and
// the compound and big-endian flags, the length, the name, the payload). A
// zero control byte ends a stream. It stops at the first packet cut short,
// with an error.
func G2Packets(b []byte) ([]G2Packet, error) {
	var out []G2Packet
	for off := 0; off < len(b); {
		if len(out) == maxG2Packets {
			return out, fmt.Errorf("over %d G2 packets", maxG2Packets)
		}
		cb := b[off]
		if cb == 0 {
			return out, nil
		}
		lenLen, nameLen := int(cb>>6), int(cb>>3&7)+1
		head := 1 + lenLen + nameLen
		if off+head > len(b) {
			return out, fmt.Errorf("%w: G2 packet header at offset %d", wire.ErrTruncated, off)
		}
		var lb [4]byte
		length := 0
		if cb&0x02 != 0 { // big-endian length
			copy(lb[4-lenLen:], b[off+1:off+1+lenLen])
			length = int(binary.BigEndian.Uint32(lb[:]))
		} else {
			copy(lb[:], b[off+1:off+1+lenLen])
			length = int(binary.LittleEndian.Uint32(lb[:]))
		}
		if length > len(b)-off-head {
			return out, fmt.Errorf("%w: G2 packet /%s at offset %d wants %d bytes", wire.ErrTruncated,
				b[off+1+lenLen:off+head], off, length)
		}
		out = append(out, G2Packet{Offset: off, Name: string(b[off+1+lenLen : off+head]), Length: length, Compound: cb&0x04 != 0})
		off += head + length
	}
	return out, nil
}
