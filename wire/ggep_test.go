package wire

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The boundary cases of the GGEP spec's "Length Encoding" section.
func TestGGEPLengthBoundaries(t *testing.T) {
	for _, c := range []struct {
		name   string
		n      int
		header string // the length bytes, from the spec
	}{
		{"0", 0, "40"},
		{"63", 63, "7f"},
		{"64", 64, "8140"},
		{"4095", 4095, "bf7f"},
		{"4096", 4096, "818040"},
		{"max 262143", MaxGGEPDataLen, "bfbf7f"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := bytes.Repeat([]byte{'a'}, c.n)
			// magic, flags (last, ID length 1), ID "X", length, data, then a
			// byte that is not part of the block.
			block := cat(mustHex(t, "c3 81 58"), mustHex(t, c.header), data)
			in := cat(block, []byte{0xEE})

			var g GGEP
			n, err := g.Decode(in)
			require.NoError(t, err)
			assert.Equal(t, len(block), n, "bytes consumed")
			require.Len(t, g.Extensions, 1)
			assert.Equal(t, "X", string(g.Extensions[0].ID))
			assert.Len(t, g.Extensions[0].Data, c.n)
			assert.Equal(t, len(block), g.Len())
			out, err := g.Append(nil)
			require.NoError(t, err)
			assert.Equal(t, block, out)
		})
	}
}

func TestGGEPAppendRejects(t *testing.T) {
	for name, e := range map[string]GGEPExtension{
		"data one over the max": {ID: []byte("X"), Data: make([]byte, MaxGGEPDataLen+1)},
		"empty ID":              {ID: nil},
		"16-byte ID":            {ID: bytes.Repeat([]byte{'I'}, 16)},
		"NUL in ID":             {ID: []byte{'A', 0}},
	} {
		t.Run(name, func(t *testing.T) {
			g := GGEP{Extensions: []GGEPExtension{e}}
			_, err := g.Append(nil)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
	var empty GGEP
	out, err := empty.Append([]byte{1})
	require.NoError(t, err)
	assert.Equal(t, []byte{1}, out, "a block without extensions has no wire form")
	assert.Zero(t, empty.Len())
}

func TestGGEPDecodeRejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":                       "",
		"no magic":                    "c2 81 41 40",
		"magic only":                  "c3",
		"ID length 0":                 "c3 80 40",
		"ID runs past the end":        "c3 83 41 42",
		"NUL in ID":                   "c3 82 41 00 40",
		"length chunk without bits":   "c3 81 41 05",
		"length chunk with both bits": "c3 81 41 c5",
		"non-minimal length":          "c3 81 41 80 45 61 61 61 61 61",
		"four length chunks":          "c3 81 41 81 80 80 40",
		"length runs past the end":    "c3 81 41 81",
		"data runs past the end":      "c3 81 41 45 61 61",
		"no last extension":           "c3 01 41 40",
		"second extension cut":        "c3 01 41 40 82 42",
	} {
		t.Run(name, func(t *testing.T) {
			var g GGEP
			_, err := g.Decode(mustHex(t, in))
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

// Odd flag bits are kept and written back; "last" and the ID length are
// not kept in Flags but recomputed.
func TestGGEPKeepsFlags(t *testing.T) {
	in := mustHex(t, "c3 11 41 40  62 4242 41 01  81 43 40")
	var g GGEP
	n, err := g.Decode(in)
	require.NoError(t, err)
	require.Equal(t, len(in), n)
	require.Len(t, g.Extensions, 3)
	assert.Equal(t, byte(GGEPFlagReserved), g.Extensions[0].Flags)
	assert.Equal(t, byte(GGEPFlagCOBS|GGEPFlagDeflate), g.Extensions[1].Flags)
	assert.Zero(t, g.Extensions[2].Flags)
	out, err := g.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, in, out)
}

// Decoding into a used GGEP reuses its elements; nothing of the old block
// may show through (the decoder fills reused slots field by field).
func TestGGEPDecodeReuseLeavesNothingStale(t *testing.T) {
	var g GGEP
	_, err := g.Decode(mustHex(t, "c3 11 41 40  62 4242 41 01  81 43 40"))
	require.NoError(t, err)
	in := mustHex(t, "c3 81 44 41 7a")
	n, err := g.Decode(in)
	require.NoError(t, err)
	assert.Equal(t, len(in), n)
	assert.Equal(t, []GGEPExtension{{ID: []byte("D"), Data: []byte("z")}}, g.Extensions)
}

func TestGGEPGet(t *testing.T) {
	var g GGEP
	_, err := g.Decode(mustHex(t, "c3 02 5655 41 01  82 5550 42 0203"))
	require.NoError(t, err)
	e, ok := g.Get("UP")
	require.True(t, ok)
	assert.Equal(t, []byte{2, 3}, e.Data)
	_, ok = g.Get("U")
	assert.False(t, ok, "IDs compare whole")
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := g.Get("UP"); !ok {
			t.Fatal("lost UP")
		}
	})
	require.Zero(t, allocs)
}

func zlibBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// syncFlushed is b deflated as a link sends it: sync-flushed, never
// finished. A GGEP value must be a whole zlib stream.
func syncFlushed(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Flush())
	return buf.Bytes()
}

func badChecksum(z []byte) []byte {
	z[len(z)-1] ^= 1
	return z
}

func TestGGEPValue(t *testing.T) {
	text := bytes.Repeat([]byte("gnutella "), 40)
	deflated := zlibBytes(t, text)

	plain := GGEPExtension{ID: []byte("X"), Data: []byte{1, 2, 3}}
	v, err := plain.Value()
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3}, v)

	cobs := GGEPExtension{ID: []byte("X"), Flags: GGEPFlagCOBS, Data: []byte{0x02, 0x11, 0x01}}
	v, err = cobs.Value()
	require.NoError(t, err)
	assert.Equal(t, []byte{0x11, 0x00}, v)

	zl := GGEPExtension{ID: []byte("X"), Flags: GGEPFlagDeflate, Data: deflated}
	v, err = zl.Value()
	require.NoError(t, err)
	assert.Equal(t, text, v)

	both := GGEPExtension{ID: []byte("X"), Flags: GGEPFlagDeflate | GGEPFlagCOBS, Data: COBSEncode(nil, deflated)}
	v, err = both.Value()
	require.NoError(t, err)
	assert.Equal(t, text, v)
}

