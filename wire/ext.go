package wire

import (
	"bytes"
	"fmt"
)

// ExtSeparator (0x1C, ASCII file separator) separates the blocks of an
// extension area (HUGE 0.94, GGEP appendix B).
const ExtSeparator = 0x1C

// ExtKind says what an extension-area block holds, judged by its first bytes.
type ExtKind uint8

const (
	ExtRaw  ExtKind = iota // anything else, kept as it came
	ExtGGEP                // a GGEP block (starts with 0xC3)
	ExtSHA1                // urn:sha1:<32 base32> that parses
	ExtURN                 // other "urn:" text: other hashes, or a bare "urn:sha1:" asking for urns
	ExtXML                 // XML metadata (starts with '<', or '{' for the compressed forms)
)

var extKindNames = [...]string{ExtRaw: "raw", ExtGGEP: "ggep", ExtSHA1: "sha1", ExtURN: "urn", ExtXML: "xml"}

func (k ExtKind) String() string {
	if int(k) < len(extKindNames) {
		return extKindNames[k]
	}
	return "ext?"
}

// ExtBlock is one block of an extension area.
type ExtBlock struct {
	Kind ExtKind
	// Data is the block's bytes, a view of the payload, without the
	// separator. Append writes it for every kind except ExtGGEP, which is
	// written from GGEP so that a built block needs no Data.
	Data []byte
	// Sep: a 0x1C follows the block. A block ends without one at the area's
	// end, at its NUL, or (GGEP only) where the next block starts directly.
	Sep  bool
	SHA1 SHA1 // the digest, for ExtSHA1
	GGEP GGEP // the parsed block, for ExtGGEP
}

// ExtArea is the extension area of a Query (after the search criteria) or of
// a QueryHit result (after the file name). It follows the co-existence
// algorithm of GGEP appendix B: a block starting with the GGEP magic is
// delimited by its own structure (so COBS-less GGEP data holding 0x1C or NUL
// still parses), any other block runs to the next 0x1C or NUL or the end.
// A block that starts with 0xC3 but is not a sound GGEP block makes the area
// malformed: deployed servents write GGEP correctly, and a raw fallback
// would hide real corruption.
type ExtArea struct {
	Blocks []ExtBlock
	// Terminated: the area ended with a NUL (always, in a QueryHit result;
	// in a Query, gtk-gnutella sends one and others may not).
	Terminated bool
}

// NewSHA1Block returns an ExtSHA1 block for d, as "urn:sha1:<base32>".
func NewSHA1Block(d SHA1) ExtBlock {
	return ExtBlock{Kind: ExtSHA1, Data: d.AppendURN(nil), SHA1: d}
}

// nextBlock extends a.Blocks by one, reusing the slot's nested GGEP slice.
func (a *ExtArea) nextBlock() *ExtBlock {
	n := len(a.Blocks)
	if n < cap(a.Blocks) {
		a.Blocks = a.Blocks[:n+1]
	} else {
		a.Blocks = append(a.Blocks, ExtBlock{})
	}
	blk := &a.Blocks[n]
	exts := blk.GGEP.Extensions[:0]
	*blk = ExtBlock{}
	blk.GGEP.Extensions = exts
	return blk
}

// decode parses an area at the start of b and returns the bytes it took,
// the terminating NUL included. With needNUL (QueryHit results) the area
// must end with a NUL before b ends; otherwise it may run to the end of b.
func (a *ExtArea) decode(b []byte, needNUL bool) (int, error) {
	a.Blocks = a.Blocks[:0]
	a.Terminated = false
	pos := 0
	for {
		if pos == len(b) {
			if needNUL {
				return 0, fmt.Errorf("%w: extension area has no terminating NUL", ErrMalformed)
			}
			return pos, nil
		}
		if b[pos] == 0 {
			a.Terminated = true
			return pos + 1, nil
		}
		blk := a.nextBlock()
		if b[pos] == GGEPMagic {
			n, err := blk.GGEP.Decode(b[pos:])
			if err != nil {
				return 0, fmt.Errorf("extension area offset %d: %w", pos, err)
			}
			blk.Kind = ExtGGEP
			blk.Data = b[pos : pos+n : pos+n]
			pos += n
		} else if blk.decodeSHA1(b[pos:]) {
			pos += urnLen
		} else {
			// Two IndexByte scans (vectorised) beat one loop testing both
			// bytes.
			end := len(b)
			if i := bytes.IndexByte(b[pos:], ExtSeparator); i >= 0 {
				end = pos + i
			}
			if i := bytes.IndexByte(b[pos:end], 0); i >= 0 {
				end = pos + i
			}
			blk.Data = b[pos:end:end]
			blk.classify()
			pos = end
		}
		if pos < len(b) && b[pos] == ExtSeparator {
			blk.Sep = true
			pos++
		}
	}
}

