package wire

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seq returns the bytes from, from+1, ..., to (inclusive).
func seq(from, to int) []byte {
	var b []byte
	for c := from; c <= to; c++ {
		b = append(b, byte(c))
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// The classic COBS examples (Cheshire and Baker; the same table is in every
// COBS implementation's tests).
var cobsCases = []struct {
	name    string
	decoded []byte
	encoded []byte
}{
	{"empty", []byte{}, []byte{0x01}},
	{"one NUL", []byte{0x00}, []byte{0x01, 0x01}},
	{"two NULs", []byte{0x00, 0x00}, []byte{0x01, 0x01, 0x01}},
	{"NUL around a byte", []byte{0x00, 0x11, 0x00}, []byte{0x01, 0x02, 0x11, 0x01}},
	{"NUL inside", []byte{0x11, 0x22, 0x00, 0x33}, []byte{0x03, 0x11, 0x22, 0x02, 0x33}},
	{"no NUL", []byte{0x11, 0x22, 0x33, 0x44}, []byte{0x05, 0x11, 0x22, 0x33, 0x44}},
	{"trailing NULs", []byte{0x11, 0x00, 0x00, 0x00}, []byte{0x02, 0x11, 0x01, 0x01, 0x01}},
	{"254 non-NUL bytes: no final code", seq(0x01, 0xFE), cat([]byte{0xFF}, seq(0x01, 0xFE))},
	{"NUL then 254 bytes", seq(0x00, 0xFE), cat([]byte{0x01, 0xFF}, seq(0x01, 0xFE))},
	{"255 non-NUL bytes", seq(0x01, 0xFF), cat([]byte{0xFF}, seq(0x01, 0xFE), []byte{0x02, 0xFF})},
	{"254 bytes then NUL", cat(seq(0x02, 0xFF), []byte{0x00}), cat([]byte{0xFF}, seq(0x02, 0xFF), []byte{0x01, 0x01})},
	{"253 bytes, NUL, byte", cat(seq(0x03, 0xFF), []byte{0x00, 0x01}), cat([]byte{0xFE}, seq(0x03, 0xFF), []byte{0x02, 0x01})},
}

func TestCOBSClassicCases(t *testing.T) {
	for _, c := range cobsCases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.encoded, COBSEncode(nil, c.decoded))
			got, err := COBSDecode(nil, c.encoded)
			require.NoError(t, err)
			assert.Equal(t, c.decoded, append([]byte{}, got...))
		})
	}
}

func TestCOBSAppends(t *testing.T) {
	assert.Equal(t, []byte{0xAA, 0x03, 0x11, 0x22, 0x02, 0x33}, COBSEncode([]byte{0xAA}, []byte{0x11, 0x22, 0x00, 0x33}))
	got, err := COBSDecode([]byte{0xAA}, []byte{0x02, 0x11, 0x01})
	require.NoError(t, err)
	assert.Equal(t, []byte{0xAA, 0x11, 0x00}, got)
}

// The paper's encoder writes a final 0x01 after a full 0xFF run; the
// decoder must read both forms the same.
func TestCOBSDecodesPaperForm(t *testing.T) {
	got, err := COBSDecode(nil, cat([]byte{0xFF}, seq(0x01, 0xFE), []byte{0x01}))
	require.NoError(t, err)
	assert.Equal(t, seq(0x01, 0xFE), got)
}

func TestCOBSRejects(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty input":         {},
		"NUL code":            {0x00},
		"NUL code later":      {0x02, 0x11, 0x00},
		"code past the end":   {0x05, 0x11, 0x22},
		"NUL in data":         {0x03, 0x11, 0x00},
		"0xFF run cut short":  cat([]byte{0xFF}, seq(0x01, 0x10)),
		"second code too far": {0x01, 0x03, 0x11},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := COBSDecode(nil, in)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestCOBSRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		src := make([]byte, rng.IntN(700))
		for i := range src {
			// Plenty of NULs and long non-NUL runs both.
			if rng.IntN(4) == 0 {
				src[i] = 0
			} else {
				src[i] = byte(rng.IntN(256))
			}
		}
		enc := COBSEncode(nil, src)
		assert.Equal(t, -1, bytes.IndexByte(enc, 0), "no NUL in COBS output")
		dec, err := COBSDecode(nil, enc)
		require.NoError(t, err)
		assert.Equal(t, src, append([]byte{}, dec...))
	}
}
