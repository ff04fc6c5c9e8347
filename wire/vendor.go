package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// VendorHeaderLen is the vendor code, selector and version that start every
// vendor message (types 0x31 and 0x32).
const VendorHeaderLen = 8

// Selectors of the vendor code 0000 ("\x00\x00\x00\x00"), the capability
// announcements every vendor-message servent sends first.
const (
	SelectorMessagesSupported uint16 = 0
	SelectorFeaturesSupported uint16 = 10
)

// Vendor is a vendor message (0x31, or 0x32 "standard"): vendor code, a
// selector u16 LE and a version u16 LE that name the message, and a body
// that depends on them.
type Vendor struct {
	Vendor   [4]byte
	Selector uint16
	Version  uint16
	Body     []byte // view of the payload
}

// Decode parses a vendor message payload.
func (p *Vendor) Decode(payload []byte) error {
	if len(payload) < VendorHeaderLen {
		return fmt.Errorf("%w: vendor: %d bytes, want at least %d", ErrMalformed, len(payload), VendorHeaderLen)
	}
	p.Vendor = [4]byte(payload[:4])
	p.Selector = le16(payload[4:])
	p.Version = le16(payload[6:])
	p.Body = payload[VendorHeaderLen:]
	return nil
}

// Append appends the payload to b.
func (p *Vendor) Append(b []byte) ([]byte, error) {
	b = append(b, p.Vendor[:]...)
	b = binary.LittleEndian.AppendUint16(b, p.Selector)
	b = binary.LittleEndian.AppendUint16(b, p.Version)
	return append(b, p.Body...), nil
}

// Len returns the payload length Append writes.
func (p *Vendor) Len() int { return VendorHeaderLen + len(p.Body) }

// IsMessagesSupported reports whether p is 0000/0, Messages-Supported.
func (p *Vendor) IsMessagesSupported() bool {
	return p.Vendor == [4]byte{} && p.Selector == SelectorMessagesSupported
}

// IsFeaturesSupported reports whether p is 0000/10, Features-Supported.
func (p *Vendor) IsFeaturesSupported() bool {
	return p.Vendor == [4]byte{} && p.Selector == SelectorFeaturesSupported
}

// VendorEntry is one entry of Messages-Supported: a message this servent
// understands, as vendor/selector/version.
type VendorEntry struct {
	Vendor   [4]byte
	Selector uint16
	Version  uint16
}

const vendorEntryLen = 8

// AppendMessagesSupported parses a Messages-Supported body (count u16 LE,
// then count 8-byte entries) and appends its entries to dst. The count must
// match the body exactly, as gtk-gnutella checks.
func AppendMessagesSupported(dst []VendorEntry, body []byte) ([]VendorEntry, error) {
	n, err := supportedCount(body, vendorEntryLen, "messages-supported")
	if err != nil {
		return dst, err
	}
	for i := range n {
		e := body[2+i*vendorEntryLen:]
		dst = append(dst, VendorEntry{Vendor: [4]byte(e[:4]), Selector: le16(e[4:]), Version: le16(e[6:])})
	}
	return dst, nil
}

// FeatureEntry is one entry of Features-Supported: a 4-byte feature name
// (such as "TLS!" or "HSEP") and its version.
type FeatureEntry struct {
	Feature [4]byte
	Version uint16
}

const featureEntryLen = 6

// AppendFeaturesSupported parses a Features-Supported body (count u16 LE,
// then count 6-byte entries) and appends its entries to dst.
func AppendFeaturesSupported(dst []FeatureEntry, body []byte) ([]FeatureEntry, error) {
	n, err := supportedCount(body, featureEntryLen, "features-supported")
	if err != nil {
		return dst, err
	}
	for i := range n {
		e := body[2+i*featureEntryLen:]
		dst = append(dst, FeatureEntry{Feature: [4]byte(e[:4]), Version: le16(e[4:])})
	}
	return dst, nil
}

func supportedCount(body []byte, entryLen int, what string) (int, error) {
	if len(body) < 2 {
		return 0, fmt.Errorf("%w: %s: %d-byte body has no count", ErrMalformed, what, len(body))
	}
	n := int(le16(body))
	if len(body)-2 != n*entryLen {
		return 0, fmt.Errorf("%w: %s: count %d needs %d bytes, body has %d", ErrMalformed, what, n, n*entryLen, len(body)-2)
	}
	return n, nil
}

