package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// AddrPortLen is one IPv4 address and port as GGEP packs them in vectors
// ("PUSH" in QueryHits, "IPP" in Pongs): the address in network order, the
// port little-endian.
const AddrPortLen = 6

// GGEPPush is the QueryHit extension that lists a firewalled servent's push
// proxies (push_proxy spec, section 4.1).
const GGEPPush = "PUSH"

// ParseAddrPorts reads a vector of AddrPortLen-byte entries. A length that
// is not a multiple of AddrPortLen is malformed.
func ParseAddrPorts(b []byte) ([]netip.AddrPort, error) {
	if len(b)%AddrPortLen != 0 {
		return nil, fmt.Errorf("%w: address vector of %d bytes is not a multiple of %d", ErrMalformed, len(b), AddrPortLen)
	}
	out := make([]netip.AddrPort, 0, len(b)/AddrPortLen)
	for ; len(b) > 0; b = b[AddrPortLen:] {
		out = append(out, netip.AddrPortFrom(readIPv4(b), le16(b[4:])))
	}
	return out, nil
}

// AppendAddrPorts appends the vector form of addrs; an address that is not
// IPv4 is an error.
func AppendAddrPorts(b []byte, addrs []netip.AddrPort) ([]byte, error) {
	for _, a := range addrs {
		var err error
		if b, err = appendIPv4(b, a.Addr()); err != nil {
			return b, fmt.Errorf("address vector: %w", err)
		}
		b = binary.LittleEndian.AppendUint16(b, a.Port())
	}
	return b, nil
}
