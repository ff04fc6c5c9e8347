package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// The vendor messages of out-of-band query replies and UDP reachability, as
// LimeWire defined them and gtk-gnutella sends them (src/core/vmsg.c,
// doc/gnutella/out-of-band-v3). VendorLIME is vendor.go's.
var VendorGTKG = [4]byte{'G', 'T', 'K', 'G'}

const (
	// SelectorLimeACK is LIME/11, the querier's claim of OOB hits.
	SelectorLimeACK uint16 = 11
	// SelectorReplyNumber is LIME/12, the responder's "I have hits".
	SelectorReplyNumber uint16 = 12
	// SelectorUDPConnectBack is GTKG/7: "ping me over UDP at this port".
	SelectorUDPConnectBack uint16 = 7
)

// OOBTokenMaxLen is the longest OOB v3 security token gtk-gnutella takes
// from a LimeACK's GGEP "SO" (it truncates longer ones).
const OOBTokenMaxLen = 16

// OOBGUID marks a Query's GUID for out-of-band replies to addr: bytes 0-3
// are the IPv4 address, bytes 13-14 the port little-endian (gtk-gnutella's
// guid_query_oob_muid). The other bytes stay random.
func OOBGUID(g GUID, addr netip.AddrPort) (GUID, error) {
	a := addr.Addr().Unmap()
	if !a.Is4() {
		return g, fmt.Errorf("%w: oob guid: %v is not IPv4", ErrMalformed, addr)
	}
	ip := a.As4()
	copy(g[0:4], ip[:])
	binary.LittleEndian.PutUint16(g[13:], addr.Port())
	return g, nil
}

// OOBAddr returns the reply address an OOB Query's GUID names.
func (g GUID) OOBAddr() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(g[0:4])), binary.LittleEndian.Uint16(g[13:]))
}

// ReplyNumber is LIME/12: how many hits the responder holds for the Query
// whose GUID the message bears. Version 3 (Secure) answers a Query that
// carried GGEP "SO" and expects the claim to carry a token.
type ReplyNumber struct {
	Hits uint8
	// Unsolicited: the responder can receive unsolicited UDP (flag 0x1,
	// versions 2 and 3).
	Unsolicited bool
	Secure      bool
}

// DecodeReplyNumber reads a LIME/12 vendor message (versions 1 to 3).
func DecodeReplyNumber(v *Vendor) (ReplyNumber, error) {
	if v.Vendor != VendorLIME || v.Selector != SelectorReplyNumber {
		return ReplyNumber{}, fmt.Errorf("%w: reply number: not LIME/12", ErrMalformed)
	}
	var r ReplyNumber
	switch v.Version {
	case 1:
		if len(v.Body) < 1 {
			return r, fmt.Errorf("%w: reply number v1: empty body", ErrMalformed)
		}
	case 2, 3:
		if len(v.Body) < 2 {
			return r, fmt.Errorf("%w: reply number v%d: %d-byte body, want 2", ErrMalformed, v.Version, len(v.Body))
		}
		r.Unsolicited = v.Body[1]&1 != 0
		r.Secure = v.Version == 3
	default:
		return r, fmt.Errorf("%w: reply number: version %d", ErrMalformed, v.Version)
	}
	r.Hits = v.Body[0]
	if r.Hits == 0 {
		return r, fmt.Errorf("%w: reply number: no hits", ErrMalformed)
	}
	return r, nil
}

// Vendor returns r as a LIME/12 message (version 3 when Secure, else 2).
func (r ReplyNumber) Vendor() Vendor {
	v := Vendor{Vendor: VendorLIME, Selector: SelectorReplyNumber, Version: 2, Body: []byte{r.Hits, 0}}
	if r.Unsolicited {
		v.Body[1] = 1
	}
	if r.Secure {
		v.Version = 3
	}
	return v
}

// LimeACK is LIME/11: the querier wants Wanted of the hits promised for
// the GUID the message bears (255: all). Version 3 carries the OOB v3
// security token in GGEP "SO", which the hits must echo.
type LimeACK struct {
	Wanted uint8
	Token  []byte // nil in version 2
}

