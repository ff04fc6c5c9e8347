package wire

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// HeaderLen is the size of a descriptor header.
const HeaderLen = 23

// PayloadType is the descriptor's payload descriptor byte.
type PayloadType uint8

// Payload types seen on the network. Others exist (0xCD is gtk-gnutella's
// HSEP); they are read as raw messages, skipped by length and never forwarded.
const (
	TypePing        PayloadType = 0x00
	TypePong        PayloadType = 0x01
	TypeBye         PayloadType = 0x02
	TypeQRP         PayloadType = 0x30
	TypeVendor      PayloadType = 0x31
	TypeStdVendor   PayloadType = 0x32
	TypePush        PayloadType = 0x40
	TypeQuery       PayloadType = 0x80
	TypeQueryHit    PayloadType = 0x81
	TypeHSEP        PayloadType = 0xCD
	numPayloadTypes             = 256
)

var typeNames = [numPayloadTypes]string{
	TypePing:      "PING",
	TypePong:      "PONG",
	TypeBye:       "BYE",
	TypeQRP:       "QRP",
	TypeVendor:    "VENDOR",
	TypeStdVendor: "STDVENDOR",
	TypePush:      "PUSH",
	TypeQuery:     "QUERY",
	TypeQueryHit:  "QUERYHIT",
	TypeHSEP:      "HSEP",
}

// String names the type as tools print it; unknown types print as 0xNN.
func (t PayloadType) String() string {
	if n := typeNames[t]; n != "" {
		return n
	}
	return "0x" + strconv.FormatUint(uint64(t), 16)
}

// Header is the 23-byte descriptor header.
type Header struct {
	GUID   GUID        // descriptor ID; replies reuse the request's
	Type   PayloadType // payload descriptor
	TTL    uint8       // hops left
	Hops   uint8       // hops taken
	Length uint32      // payload length, little-endian on the wire
}

// ParseHeader reads a header from the first HeaderLen bytes of b. It does not
// judge the length or TTL: limits are the reader's and the router's business.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderLen {
		return h, fmt.Errorf("%w: header needs %d bytes, have %d", ErrTruncated, HeaderLen, len(b))
	}
	h.decode((*[HeaderLen]byte)(b))
	return h, nil
}

// decode sets h from a header's bytes. The framed reader decodes into its
// Message's header in place, sparing a copy of the whole Header per
// descriptor.
func (h *Header) decode(b *[HeaderLen]byte) {
	h.GUID = GUID(b[:GUIDLen])
	h.Type = PayloadType(b[16])
	h.TTL = b[17]
	h.Hops = b[18]
	h.Length = binary.LittleEndian.Uint32(b[19:23])
}

// Append appends the 23 header bytes to b.
func (h *Header) Append(b []byte) []byte {
	b = append(b, h.GUID[:]...)
	b = append(b, byte(h.Type), h.TTL, h.Hops)
	return binary.LittleEndian.AppendUint32(b, h.Length)
}
