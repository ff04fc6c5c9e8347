package wire

import (
	"encoding/base32"
	"fmt"
)

// SHA1Len is the size of a SHA-1 digest.
const SHA1Len = 20

// URNPrefix starts every HUGE SHA-1 urn; matching is case-insensitive.
const URNPrefix = "urn:sha1:"

// urnLen is len("urn:sha1:") plus 32 base32 characters.
const urnLen = len(URNPrefix) + 32

// SHA1 is a file's 20-byte SHA-1 digest, the key of HUGE urns.
type SHA1 [SHA1Len]byte

// HUGE uses RFC 4648 base32, upper case, without padding (20 bytes are 32
// characters exactly, so there is none).
var base32Std = base32.StdEncoding.WithPadding(base32.NoPadding)

// String returns the urn form: urn:sha1:<32 base32 characters>.
func (s SHA1) String() string { return string(s.AppendURN(nil)) }

// Base32 returns the 32 base32 characters alone.
func (s SHA1) Base32() string { return base32Std.EncodeToString(s[:]) }

// AppendURN appends urn:sha1:<base32> to b.
func (s SHA1) AppendURN(b []byte) []byte {
	b = append(b, URNPrefix...)
	return base32Std.AppendEncode(b, s[:])
}

// ParseURN parses "urn:sha1:<32 base32>" (prefix and digits in either case;
// the older "sha1:" form without "urn:" is accepted too, as servents send it).
func ParseURN(s string) (SHA1, error) { return ParseURNBytes([]byte(s)) }

// ParseURNBytes is ParseURN for a byte slice; it does not allocate.
func ParseURNBytes(b []byte) (SHA1, error) {
	rest, ok := cutPrefixFold(b, URNPrefix)
	if !ok {
		rest, ok = cutPrefixFold(b, URNPrefix[len("urn:"):])
	}
	if !ok {
		return SHA1{}, fmt.Errorf("%w: urn %q: want prefix %s", ErrMalformed, truncateForError(b), URNPrefix)
	}
	if len(rest) != 32 {
		return SHA1{}, fmt.Errorf("%w: urn %q: want 32 base32 characters, have %d", ErrMalformed, truncateForError(b), len(rest))
	}
	var d SHA1
	if !decodeSHA1Base32(&d, (*[32]byte)(rest)) {
		return SHA1{}, fmt.Errorf("%w: urn %q: bad base32", ErrMalformed, truncateForError(b))
	}
	return d, nil
}

// base32Digit maps an RFC 4648 base32 character, in either case, to its
// 5-bit value; everything else maps to 0xFF.
var base32Digit = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for v, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" {
		t[c] = byte(v)
		t[c|0x20] = byte(v) // lower case; '2'..'7' already have the bit
	}
	return t
}()

// decodeSHA1Base32 decodes the 32 base32 characters of a urn:sha1 into d
// and reports whether they were all base32 (d is garbage otherwise). Every
// QueryHit result and most Queries carry one, so this is on the hot path of
// the reader: a table lookup per character and a 40-bit word per 8
// characters, rather than encoding/base32 with a case-folding copy first.
// Characters outside the alphabet (newlines included, which encoding/base32
// would skip) make it fail. It writes through d rather than returning an
// array: the byte stores followed by a wide copy stall the CPU.
func decodeSHA1Base32(d *SHA1, s *[32]byte) bool {
	var bad byte
	for g := range 4 {
		// Eight characters are 40 bits, five output bytes. The lookups are
		// combined as a tree, not shifted in one by one, so that they do
		// not wait on each other.
		c := s[g*8 : g*8+8]
		v0, v1, v2, v3 := base32Digit[c[0]], base32Digit[c[1]], base32Digit[c[2]], base32Digit[c[3]]
		v4, v5, v6, v7 := base32Digit[c[4]], base32Digit[c[5]], base32Digit[c[6]], base32Digit[c[7]]
		bad |= v0 | v1 | v2 | v3 | v4 | v5 | v6 | v7
		w := uint64(v0)<<35 | uint64(v1)<<30 | uint64(v2)<<25 | uint64(v3)<<20 |
			uint64(v4)<<15 | uint64(v5)<<10 | uint64(v6)<<5 | uint64(v7)
		o := d[g*5 : g*5+5]
		o[0], o[1], o[2], o[3], o[4] = byte(w>>32), byte(w>>24), byte(w>>16), byte(w>>8), byte(w)
	}
	// Valid digits are below 0x20, so one invalid character sets a high
	// bit (and garbles w, but then d is not used).
	return bad < 0x20
}

// IsSHA1URN reports whether b looks like a urn:sha1 (prefix only, any case).
func IsSHA1URN(b []byte) bool {
	_, ok := cutPrefixFold(b, URNPrefix)
	return ok
}

// cutPrefixFold cuts prefix (lower case ASCII) from the start of b,
// matching ASCII letters in either case. It is bytes.EqualFold for an ASCII
// prefix (a multi-byte rune in b can never match one ASCII byte), without
// the rune decoding.
func cutPrefixFold(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) {
		return b, false
	}
	for i := range len(prefix) {
		c, p := b[i], prefix[i]
		// OR-ing 0x20 lowers an upper-case letter; only the two cases of
		// a letter map to a lower-case letter p.
		if c != p && (c|0x20 != p || p < 'a' || p > 'z') {
			return b, false
		}
	}
	return b[len(prefix):], true
}

// truncateForError keeps error messages short when the input is hostile.
func truncateForError(b []byte) []byte {
	const max = 64
	if len(b) > max {
		return b[:max]
	}
	return b
}
