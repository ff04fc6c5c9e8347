package wire

import (
	"encoding/binary"
	"fmt"
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
