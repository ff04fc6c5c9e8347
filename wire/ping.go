package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Ping (0x00): empty, or a GGEP block (GGEP 0.5; gtk-gnutella sends SCP).
type Ping struct {
	GGEP GGEP
	// Trailer holds bytes after the GGEP block, or the whole payload when it
	// does not start with the GGEP magic. Kept raw rather than rejected:
	// old servents put other things there, and forwarding must not lose them.
	Trailer []byte
}

// Decode parses a Ping payload.
func (p *Ping) Decode(payload []byte) error {
	var err error
	p.Trailer, err = decodeGGEPTail(&p.GGEP, payload)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Append appends the payload to b.
func (p *Ping) Append(b []byte) ([]byte, error) { return appendGGEPTail(b, &p.GGEP, p.Trailer) }

// Len returns the payload length Append writes.
func (p *Ping) Len() int { return p.GGEP.Len() + len(p.Trailer) }

// decodeGGEPTail parses the optional extension block that ends Ping, Pong
// and Push: a GGEP block when rest starts with the magic, then anything left
// as a raw trailer.
func decodeGGEPTail(g *GGEP, rest []byte) (trailer []byte, err error) {
	g.Extensions = g.Extensions[:0]
	if len(rest) == 0 {
		return nil, nil
	}
	if rest[0] != GGEPMagic {
		return rest, nil
	}
	n, err := g.Decode(rest)
	if err != nil {
		return nil, err
	}
	if n == len(rest) {
		return nil, nil
	}
	return rest[n:], nil
}

func appendGGEPTail(b []byte, g *GGEP, trailer []byte) ([]byte, error) {
	if len(g.Extensions) == 0 && len(trailer) > 0 && trailer[0] == GGEPMagic {
		// It would decode as a GGEP block; only a decoded value that failed
		// to parse as one could look like this, and Decode rejects those.
		return b, fmt.Errorf("%w: raw trailer starts with the GGEP magic", ErrMalformed)
	}
	b, err := g.Append(b)
	if err != nil {
		return b, err
	}
	return append(b, trailer...), nil
}

// appendIPv4 writes a in network order; the zero Addr writes 0.0.0.0.
func appendIPv4(b []byte, a netip.Addr) ([]byte, error) {
	switch {
	case !a.IsValid():
		return append(b, 0, 0, 0, 0), nil
	case a.Is4() || a.Is4In6():
		ip := a.As4()
		return append(b, ip[:]...), nil
	default:
		return b, fmt.Errorf("%w: address %v is not IPv4", ErrMalformed, a)
	}
}

func readIPv4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