// NewMessagesSupported builds our Messages-Supported (0000/0 v0) message.
func NewMessagesSupported(entries []VendorEntry) (Vendor, error) {
	if len(entries) > 0xFFFF {
		return Vendor{}, fmt.Errorf("%w: messages-supported: %d entries, at most 65535", ErrMalformed, len(entries))
	}
	body := make([]byte, 0, 2+len(entries)*vendorEntryLen)
	body = binary.LittleEndian.AppendUint16(body, uint16(len(entries)))
	for _, e := range entries {
		body = append(body, e.Vendor[:]...)
		body = binary.LittleEndian.AppendUint16(body, e.Selector)
		body = binary.LittleEndian.AppendUint16(body, e.Version)
	}
	return Vendor{Selector: SelectorMessagesSupported, Body: body}, nil
}

// NewFeaturesSupported builds our Features-Supported (0000/10 v0) message.
func NewFeaturesSupported(entries []FeatureEntry) (Vendor, error) {
	if len(entries) > 0xFFFF {
		return Vendor{}, fmt.Errorf("%w: features-supported: %d entries, at most 65535", ErrMalformed, len(entries))
	}
	body := make([]byte, 0, 2+len(entries)*featureEntryLen)
	body = binary.LittleEndian.AppendUint16(body, uint16(len(entries)))
	for _, e := range entries {
		body = append(body, e.Feature[:]...)
		body = binary.LittleEndian.AppendUint16(body, e.Version)
	}
	return Vendor{Selector: SelectorFeaturesSupported, Body: body}, nil
}

// Vendor codes of the messages below.
var (
	VendorLIME = [4]byte{'L', 'I', 'M', 'E'}
	VendorGOVT = [4]byte{'G', 'O', 'V', 'T'}
)

// Push proxies (the push_proxy spec, as gtk-gnutella's vmsg.c speaks it).
//
// LIME/21 PushProxyRequest: a firewalled leaf asks its ultrapeer to take
// Pushes for it. The body is empty; the header GUID is the leaf's servent
// GUID. gtk-gnutella and LimeWire send version 1 and take either.
//
// LIME/22 PushProxyAcknowledgement: the ultrapeer accepts, under the same
// header GUID. Version 2 (what everyone sends) carries the proxy's IPv4
// address in network order and its port little-endian; version 1 carries
// only the port (the address is the link's).
const (
	SelectorPushProxyRequest uint16 = 21
	SelectorPushProxyAck     uint16 = 22
)

// NewPushProxyRequest builds LIME/21 v1. Send it with the servent GUID as
// the header GUID.
func NewPushProxyRequest() Vendor {
	return Vendor{Vendor: VendorLIME, Selector: SelectorPushProxyRequest, Version: 1}
}

// NewPushProxyAck builds LIME/22 v2 for the proxy at addr.
func NewPushProxyAck(addr netip.AddrPort) (Vendor, error) {
	body, err := appendIPv4(make([]byte, 0, 6), addr.Addr())
	if err != nil {
		return Vendor{}, fmt.Errorf("push-proxy ack: %w", err)
	}
	body = binary.LittleEndian.AppendUint16(body, addr.Port())
	return Vendor{Vendor: VendorLIME, Selector: SelectorPushProxyAck, Version: 2, Body: body}, nil
}

// PushProxyAckAddr reads a LIME/22 body: the proxy's address, or for
// version 1 the link's address (from) with the port in the body.
func PushProxyAckAddr(p *Vendor, from netip.Addr) (netip.AddrPort, error) {
	if p.Version < 2 {
		if len(p.Body) < 2 {
			return netip.AddrPort{}, fmt.Errorf("%w: push-proxy ack v%d: %d bytes, want 2", ErrMalformed, p.Version, len(p.Body))
		}
		return netip.AddrPortFrom(from, le16(p.Body)), nil
	}
	if len(p.Body) < 6 {
		return netip.AddrPort{}, fmt.Errorf("%w: push-proxy ack v%d: %d bytes, want 6", ErrMalformed, p.Version, len(p.Body))
	}
	return netip.AddrPortFrom(readIPv4(p.Body), le16(p.Body[4:])), nil
}