// decodeSHA1 reports whether b starts with a whole urn:sha1 block: the urn
// (41 bytes), then the end of b, a 0x1C or a NUL. If so it sets blk to it.
// It is the block every QueryHit result and many Queries carry, and knowing
// it by its length spares scanning it for its end: the prefix and the base32
// digits hold no 0x1C or NUL.
func (blk *ExtBlock) decodeSHA1(b []byte) bool {
	if len(b) < urnLen || len(b) > urnLen && b[urnLen] != ExtSeparator && b[urnLen] != 0 {
		return false
	}
	if !IsSHA1URN(b) || !decodeSHA1Base32(&blk.SHA1, (*[32]byte)(b[len(URNPrefix):urnLen])) {
		blk.SHA1 = SHA1{}
		return false
	}
	blk.Kind = ExtSHA1
	blk.Data = b[:urnLen:urnLen]
	return true
}

// classify judges a block that is not GGEP and not a sound urn:sha1 (see
// decodeSHA1) by its first bytes.
func (blk *ExtBlock) classify() {
	d := blk.Data
	switch {
	case len(d) == 0:
		blk.Kind = ExtRaw
	case hasURNPrefix(d):
		blk.Kind = ExtURN
	case d[0] == '<' || d[0] == '{':
		blk.Kind = ExtXML
	default:
		blk.Kind = ExtRaw
	}
}

// hasURNPrefix reports whether d starts with "urn:" in any case.
func hasURNPrefix(d []byte) bool {
	_, ok := cutPrefixFold(d, "urn:")
	return ok
}

// appendArea writes the blocks, then a NUL when terminate is set. A
// non-GGEP block may not hold a NUL or a 0x1C (it would end early on
// decoding), so Append refuses one.
func (a *ExtArea) appendArea(b []byte, terminate bool) ([]byte, error) {
	for i := range a.Blocks {
		blk := &a.Blocks[i]
		if blk.Kind == ExtGGEP {
			var err error
			if b, err = blk.GGEP.Append(b); err != nil {
				return b, err
			}
		} else {
			if bytes.IndexByte(blk.Data, 0) >= 0 || bytes.IndexByte(blk.Data, ExtSeparator) >= 0 {
				return b, fmt.Errorf("%w: extension block %d (%v) holds a NUL or 0x1C", ErrMalformed, i, blk.Kind)
			}
			b = append(b, blk.Data...)
		}
		if blk.Sep {
			b = append(b, ExtSeparator)
		}
	}
	if terminate {
		b = append(b, 0)
	}
	return b, nil
}

func (a *ExtArea) areaLen(terminate bool) int {
	n := 0
	for i := range a.Blocks {
		blk := &a.Blocks[i]
		if blk.Kind == ExtGGEP {
			n += blk.GGEP.Len()
		} else {
			n += len(blk.Data)
		}
		if blk.Sep {
			n++
		}
	}
	if terminate {
		n++
	}
	return n
}

// appendSHA1s appends the digests of the area's urn:sha1 blocks to dst.
func (a *ExtArea) appendSHA1s(dst []SHA1) []SHA1 {
	for i := range a.Blocks {
		if a.Blocks[i].Kind == ExtSHA1 {
			dst = append(dst, a.Blocks[i].SHA1)
		}
	}
	return dst
}

// SHA1 returns the area's SHA-1: the first urn:sha1 text block's, else the
// one a GGEP "H" or a urn:bitprint text block carries (see URN).
func (a *ExtArea) SHA1() (SHA1, bool) {
	for i := range a.Blocks {
		if a.Blocks[i].Kind == ExtSHA1 {
			return a.Blocks[i].SHA1, true
		}
	}
	u := a.URN()
	return u.SHA1, u.HasSHA1
}

// GGEP returns the area's first GGEP block, or nil.
func (a *ExtArea) GGEP() *GGEP {
	for i := range a.Blocks {
		if a.Blocks[i].Kind == ExtGGEP {
			return &a.Blocks[i].GGEP
		}
	}
	return nil
}
