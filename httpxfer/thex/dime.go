package thex

import (
	"encoding/binary"
	"fmt"
)

// DIME (Direct Internet Message Encapsulation, the 2002 draft) as
// gtk-gnutella's core/dime.c writes and reads it: a message is a sequence
// of records, each a 12-byte header (version 1 in the top five bits of
// byte 0 with the MB, ME and CF flags below; the TYPE_T format in the top
// four bits of byte 1; options, ID and type lengths as big-endian uint16;
// the data length as big-endian uint32) followed by options, ID, type and
// data, each padded with zeros to a multiple of 4 bytes.
const (
	dimeVersion    = 1
	dimeHeaderSize = 12

	DIMEFlagCF = 1 << 0 // chunked: the data goes on in the next record
	DIMEFlagME = 1 << 1 // message end
	DIMEFlagMB = 1 << 2 // message begin

	DIMETypeMIME = 0x01 // Type is a media type, "text/xml"
	DIMETypeURI  = 0x02 // Type is an absolute URI

	// MaxDIMERecords bounds the records of one message; gtk-gnutella sends
	// two.
	MaxDIMERecords = 16
)

// DIMERecord is one record. Decoded records alias the message's bytes.
type DIMERecord struct {
	Flags      byte // DIMEFlag*
	TypeFormat byte // DIMEType*
	Options    []byte
	ID         []byte
	Type       []byte
	Data       []byte
}

func dimePad(n int) int { return (n + 3) &^ 3 }

// dimeLen returns the encoded size of r.
func (r *DIMERecord) dimeLen() int {
	return dimeHeaderSize + dimePad(len(r.Options)) + dimePad(len(r.ID)) + dimePad(len(r.Type)) + dimePad(len(r.Data))
}

// AppendDIMERecord appends r to b. Options, ID and type must fit 16 bits.
func AppendDIMERecord(b []byte, r *DIMERecord) ([]byte, error) {
	if len(r.Options) > 0xFFFF || len(r.ID) > 0xFFFF || len(r.Type) > 0xFFFF || uint64(len(r.Data)) > 0xFFFFFFFF {
		return b, fmt.Errorf("%w: DIME record field over its length field", ErrMalformed)
	}
	b = append(b, dimeVersion<<3|r.Flags&(DIMEFlagMB|DIMEFlagME|DIMEFlagCF), r.TypeFormat<<4)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Options)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.ID)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Type)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Data)))
	for _, f := range [...][]byte{r.Options, r.ID, r.Type, r.Data} {
		b = append(b, f...)
		b = append(b, make([]byte, dimePad(len(f))-len(f))...)
	}
	return b, nil
}

// ParseDIME parses a DIME message: records up to the one flagged ME (bytes
// after it are ignored, as gtk-gnutella ignores them). The first record
// must be flagged MB; chunked records (CF) are refused, as gtk-gnutella
// cannot use them either; every length is checked against the bytes left
// before anything is sliced, and at most MaxDIMERecords are read.
func ParseDIME(b []byte) ([]DIMERecord, error) {
	var recs []DIMERecord
	for off := 0; ; {
		if len(recs) == MaxDIMERecords {
			return nil, fmt.Errorf("%w: DIME message of over %d records", ErrMalformed, MaxDIMERecords)
		}
		r, n, err := parseDIMERecord(b[off:])
		if err != nil {
			return nil, fmt.Errorf("DIME record %d at offset %d: %w", len(recs), off, err)
		}
		if len(recs) == 0 && r.Flags&DIMEFlagMB == 0 {
			return nil, fmt.Errorf("%w: first DIME record lacks the message-begin flag", ErrMalformed)
		}
		if len(recs) > 0 && r.Flags&DIMEFlagMB != 0 {
			return nil, fmt.Errorf("%w: DIME record %d flagged message-begin", ErrMalformed, len(recs))
		}
		if r.Flags&DIMEFlagCF != 0 {
			return nil, fmt.Errorf("%w: chunked DIME record", ErrMalformed)
		}
		recs = append(recs, r)
		off += n
		if r.Flags&DIMEFlagME != 0 {
			return recs, nil
		}
	}
}

// parseDIMERecord parses the record at the start of b and returns the
// bytes it took, padding included.
func parseDIMERecord(b []byte) (DIMERecord, int, error) {
	var r DIMERecord
	if len(b) < dimeHeaderSize {
		return r, 0, fmt.Errorf("%w: %d bytes left for a %d-byte DIME header", ErrMalformed, len(b), dimeHeaderSize)
	}
	if v := b[0] >> 3; v != dimeVersion {
		return r, 0, fmt.Errorf("%w: DIME version %d, want %d", ErrMalformed, v, dimeVersion)
	}
	r.Flags = b[0] & (DIMEFlagMB | DIMEFlagME | DIMEFlagCF)
	r.TypeFormat = b[1] >> 4
	lens := [4]uint64{
		uint64(binary.BigEndian.Uint16(b[2:])),
		uint64(binary.BigEndian.Uint16(b[4:])),
		uint64(binary.BigEndian.Uint16(b[6:])),
		uint64(binary.BigEndian.Uint32(b[8:])),
	}
	off := uint64(dimeHeaderSize)
	var fields [4][]byte
	for i, l := range lens {
		padded := (l + 3) &^ 3
		if padded > uint64(len(b))-off {
			return r, 0, fmt.Errorf("%w: DIME field of %d bytes, %d left", ErrMalformed, l, uint64(len(b))-off)
		}
		fields[i] = b[off : off+l : off+l]
		off += padded
	}
	r.Options, r.ID, r.Type, r.Data = fields[0], fields[1], fields[2], fields[3]
	return r, int(off), nil
}
