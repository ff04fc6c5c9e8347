package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/govent/govent/wire/linkzip"
)

// GGEP (Gnutella Generic Extension Protocol 0.5, doc/gnutella/GGEP in
// gtk-gnutella): a block is the magic byte 0xC3 followed by extensions, each
// a flags byte, an ID of 1..15 bytes, a data length in 1..3 chunks of six
// bits, and the data.
const (
	// GGEPMagic starts every GGEP block.
	GGEPMagic = 0xC3

	// GGEPFlagLast marks the last extension of a block. It is not kept in
	// GGEPExtension.Flags: Append sets it on the last extension.
	GGEPFlagLast = 0x80
	// GGEPFlagCOBS: the data is COBS-encoded (applied after compression).
	GGEPFlagCOBS = 0x40
	// GGEPFlagDeflate: the data is deflate-compressed (zlib format, as
	// gtk-gnutella and LimeWire write it).
	GGEPFlagDeflate = 0x20
	// GGEPFlagReserved must be 0 by the spec; a set bit is kept as received.
	GGEPFlagReserved = 0x10

	ggepKeptFlags = GGEPFlagCOBS | GGEPFlagDeflate | GGEPFlagReserved
	ggepIDLenMask = 0x0F

	// MaxGGEPIDLen is the longest extension ID (four bits of ID length).
	MaxGGEPIDLen = 15
	// MaxGGEPDataLen is the largest data length three 6-bit chunks hold.
	MaxGGEPDataLen = 1<<18 - 1
	// MaxGGEPValueLen bounds what Value inflates, so that a small deflated
	// extension cannot expand without limit. It is four times the largest
	// payload deployed servents accept.
	MaxGGEPValueLen = 256 << 10
)

// GGEPTLS, empty, says its sender takes TLS: in Pongs, in a QueryHit's
// QHD, and in a Push, where it asks for the GIV over TLS (gtk-gnutella,
// src/core/ggep_type.h).
const GGEPTLS = "TLS"

// GGEPExtension is one extension of a GGEP block. ID and Data are views of
// the decoded bytes; Data is as on the wire (still COBS-encoded and/or
// deflated when Flags says so; Value undoes both).
type GGEPExtension struct {
	ID    []byte
	Flags byte // GGEPFlagCOBS, GGEPFlagDeflate, GGEPFlagReserved; never the ID length or "last"
	Data  []byte
}

// GGEP is one GGEP block. A block with no extensions has no wire form:
// Append writes nothing for it, which is how payloads say "no GGEP".
type GGEP struct {
	Extensions []GGEPExtension
}

