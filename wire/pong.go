package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// PongFixedLen is the size of a Pong without its GGEP block.
const PongFixedLen = 14

// Pong (0x01): port u16 LE, IPv4 (network order), files shared u32 LE,
// kilobytes shared u32 LE, then an optional GGEP block (gtk-gnutella: VC,
// UP, DU, TLS).
type Pong struct {
	Port  uint16
	Addr  netip.Addr
	Files uint32
	KB    uint32
	GGEP  GGEP
	// Trailer: bytes after the GGEP block, or after the fixed part when no
	// GGEP follows; kept raw (see Ping.Trailer).
	Trailer []byte
}

// Decode parses a Pong payload.
func (p *Pong) Decode(payload []byte) error {
	if len(payload) < PongFixedLen {
		p.GGEP.Extensions = p.GGEP.Extensions[:0]
		return fmt.Errorf("%w: pong: %d bytes, want at least %d", ErrMalformed, len(payload), PongFixedLen)
	}
	p.Port = le16(payload[0:])
	p.Addr = readIPv4(payload[2:])
	p.Files = le32(payload[6:])
	p.KB = le32(payload[10:])
	var err error
	if p.Trailer, err = decodeGGEPTail(&p.GGEP, payload[PongFixedLen:]); err != nil {
		return fmt.Errorf("pong: %w", err)
	}
	return nil
}

// Append appends the payload to b.
func (p *Pong) Append(b []byte) ([]byte, error) {
	b = binary.LittleEndian.AppendUint16(b, p.Port)
	b, err := appendIPv4(b, p.Addr)
	if err != nil {
		return b, fmt.Errorf("pong: %w", err)
	}
	b = binary.LittleEndian.AppendUint32(b, p.Files)
	b = binary.LittleEndian.AppendUint32(b, p.KB)
	return appendGGEPTail(b, &p.GGEP, p.Trailer)
}

// Len returns the payload length Append writes.
func (p *Pong) Len() int { return PongFixedLen + p.GGEP.Len() + len(p.Trailer) }

// AddrPort returns the advertised address and port.
func (p *Pong) AddrPort() netip.AddrPort { return netip.AddrPortFrom(p.Addr, p.Port) }
