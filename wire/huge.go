package wire

import (
	"encoding/base32"
	"encoding/hex"
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

// TTHLen is the size of a Tiger digest, and so of a THEX tree root.
const TTHLen = 24

// Prefixes of the urns that name a file by its Tiger tree root (THEX):
// the THEX spec's form (the empty parameter after the slash is the default
// 1024-byte segment size), the form without the slash that Direct Connect
// magnets and RAZA use, and LimeWire's. Matching is case-insensitive.
const (
	TTHPrefix        = "urn:tree:tiger/:"
	tthPrefixNoSlash = "urn:tree:tiger:"
	tthPrefix1024    = "urn:tree:tiger/1024:"
	tthPrefixTTRoot  = "urn:ttroot:"
	// BitprintPrefix starts a bitprint: SHA-1 and Tiger tree root of one file,
	// "urn:bitprint:<32 base32>.<39 base32>".
	BitprintPrefix = "urn:bitprint:"
)

// TTH is the root of a file's THEX Tiger hash tree (package httpxfer/thex
// computes and checks trees; wire only names them).
type TTH [TTHLen]byte

// Base32 returns the 39 base32 characters of the root (RFC 4648, upper
// case, no padding), as X-Thex-URI carries it.
func (t TTH) Base32() string { return base32Std.EncodeToString(t[:]) }

// String returns the THEX urn form, urn:tree:tiger/:<39 base32>.
func (t TTH) String() string { return string(t.AppendURN(nil)) }

// AppendURN appends urn:tree:tiger/:<base32> to b.
func (t TTH) AppendURN(b []byte) []byte {
	b = append(b, TTHPrefix...)
	return base32Std.AppendEncode(b, t[:])
}

// ParseTTHBase32 parses the 39 base32 characters of a Tiger tree root, in
// either case, without a urn prefix (X-Thex-URI carries it so).
func ParseTTHBase32(b []byte) (TTH, error) {
	var t TTH
	if len(b) != 39 || !decodeTTHBase32(&t, (*[39]byte)(b)) {
		return TTH{}, fmt.Errorf("%w: tiger tree root %q: want 39 base32 characters", ErrMalformed, truncateForError(b))
	}
	return t, nil
}

// URN is what a content urn names: a file's SHA-1, its Tiger tree root, or
// both (a bitprint). The zero URN names nothing.
type URN struct {
	SHA1    SHA1
	TTH     TTH
	HasSHA1 bool
	HasTTH  bool
}

// String returns the urn: urn:bitprint when both digests are known, else
// urn:sha1 or urn:tree:tiger/:; "" for the zero URN.
func (u URN) String() string { return string(u.AppendURN(nil)) }

// AppendURN appends u's urn form (see String) to b.
func (u URN) AppendURN(b []byte) []byte {
	switch {
	case u.HasSHA1 && u.HasTTH:
		b = append(b, BitprintPrefix...)
		b = base32Std.AppendEncode(b, u.SHA1[:])
		b = append(b, '.')
		return base32Std.AppendEncode(b, u.TTH[:])
	case u.HasSHA1:
		return u.SHA1.AppendURN(b)
	case u.HasTTH:
		return u.TTH.AppendURN(b)
	}
	return b
}

// ParseContentURN parses any urn that names a file's content:
//
//   - urn:sha1:<32 base32> (also without "urn:", as GGEP "u" carries it),
//   - urn:bitprint:<32 base32>.<39 base32> (SHA-1 and tree root; also
//     without "urn:"),
//   - urn:tree:tiger/:<39 base32>, urn:tree:tiger:<39 base32>,
//     urn:tree:tiger/1024:<39 base32> and LimeWire's urn:ttroot:<39 base32>.
//
// Prefixes and digits are case-insensitive. As gtk-gnutella does for urns
// found in magnet links, a SHA-1 written as 40 hex digits is accepted
// (in a bitprint, both digests in hex: 40 and 48 digits). The whole of b
// must be the urn. ParseURN remains the strict urn:sha1 parser of the
// descriptor hot path; both decode digits with the same code.
func ParseContentURN(b []byte) (URN, error) {
	var u URN
	if rest, ok := cutURNPrefix(b, URNPrefix); ok {
		if !decodeSHA1Digits(&u.SHA1, rest) {
			return URN{}, fmt.Errorf("%w: urn %q: want 32 base32 or 40 hex digits", ErrMalformed, truncateForError(b))
		}
		u.HasSHA1 = true
		return u, nil
	}
	if rest, ok := cutURNPrefix(b, BitprintPrefix); ok {
		dot := 32
		if len(rest) == 40+1+48 {
			dot = 40
		}
		if len(rest) <= dot || rest[dot] != '.' || !decodeSHA1Digits(&u.SHA1, rest[:dot]) || !decodeTTHDigits(&u.TTH, rest[dot+1:]) {
			return URN{}, fmt.Errorf("%w: bitprint %q: want <32 base32>.<39 base32>", ErrMalformed, truncateForError(b))
		}
		u.HasSHA1, u.HasTTH = true, true
		return u, nil
	}
	for _, p := range [...]string{TTHPrefix, tthPrefixNoSlash, tthPrefix1024, tthPrefixTTRoot} {
		if rest, ok := cutPrefixFold(b, p); ok {
			if len(rest) != 39 || !decodeTTHBase32(&u.TTH, (*[39]byte)(rest)) {
				return URN{}, fmt.Errorf("%w: urn %q: want 39 base32 characters", ErrMalformed, truncateForError(b))
			}
			u.HasTTH = true
			return u, nil
		}
	}
	return URN{}, fmt.Errorf("%w: urn %q: not urn:sha1, urn:bitprint or urn:tree:tiger", ErrMalformed, truncateForError(b))
}

// cutURNPrefix cuts prefix (which starts with "urn:") from b, or the same
// prefix without "urn:".
func cutURNPrefix(b []byte, prefix string) ([]byte, bool) {
	if rest, ok := cutPrefixFold(b, prefix); ok {
		return rest, true
	}
	return cutPrefixFold(b, prefix[len("urn:"):])
}

// decodeSHA1Digits decodes 32 base32 or 40 hex digits into d.
func decodeSHA1Digits(d *SHA1, b []byte) bool {
	switch len(b) {
	case 32:
		return decodeSHA1Base32(d, (*[32]byte)(b))
	case 2 * SHA1Len:
		_, err := hex.Decode(d[:], b)
		return err == nil
	}
	return false
}

// decodeTTHDigits decodes 39 base32 or 48 hex digits into t.
func decodeTTHDigits(t *TTH, b []byte) bool {
	switch len(b) {
	case 39:
		return decodeTTHBase32(t, (*[39]byte)(b))
	case 2 * TTHLen:
		_, err := hex.Decode(t[:], b)
		return err == nil
	}
	return false
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

// decodeTTHBase32 decodes the 39 base32 characters of a Tiger tree root
// into t and reports whether they were all base32. The first 32 characters
// are 20 bytes, decoded as a SHA-1's are; the last 7 carry 35 bits, of
// which the first 32 are the last 4 bytes. The 3 bits left over are
// ignored, as gtk-gnutella's decoder ignores them.
func decodeTTHBase32(t *TTH, s *[39]byte) bool {
	ok := decodeSHA1Base32((*SHA1)(t[:SHA1Len]), (*[32]byte)(s[:32]))
	var w uint64
	var bad byte
	for _, c := range s[32:] {
		v := base32Digit[c]
		bad |= v
		w = w<<5 | uint64(v)
	}
	w >>= 3
	t[20], t[21], t[22], t[23] = byte(w>>24), byte(w>>16), byte(w>>8), byte(w)
	return ok && bad < 0x20
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