// Decode parses the GGEP block at the start of b and returns how many bytes
// it took: a block is delimited by its own structure (the "last" flag), not
// by what follows it. It reuses g.Extensions.
//
// Non-minimal data lengths (a leading zero chunk, such as 0x80 0x45 for 5)
// are rejected as malformed: deployed servents write minimal lengths, and
// rejecting the rest keeps Append byte-exact without remembering the form.
// ID bytes may not be NUL, as the spec says.
func (g *GGEP) Decode(b []byte) (n int, err error) {
	g.Extensions = g.Extensions[:0]
	if len(b) == 0 || b[0] != GGEPMagic {
		return 0, fmt.Errorf("%w: ggep: block does not start with magic 0x%02x", ErrMalformed, GGEPMagic)
	}
	pos := 1
	for {
		if pos >= len(b) {
			return 0, fmt.Errorf("%w: ggep: block ends before its last extension", ErrMalformed)
		}
		flags := b[pos]
		pos++
		idLen := int(flags & ggepIDLenMask)
		if idLen == 0 {
			return 0, fmt.Errorf("%w: ggep: extension at offset %d has ID length 0", ErrMalformed, pos-1)
		}
		if idLen > len(b)-pos {
			return 0, fmt.Errorf("%w: ggep: extension ID runs past the end", ErrMalformed)
		}
		id := b[pos : pos+idLen : pos+idLen]
		// A loop, not bytes.IndexByte: IDs are 1..15 bytes, shorter than
		// the call costs.
		for _, c := range id {
			if c == 0 {
				return 0, fmt.Errorf("%w: ggep: extension ID %q holds a NUL", ErrMalformed, id)
			}
		}
		pos += idLen
		// Most data lengths fit the one-chunk form (under 64 bytes): read
		// it here and leave the general form to decodeGGEPLen.
		var dataLen int
		if pos < len(b) && b[pos]&0xC0 == 0x40 {
			dataLen = int(b[pos] & 0x3F)
			pos++
		} else {
			var k int
			if dataLen, k, err = decodeGGEPLen(b[pos:]); err != nil {
				return 0, fmt.Errorf("ggep: extension %q: %w", id, err)
			}
			pos += k
		}
		if dataLen > len(b)-pos {
			return 0, fmt.Errorf("%w: ggep: extension %q: data length %d, %d bytes left", ErrMalformed, id, dataLen, len(b)-pos)
		}
		// Fill the new element in place: appending a composite literal
		// builds it on the stack and copies it, which costs more than the
		// rest of the loop.
		i := len(g.Extensions)
		if i < cap(g.Extensions) {
			g.Extensions = g.Extensions[:i+1]
		} else {
			g.Extensions = append(g.Extensions, GGEPExtension{})
		}
		e := &g.Extensions[i]
		e.ID = id
		e.Flags = flags & ggepKeptFlags
		e.Data = b[pos : pos+dataLen : pos+dataLen]
		pos += dataLen
		if flags&GGEPFlagLast != 0 {
			return pos, nil
		}
	}
}

// decodeGGEPLen reads a data length: 1..3 chunks, each 10xxxxxx ("more")
// except the last, 01xxxxxx; the 6-bit groups concatenate big-endian.
func decodeGGEPLen(b []byte) (length, n int, err error) {
	for i := range 3 {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("%w: data length runs past the end", ErrMalformed)
		}
		c := b[i]
		switch c & 0xC0 {
		case 0x40: // last chunk
			return length<<6 | int(c&0x3F), i + 1, nil
		case 0x80: // more chunks follow
			if i == 0 && c&0x3F == 0 {
				return 0, 0, fmt.Errorf("%w: non-minimal data length (leading zero chunk)", ErrMalformed)
			}
			length = length<<6 | int(c&0x3F)
		default:
			return 0, 0, fmt.Errorf("%w: bad data length chunk 0x%02x", ErrMalformed, c)
		}
	}
	return 0, 0, fmt.Errorf("%w: data length longer than 3 chunks", ErrMalformed)
}

// appendGGEPLen writes the minimal length encoding of n (0..MaxGGEPDataLen).
func appendGGEPLen(b []byte, n int) []byte {
	switch {
	case n < 1<<6:
		return append(b, 0x40|byte(n))
	case n < 1<<12:
		return append(b, 0x80|byte(n>>6), 0x40|byte(n&0x3F))
	default:
		return append(b, 0x80|byte(n>>12), 0x80|byte(n>>6&0x3F), 0x40|byte(n&0x3F))
	}
}

func ggepLenLen(n int) int {
	switch {
	case n < 1<<6:
		return 1
	case n < 1<<12:
		return 2
	default:
		return 3
	}
}

// Append appends the block to b; it writes nothing when g has no
// extensions. It fails on an ID that is empty, longer than 15 bytes or holds
// a NUL, and on data longer than MaxGGEPDataLen.
func (g *GGEP) Append(b []byte) ([]byte, error) {
	if len(g.Extensions) == 0 {
		return b, nil
	}
	b = append(b, GGEPMagic)
	for i := range g.Extensions {
		e := &g.Extensions[i]
		if err := e.check(); err != nil {
			return b, err
		}
		flags := e.Flags&ggepKeptFlags | byte(len(e.ID))
		if i == len(g.Extensions)-1 {
			flags |= GGEPFlagLast
		}
		b = append(b, flags)
		b = append(b, e.ID...)
		b = appendGGEPLen(b, len(e.Data))
		b = append(b, e.Data...)
	}
	return b, nil
}