func TestGGEPValueRejects(t *testing.T) {
	bomb := zlibBytes(t, make([]byte, MaxGGEPValueLen+1))
	require.Less(t, len(bomb), MaxGGEPDataLen, "the bomb fits in one extension")
	for name, e := range map[string]GGEPExtension{
		"deflate bomb":       {ID: []byte("X"), Flags: GGEPFlagDeflate, Data: bomb},
		"not zlib":           {ID: []byte("X"), Flags: GGEPFlagDeflate, Data: []byte("hello")},
		"cut deflate stream": {ID: []byte("X"), Flags: GGEPFlagDeflate, Data: zlibBytes(t, []byte("hello, hello"))[:6]},
		"bad COBS":           {ID: []byte("X"), Flags: GGEPFlagCOBS, Data: []byte{0x05, 0x11}},
		"no data":            {ID: []byte("X"), Flags: GGEPFlagDeflate},
		"stops at a flush":   {ID: []byte("X"), Flags: GGEPFlagDeflate, Data: syncFlushed(t, []byte("hello"))},
		"bad checksum":       {ID: []byte("X"), Flags: GGEPFlagDeflate, Data: badChecksum(zlibBytes(t, []byte("hello")))},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.Value()
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
	exact := GGEPExtension{ID: []byte("X"), Flags: GGEPFlagDeflate, Data: zlibBytes(t, make([]byte, MaxGGEPValueLen))}
	v, err := exact.Value()
	require.NoError(t, err, "exactly the limit is allowed")
	assert.Len(t, v, MaxGGEPValueLen)
}

func TestNewGGEPExtension(t *testing.T) {
	value := []byte{0x00, 0x01, 0x00, 0x02, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
	for _, c := range []struct {
		name          string
		cobs, deflate bool
	}{{"plain", false, false}, {"cobs", true, false}, {"deflate", false, true}, {"deflate then cobs", true, true}} {
		t.Run(c.name, func(t *testing.T) {
			e, err := NewGGEPExtension("TT", value, c.cobs, c.deflate)
			require.NoError(t, err)
			assert.Equal(t, c.cobs, e.Flags&GGEPFlagCOBS != 0)
			assert.Equal(t, c.deflate, e.Flags&GGEPFlagDeflate != 0)
			if c.cobs {
				assert.Equal(t, -1, bytes.IndexByte(e.Data, 0), "COBS data holds no NUL")
			}
			got, err := e.Value()
			require.NoError(t, err)
			assert.Equal(t, value, got)

			// Through a block and back.
			b, err := (&GGEP{Extensions: []GGEPExtension{e}}).Append(nil)
			require.NoError(t, err)
			var g GGEP
			_, err = g.Decode(b)
			require.NoError(t, err)
			got, err = g.Extensions[0].Value()
			require.NoError(t, err)
			assert.Equal(t, value, got)
		})
	}
	_, err := NewGGEPExtension("", nil, false, false)
	assert.ErrorIs(t, err, ErrMalformed)
	e, err := NewGGEPExtension("X", value, false, false)
	require.NoError(t, err)
	e.Data[0] = 0xFF
	assert.Equal(t, byte(0), value[0], "the extension owns its data")
}

// TestGGEPLengthChunkWithoutFlagBits: a data length chunk with neither the
// "more" nor the "last" bit (0x05) is malformed even when enough data
// follows for the length it would read as, so a decoder that took any
// chunk without "more" as the last one fails here.
func TestGGEPLengthChunkWithoutFlagBits(t *testing.T) {
	var g GGEP
	_, err := g.Decode(mustHex(t, "c3 81 41 05 61 61 61 61 61"))
	assert.ErrorIs(t, err, ErrMalformed)
	assert.Empty(t, g.Extensions)
	_, err = g.Decode(mustHex(t, "c3 81 41 45 61 61 61 61 61"))
	require.NoError(t, err, "the same block with the last bit set is fine")
	assert.Equal(t, []byte("aaaaa"), g.Extensions[0].Data)
}

// TestNewGGEPExtensionDeflateBytes pins the deflated Data that
// NewGGEPExtension built before its zlib writer moved to linkzip: a
// regression pin of our own output, not a vector from the spec (what a
// peer must accept is TestGGEPValue's).
func TestNewGGEPExtensionDeflateBytes(t *testing.T) {
	for _, c := range []struct {
		name  string
		value []byte
		cobs  bool
		data  string
	}{
		{"empty", nil, false, "789c010000ffff00000001"},
		{"short", []byte{0x00, 0x01, 0x00, 0x02, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}, false, "789c626064604a840240000000ffff0dcd030c"},
		{"zeros, then COBS", make([]byte, 300), true, "09789c621805440340010105ffff012c0201"},
		{"text", bytes.Repeat([]byte("gnutella "), 40), false, "789c4acf2b2d49cdc949541865d09401080000ffff82de8b61"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := NewGGEPExtension("Z", c.value, c.cobs, true)
			require.NoError(t, err)
			assert.Equal(t, c.data, hex.EncodeToString(e.Data))
		})
	}
}
