package wire

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// GUIDLen is the size of a descriptor ID or servent GUID.
const GUIDLen = 16

// GUID is a 16-byte descriptor ID or servent identifier.
type GUID [GUIDLen]byte

// NewGUID returns a random GUID marked as written by a modern servent:
// byte 8 is 0xFF and byte 15 is 0x00, as the 0.6 draft asks.
func NewGUID() GUID {
	var g GUID
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(g[:])
	return Modern(g)
}

// Modern returns g marked as written by a modern servent (byte 8 0xFF,
// byte 15 0x00), the rest as it was: for GUIDs drawn from a source of the
// caller's own, such as a fuzzer's seeded one.
func Modern(g GUID) GUID {
	g[8], g[15] = 0xFF, 0x00
	return g
}

// IsModern reports whether g carries the 0.6 marker bytes.
func (g GUID) IsModern() bool { return g[8] == 0xFF && g[15] == 0x00 }

// IsZero reports whether every byte of g is zero (vendor messages use it).
func (g GUID) IsZero() bool { return g == GUID{} }

// String returns the GUID as 32 lower-case hex digits, the form used by GIV
// lines and the GUID handshake header.
func (g GUID) String() string { return hex.EncodeToString(g[:]) }

// AppendHex appends the 32 hex digits of g to b without allocating.
func (g GUID) AppendHex(b []byte) []byte { return hex.AppendEncode(b, g[:]) }

// ParseGUID parses 32 hex digits (either case).
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) != 2*GUIDLen {
		return g, fmt.Errorf("GUID %q: want %d hex digits, got %d", s, 2*GUIDLen, len(s))
	}
	if _, err := hex.Decode(g[:], []byte(s)); err != nil {
		return g, fmt.Errorf("GUID %q: %w", s, err)
	}
	return g, nil
}