// DecodeLimeACK reads a LIME/11 vendor message (versions 2 and 3). A
// version-3 token longer than OOBTokenMaxLen is malformed.
func DecodeLimeACK(v *Vendor) (LimeACK, error) {
	if v.Vendor != VendorLIME || v.Selector != SelectorLimeACK {
		return LimeACK{}, fmt.Errorf("%w: lime ack: not LIME/11", ErrMalformed)
	}
	if len(v.Body) < 1 {
		return LimeACK{}, fmt.Errorf("%w: lime ack: empty body", ErrMalformed)
	}
	a := LimeACK{Wanted: v.Body[0]}
	if v.Version < 3 || len(v.Body) == 1 {
		return a, nil
	}
	var g GGEP
	if _, err := g.Decode(v.Body[1:]); err != nil {
		return a, fmt.Errorf("lime ack: %w", err)
	}
	e, ok := g.Get("SO")
	if !ok {
		return a, nil
	}
	tok, err := e.Value()
	if err != nil {
		return a, fmt.Errorf("lime ack: %w", err)
	}
	if len(tok) == 0 || len(tok) > OOBTokenMaxLen {
		return a, fmt.Errorf("%w: lime ack: %d-byte token", ErrMalformed, len(tok))
	}
	a.Token = tok
	return a, nil
}

// Vendor returns a as a LIME/11 message: version 3 with GGEP "SO" when it
// has a token, else version 2.
func (a LimeACK) Vendor() (Vendor, error) {
	v := Vendor{Vendor: VendorLIME, Selector: SelectorLimeACK, Version: 2, Body: []byte{a.Wanted}}
	if a.Token == nil {
		return v, nil
	}
	if len(a.Token) == 0 || len(a.Token) > OOBTokenMaxLen {
		return v, fmt.Errorf("%w: lime ack: %d-byte token", ErrMalformed, len(a.Token))
	}
	e, err := NewGGEPExtension("SO", a.Token, false, false)
	if err != nil {
		return v, fmt.Errorf("lime ack: %w", err)
	}
	g := GGEP{Extensions: []GGEPExtension{e}}
	if v.Body, err = g.Append(v.Body); err != nil {
		return v, fmt.Errorf("lime ack: %w", err)
	}
	v.Version = 3
	return v, nil
}

// UDPConnectBack is GTKG/7: please send a UDP Ping to Port at my address,
// with GUID as its descriptor ID, so that I learn whether unsolicited UDP
// reaches me. Version 1 carries the GUID in the body, version 2 in the
// message's own GUID (the caller passes it).
type UDPConnectBack struct {
	Port uint16
	GUID GUID
}

// DecodeUDPConnectBack reads GTKG/7 versions 1 and 2; msgGUID is the
// message's descriptor ID, the Ping GUID of version 2.
func DecodeUDPConnectBack(v *Vendor, msgGUID GUID) (UDPConnectBack, error) {
	if v.Vendor != VendorGTKG || v.Selector != SelectorUDPConnectBack {
		return UDPConnectBack{}, fmt.Errorf("%w: udp connect back: not GTKG/7", ErrMalformed)
	}
	var c UDPConnectBack
	switch v.Version {
	case 1:
		if len(v.Body) < 2+GUIDLen {
			return c, fmt.Errorf("%w: udp connect back v1: %d-byte body, want %d", ErrMalformed, len(v.Body), 2+GUIDLen)
		}
		c.GUID = GUID(v.Body[2 : 2+GUIDLen])
	case 2:
		if len(v.Body) < 2 {
			return c, fmt.Errorf("%w: udp connect back v2: %d-byte body, want 2", ErrMalformed, len(v.Body))
		}
		c.GUID = msgGUID
	default:
		return c, fmt.Errorf("%w: udp connect back: version %d", ErrMalformed, v.Version)
	}
	c.Port = le16(v.Body)
	if c.Port == 0 {
		return c, fmt.Errorf("%w: udp connect back: port 0", ErrMalformed)
	}
	return c, nil
}

// Vendor returns c as GTKG/7 version 1, the one gtk-gnutella sends.
func (c UDPConnectBack) Vendor() Vendor {
	body := binary.LittleEndian.AppendUint16(make([]byte, 0, 2+GUIDLen), c.Port)
	return Vendor{Vendor: VendorGTKG, Selector: SelectorUDPConnectBack, Version: 1, Body: append(body, c.GUID[:]...)}
}