// Rendezvous through a relay: our own messages, vendor GOVT, version 1.
// Neither has an equivalent in another servent; the uploader's side of a
// relayed transfer is a plain Push and GIV, so it needs neither.
//
// GOVT/1 RelayRequest: a firewalled leaf that wants a file from a
// firewalled host asks its relaying ultrapeer (one that said
// X-Govent-Relay: 1) for a rendezvous slot. Body: the uploader's servent
// GUID (16 bytes). The header GUID names the request; the answer reuses it.
//
// GOVT/2 RelayGrant: the ultrapeer's answer, 27 bytes: a status byte (see
// RelayStatus), the slot's file index u32 LE, the relay's IPv4 address in
// network order and its port u16 LE (what the Push must carry), and a
// 16-byte token. When the status is RelayGranted the leaf dials the relay,
// sends "RELAY <token as 32 hex>\r\n\r\n" and waits: the relay answers with
// the uploader's GIV and from then on copies bytes both ways. The leaf
// sends the uploader a Push for its servent GUID with the slot's index and
// the relay's address; the uploader's GIV echoes both, which is how the
// relay matches it to the waiting leaf.
const (
	SelectorRelayRequest uint16 = 1
	SelectorRelayGrant   uint16 = 2
)

// RelayGrantLen is the size of a GOVT/2 body.
const RelayGrantLen = 1 + 4 + 6 + GUIDLen

// RelayStatus is the first byte of a GOVT/2 RelayGrant.
type RelayStatus uint8

// Relay grant statuses.
const (
	RelayGranted RelayStatus = iota
	RelayFull                // every relayed-transfer slot is taken
	RelayNotLeaf             // the asker is not our leaf: we relay only for our own
	RelayOff                 // we do not relay
)

func (s RelayStatus) String() string {
	switch s {
	case RelayGranted:
		return "granted"
	case RelayFull:
		return "relay full"
	case RelayNotLeaf:
		return "not our leaf"
	case RelayOff:
		return "not relaying"
	}
	return fmt.Sprintf("relay status %d", uint8(s))
}

// RelayGrant is the body of GOVT/2.
type RelayGrant struct {
	Status RelayStatus
	Index  uint32
	Relay  netip.AddrPort
	Token  GUID
}

// NewRelayRequest builds GOVT/1 v1 for a transfer from uploader.
func NewRelayRequest(uploader GUID) Vendor {
	return Vendor{Vendor: VendorGOVT, Selector: SelectorRelayRequest, Version: 1, Body: append([]byte(nil), uploader[:]...)}
}

// RelayRequestUploader reads a GOVT/1 body.
func RelayRequestUploader(p *Vendor) (GUID, error) {
	if len(p.Body) < GUIDLen {
		return GUID{}, fmt.Errorf("%w: relay request: %d bytes, want %d", ErrMalformed, len(p.Body), GUIDLen)
	}
	return GUID(p.Body[:GUIDLen]), nil
}

// NewRelayGrant builds GOVT/2 v1.
func NewRelayGrant(g RelayGrant) (Vendor, error) {
	body := make([]byte, 0, RelayGrantLen)
	body = append(body, byte(g.Status))
	body = binary.LittleEndian.AppendUint32(body, g.Index)
	body, err := appendIPv4(body, g.Relay.Addr())
	if err != nil {
		return Vendor{}, fmt.Errorf("relay grant: %w", err)
	}
	body = binary.LittleEndian.AppendUint16(body, g.Relay.Port())
	body = append(body, g.Token[:]...)
	return Vendor{Vendor: VendorGOVT, Selector: SelectorRelayGrant, Version: 1, Body: body}, nil
}

// ParseRelayGrant reads a GOVT/2 body.
func ParseRelayGrant(p *Vendor) (RelayGrant, error) {
	b := p.Body
	if len(b) < RelayGrantLen {
		return RelayGrant{}, fmt.Errorf("%w: relay grant: %d bytes, want %d", ErrMalformed, len(b), RelayGrantLen)
	}
	return RelayGrant{
		Status: RelayStatus(b[0]),
		Index:  le32(b[1:]),
		Relay:  netip.AddrPortFrom(readIPv4(b[5:]), le16(b[9:])),
		Token:  GUID(b[11 : 11+GUIDLen]),
	}, nil
}
