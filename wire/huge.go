package wire

import (
	"bytes"
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
	var d SHA1
	rest, ok := cutPrefixFold(b, URNPrefix)
	if !ok {
		rest, ok = cutPrefixFold(b, URNPrefix[len("urn:"):])
	}
	if !ok {
		return d, fmt.Errorf("%w: urn %q: want prefix %s", ErrMalformed, truncateForError(b), URNPrefix)
	}
	if len(rest) != 32 {
		return d, fmt.Errorf("%w: urn %q: want 32 base32 characters, have %d", ErrMalformed, truncateForError(b), len(rest))
	}
	var up [32]byte
	for i, c := range rest {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	if n, err := base32Std.Decode(d[:], up[:]); err != nil || n != SHA1Len {
		return d, fmt.Errorf("%w: urn %q: bad base32", ErrMalformed, truncateForError(b))
	}
	return d, nil
}

// IsSHA1URN reports whether b looks like a urn:sha1 (prefix only, any case).
func IsSHA1URN(b []byte) bool {
	_, ok := cutPrefixFold(b, URNPrefix)
	return ok
}

func cutPrefixFold(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || !bytes.EqualFold(b[:len(prefix)], []byte(prefix)) {
		return b, false
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
