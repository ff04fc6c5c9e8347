package wire

import (
	"bytes"
	"encoding/base32"
	"encoding/hex"
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
