package wire

import (
	"bytes"
	"encoding/base32"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Vectors from gtk-gnutella's shared files (shared/testdata/gtk-gnutella/README.md).
func TestURNGolden(t *testing.T) {
	cases := []struct{ urn, hexDigest string }{
		{"urn:sha1:7GUGJ7RVJ6XJ54V2CFGBVYQJHQFR6KYF", "f9a864fe354fae9ef2ba114c1ae2093c0b1f2b05"},
		{"urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O", "ae350b9fea1ca49d4171e949ce9e6213cc010bae"},
		{"urn:sha1:M26QHSCJJMCTM5EQANTXFQTJUOMRAXMC", "66bd03c8494b05367490036772c269a399105d82"},
	}
	for _, c := range cases {
		want, err := hex.DecodeString(c.hexDigest)
		require.NoError(t, err)
		got, err := ParseURN(c.urn)
		require.NoError(t, err, c.urn)
		assert.Equal(t, want, got[:], c.urn)
		assert.Equal(t, c.urn, got.String())
		lower, err := ParseURN("URN:SHA1:" + c.urn[len(URNPrefix):])
		require.NoError(t, err)
		assert.Equal(t, got, lower, "prefix is case-insensitive")
	}
}

// The hand-written base32 decoder against encoding/base32 (upper-casing
// first, as HUGE allows either case): every byte value at every digit
// position of a real urn parses to the same digest or fails in both.
func TestURNDigitsMatchEncodingBase32(t *testing.T) {
	ref := base32.StdEncoding.WithPadding(base32.NoPadding)
	digits := []byte("VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O")
	for pos := range digits {
		for c := range 256 {
			in := bytes.Clone(digits)
			in[pos] = byte(c)
			want, err := ref.DecodeString(string(bytes.ToUpper(in)))
			wantOK := err == nil && len(want) == SHA1Len // a newline is skipped, leaving 19 bytes
			got, err := ParseURNBytes(append([]byte("urn:sha1:"), in...))
			if !assert.Equal(t, wantOK, err == nil, "byte 0x%02x at %d", c, pos) {
				continue
			}
			if wantOK {
				assert.Equal(t, want, got[:], "byte 0x%02x at %d", c, pos)
			} else {
				assert.ErrorIs(t, err, ErrMalformed)
			}
		}
	}
	lower, err := ParseURN("urn:sha1:vy2qxh7kdssj2qlr5fe45htccpgacc5o")
	require.NoError(t, err)
	upper, err := ParseURN("urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O")
	require.NoError(t, err)
	assert.Equal(t, upper, lower, "digits are case-insensitive")
}

// The ASCII prefix match against bytes.EqualFold: every byte value at every
// position of the prefix.
func TestCutPrefixFoldMatchesEqualFold(t *testing.T) {
	for pos := range len(URNPrefix) {
		for c := range 256 {
			in := []byte(URNPrefix + "X")
			in[pos] = byte(c)
			rest, ok := cutPrefixFold(in, URNPrefix)
			assert.Equal(t, bytes.EqualFold(in[:len(URNPrefix)], []byte(URNPrefix)), ok, "byte 0x%02x at %d", c, pos)
			if ok {
				assert.Equal(t, []byte("X"), rest)
			}
		}
	}
	_, ok := cutPrefixFold([]byte("urn:sha1"), URNPrefix)
	assert.False(t, ok, "shorter than the prefix")
}

func TestURNRejects(t *testing.T) {
	for name, s := range map[string]string{
		"empty":        "",
		"no prefix":    "7GUGJ7RVJ6XJ54V2CFGBVYQJHQFR6KYF",
		"short":        "urn:sha1:7GUGJ7RVJ6XJ54V2CFGBVYQJHQFR6KY",
		"long":         "urn:sha1:7GUGJ7RVJ6XJ54V2CFGBVYQJHQFR6KYFA",
		"bad alphabet": "urn:sha1:7GUGJ7RVJ6XJ54V2CFGBVYQJHQFR6KY1",
		"other hash":   "urn:bitprint:7GUGJ7RVJ6XJ54V2CFGBVYQJHQFR6KYF",
	} {
		_, err := ParseURN(s)
		assert.ErrorIs(t, err, ErrMalformed, name)
	}
}

func TestHeaderGolden(t *testing.T) {
	// f12 of leaf-deflate.pcap: PING ttl 1 hops 0, len 0.
	raw, err := hex.DecodeString("3e15e4d8ff83a34effa0de67115fe600" + "00" + "01" + "00" + "00000000")
	require.NoError(t, err)
	h, err := ParseHeader(raw)
	require.NoError(t, err)
	assert.Equal(t, "3e15e4d8ff83a34effa0de67115fe600", h.GUID.String())
	assert.Equal(t, TypePing, h.Type)
	assert.EqualValues(t, 1, h.TTL)
	assert.EqualValues(t, 0, h.Hops)
	assert.EqualValues(t, 0, h.Length)
	assert.Equal(t, raw, h.Append(nil))

	// Length is little-endian: 0x00000102 = 258.
	raw[19], raw[20] = 0x02, 0x01
	h, err = ParseHeader(raw)
	require.NoError(t, err)
	assert.EqualValues(t, 258, h.Length)

	_, err = ParseHeader(raw[:22])
	assert.ErrorIs(t, err, ErrTruncated)
}

func TestHeaderParseAllocs(t *testing.T) {
	raw := make([]byte, HeaderLen)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseHeader(raw); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

func TestNewGUIDMarkers(t *testing.T) {
	a, b := NewGUID(), NewGUID()
	assert.True(t, a.IsModern())
	assert.NotEqual(t, a, b)
	p, err := ParseGUID(a.String())
	require.NoError(t, err)
	assert.Equal(t, a, p)
	_, err = ParseGUID("xyz")
	assert.Error(t, err)
	_, err = ParseGUID("zz" + a.String()[2:])
	assert.Error(t, err)
}

// penny lane.mp3 in the gtk-gnutella captures: urn:sha1 and the TTH root
// from its X-Thex-URI (shared/testdata/gtk-gnutella/README.md).
const (
	pennySHA1Hex = "ae350b9fea1ca49d4171e949ce9e6213cc010bae"
	pennySHA1B32 = "VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O"
	pennyTTHB32  = "3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI"
)

func TestParseContentURN(t *testing.T) {
	sha1, err := hex.DecodeString(pennySHA1Hex)
	require.NoError(t, err)
	ref := base32.StdEncoding.WithPadding(base32.NoPadding)
	tth, err := ref.DecodeString(pennyTTHB32)
	require.NoError(t, err)
	var both URN
	copy(both.SHA1[:], sha1)
	copy(both.TTH[:], tth)
	both.HasSHA1, both.HasTTH = true, true
	onlySHA1 := URN{SHA1: both.SHA1, HasSHA1: true}
	onlyTTH := URN{TTH: both.TTH, HasTTH: true}
	lowerTTH := strings.ToLower(pennyTTHB32)

	good := []struct {
		name, in string
		want     URN
		canon    string
	}{
		{"sha1", "urn:sha1:" + pennySHA1B32, onlySHA1, "urn:sha1:" + pennySHA1B32},
		{"sha1 upper prefix, lower digits", "URN:SHA1:" + strings.ToLower(pennySHA1B32), onlySHA1, "urn:sha1:" + pennySHA1B32},
		{"sha1 without urn: (GGEP u)", "sha1:" + pennySHA1B32, onlySHA1, "urn:sha1:" + pennySHA1B32},
		{"sha1 in hex, as some magnet sites write it", "urn:sha1:" + pennySHA1Hex, onlySHA1, "urn:sha1:" + pennySHA1B32},
		{"bitprint", "urn:bitprint:" + pennySHA1B32 + "." + pennyTTHB32, both, "urn:bitprint:" + pennySHA1B32 + "." + pennyTTHB32},
		{"bitprint any case", "Urn:BitPrint:" + pennySHA1B32 + "." + lowerTTH, both, "urn:bitprint:" + pennySHA1B32 + "." + pennyTTHB32},
		{"bitprint without urn:", "bitprint:" + pennySHA1B32 + "." + pennyTTHB32, both, "urn:bitprint:" + pennySHA1B32 + "." + pennyTTHB32},
		{"bitprint in hex", "urn:bitprint:" + pennySHA1Hex + "." + hex.EncodeToString(tth), both, "urn:bitprint:" + pennySHA1B32 + "." + pennyTTHB32},
		{"tree:tiger/: (THEX)", "urn:tree:tiger/:" + pennyTTHB32, onlyTTH, "urn:tree:tiger/:" + pennyTTHB32},
		{"tree:tiger: (DC++, RAZA)", "urn:tree:tiger:" + lowerTTH, onlyTTH, "urn:tree:tiger/:" + pennyTTHB32},
		{"tree:tiger/1024:", "urn:tree:tiger/1024:" + pennyTTHB32, onlyTTH, "urn:tree:tiger/:" + pennyTTHB32},
		{"ttroot (LimeWire)", "urn:ttroot:" + pennyTTHB32, onlyTTH, "urn:tree:tiger/:" + pennyTTHB32},
	}
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseContentURN([]byte(c.in))
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
			assert.Equal(t, c.canon, got.String())
			again, err := ParseContentURN([]byte(got.String()))
			require.NoError(t, err)
			assert.Equal(t, got, again)
		})
	}

	bad := []struct{ name, in string }{
		{"empty", ""},
		{"no digits", "urn:sha1:"},
		{"short sha1", "urn:sha1:" + pennySHA1B32[:31]},
		{"long sha1", "urn:sha1:" + pennySHA1B32 + "A"},
		{"sha1 with a digit outside base32", "urn:sha1:" + pennySHA1B32[:31] + "1"},
		{"sha1 hex with a non-hex digit", "urn:sha1:" + pennySHA1Hex[:39] + "g"},
		{"bitprint without the dot", "urn:bitprint:" + pennySHA1B32 + pennyTTHB32},
		{"bitprint with a short tree root", "urn:bitprint:" + pennySHA1B32 + "." + pennyTTHB32[:38]},
		{"bitprint mixing hex and base32", "urn:bitprint:" + pennySHA1Hex + "." + pennyTTHB32},
		{"tree root of 38 digits", "urn:tree:tiger/:" + pennyTTHB32[:38]},
		{"tree root of 40 digits", "urn:tree:tiger/:" + pennyTTHB32 + "A"},
		{"tree root with a newline", "urn:tree:tiger/:" + pennyTTHB32[:20] + "\n" + pennyTTHB32[21:]},
		{"segment size other than 1024", "urn:tree:tiger/2048:" + pennyTTHB32},
		{"unknown urn", "urn:md5:" + pennySHA1B32},
		{"trailing space", "urn:sha1:" + pennySHA1B32 + " "},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseContentURN([]byte(c.in))
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
	assert.Equal(t, "", URN{}.String(), "the zero URN names nothing")
}

// The tree-root decoder against encoding/base32, as for urn:sha1: every byte
// value at every digit position, and the 3 bits past the 24 bytes that the
// last digit carries are ignored.
func TestTTHDigitsMatchEncodingBase32(t *testing.T) {
	ref := base32.StdEncoding.WithPadding(base32.NoPadding)
	digits := []byte(pennyTTHB32)
	for pos := range digits {
		for c := range 256 {
			in := bytes.Clone(digits)
			in[pos] = byte(c)
			want, err := ref.DecodeString(string(bytes.ToUpper(in)))
			wantOK := err == nil && len(want) == TTHLen
			got, err := ParseTTHBase32(in)
			if !assert.Equal(t, wantOK, err == nil, "byte 0x%02x at %d", c, pos) {
				continue
			}
			if wantOK {
				assert.Equal(t, want, got[:], "byte 0x%02x at %d", c, pos)
				assert.Equal(t, strings.ToUpper(ref.EncodeToString(got[:])), got.Base32())
			} else {
				assert.ErrorIs(t, err, ErrMalformed)
			}
		}
	}
}