func (e *GGEPExtension) check() error {
	if len(e.ID) == 0 || len(e.ID) > MaxGGEPIDLen || bytes.IndexByte(e.ID, 0) >= 0 {
		return fmt.Errorf("%w: ggep: extension ID %q: want 1..%d non-NUL bytes", ErrMalformed, e.ID, MaxGGEPIDLen)
	}
	if len(e.Data) > MaxGGEPDataLen {
		return fmt.Errorf("%w: ggep: extension %q: %d data bytes, at most %d", ErrMalformed, e.ID, len(e.Data), MaxGGEPDataLen)
	}
	return nil
}

// Len returns the number of bytes Append writes.
func (g *GGEP) Len() int {
	if len(g.Extensions) == 0 {
		return 0
	}
	n := 1
	for i := range g.Extensions {
		e := &g.Extensions[i]
		n += 1 + len(e.ID) + ggepLenLen(len(e.Data)) + len(e.Data)
	}
	return n
}

// Get returns the first extension whose ID is id.
func (g *GGEP) Get(id string) (GGEPExtension, bool) {
	for _, e := range g.Extensions {
		if string(e.ID) == id {
			return e, true
		}
	}
	return GGEPExtension{}, false
}

// Value returns the extension's data with the COBS encoding undone and then
// inflated, as the spec orders. Plain data is returned as the Data view
// itself; decoded data is a new slice. Inflated output over MaxGGEPValueLen
// is an error (a deflate bomb), as is data that does not decode.
func (e GGEPExtension) Value() ([]byte, error) {
	data := e.Data
	if e.Flags&GGEPFlagCOBS != 0 {
		var err error
		if data, err = COBSDecode(nil, data); err != nil {
			return nil, fmt.Errorf("ggep: extension %q: %w", e.ID, err)
		}
	}
	if e.Flags&GGEPFlagDeflate == 0 {
		return data, nil
	}
	// The bound is the bomb guard: the ratio is judged over a window larger
	// than any value.
	zr := linkzip.NewReader(bytes.NewReader(data), linkzip.ReaderConfig{MaxOutput: MaxGGEPValueLen})
	out, err := io.ReadAll(zr)
	switch {
	case errors.Is(err, linkzip.ErrTooLarge):
		return nil, fmt.Errorf("%w: ggep: extension %q inflates past %d bytes", ErrMalformed, e.ID, MaxGGEPValueLen)
	case err != nil:
		return nil, fmt.Errorf("%w: ggep: extension %q: inflate: %v", ErrMalformed, e.ID, err)
	case !zr.Finished():
		// A value is a whole zlib stream, checksum and all.
		return nil, fmt.Errorf("%w: ggep: extension %q: inflate: %v", ErrMalformed, e.ID, io.ErrUnexpectedEOF)
	}
	return out, nil
}

// NewGGEPExtension builds an extension carrying value under id, deflating
// it first when deflate is set and COBS-encoding the result when cobs is set
// (the spec's order). The Data it returns is a new slice.
func NewGGEPExtension(id string, value []byte, cobs, deflate bool) (GGEPExtension, error) {
	e := GGEPExtension{ID: []byte(id), Data: value}
	if deflate {
		z, err := linkzip.Deflate(nil, value)
		if err != nil {
			return GGEPExtension{}, fmt.Errorf("ggep: extension %q: deflate: %w", id, err)
		}
		e.Data = z
		e.Flags |= GGEPFlagDeflate
	}
	if cobs {
		e.Data = COBSEncode(nil, e.Data)
		e.Flags |= GGEPFlagCOBS
	}
	if !deflate && !cobs {
		e.Data = append([]byte(nil), value...)
	}
	if err := e.check(); err != nil {
		return GGEPExtension{}, err
	}
	return e, nil
}
