package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// PushFixedLen is the size of a Push without its GGEP block.
const PushFixedLen = 26

// Push (0x40): the servent GUID of the firewalled host, the file index
// u32 LE, then where it should connect to: IPv4 (network order) and port
// u16 LE; then an optional GGEP block.
type Push struct {
	ServentGUID GUID
	Index       uint32
	Addr        netip.Addr
	Port        uint16
	GGEP        GGEP
	Trailer     []byte // bytes after the GGEP block; kept raw (see Ping.Trailer)
}

// Decode parses a Push payload.
func (p *Push) Decode(payload []byte) error {
	if len(payload) < PushFixedLen {
		p.GGEP.Extensions = p.GGEP.Extensions[:0]
		return fmt.Errorf("%w: push: %d bytes, want at least %d", ErrMalformed, len(payload), PushFixedLen)
	}
	copy(p.ServentGUID[:], payload[:GUIDLen])
	p.Index = le32(payload[16:])
	p.Addr = readIPv4(payload[20:])
	p.Port = le16(payload[24:])
	var err error
	if p.Trailer, err = decodeGGEPTail(&p.GGEP, payload[PushFixedLen:]); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	return nil
}

// Append appends the payload to b.
func (p *Push) Append(b []byte) ([]byte, error) {
	b = append(b, p.ServentGUID[:]...)
	b = binary.LittleEndian.AppendUint32(b, p.Index)
	b, err := appendIPv4(b, p.Addr)
	if err != nil {
		return b, fmt.Errorf("push: %w", err)
	}
	b = binary.LittleEndian.AppendUint16(b, p.Port)
	return appendGGEPTail(b, &p.GGEP, p.Trailer)
}

// Len returns the payload length Append writes.
func (p *Push) Len() int { return PushFixedLen + p.GGEP.Len() + len(p.Trailer) }

// AddrPort returns where the firewalled servent should connect to.
func (p *Push) AddrPort() netip.AddrPort { return netip.AddrPortFrom(p.Addr, p.Port) }

// PushServent returns the servent GUID that starts a Push payload, the
// host the Push is for, without decoding the rest: the router routes a
// Push by it. ok is false for a payload shorter than a GUID.
func PushServent(payload []byte) (g GUID, ok bool) {
	if len(payload) < GUIDLen {
		return g, false
	}
	return GUID(payload[:GUIDLen]), true
}
