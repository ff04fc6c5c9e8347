package wire

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// GGEP "H" as gtk-gnutella writes it (qhit.c: ggep_stream_begin with
// GGEP_W_COBS, the type byte, the digests): the golden bytes of the GGEP
// block in a result's extension area, then the round trip through a
// QueryHit.
func TestGGEPHashGolden(t *testing.T) {
	sha1 := SHA1(bytes.Repeat([]byte{0x11}, SHA1Len))
	tth := TTH(bytes.Repeat([]byte{0x22}, TTHLen))
	for _, tc := range []struct {
		name   string
		u      URN
		golden []byte
	}{
		{"sha1", URN{SHA1: sha1, HasSHA1: true},
			append([]byte{0xC3, 0xC1, 'H', 0x40 | 22, 22, GGEPHashSHA1}, sha1[:]...)},
		{"bitprint", URN{SHA1: sha1, HasSHA1: true, TTH: tth, HasTTH: true},
			append(append([]byte{0xC3, 0xC1, 'H', 0x40 | 46, 46, GGEPHashBitprint}, sha1[:]...), tth[:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewGGEPHash(tc.u)
			require.NoError(t, err)
			g := GGEP{Extensions: []GGEPExtension{h}}
			b, err := g.Append(nil)
			require.NoError(t, err)
			assert.Equal(t, tc.golden, b)

			qh := QueryHit{Port: 6346, Addr: netip.MustParseAddr("192.0.2.1"), Speed: 1,
				Results: []Result{{Index: 1, Size: 10, Name: []byte("f"),
					Ext: ExtArea{Blocks: []ExtBlock{{Kind: ExtGGEP, GGEP: g}}, Terminated: true}}}}
			p, err := qh.Append(nil)
			require.NoError(t, err)
			assert.True(t, bytes.Contains(p, tc.golden))
			var back QueryHit
			require.NoError(t, back.Decode(p))
			require.Len(t, back.Results, 1)
			assert.Equal(t, tc.u, back.Results[0].Ext.URN())
			d, ok := back.Results[0].Ext.SHA1()
			assert.True(t, ok, "SHA1 reads the H too")
			assert.Equal(t, sha1, d)
		})
	}
}

// The area's URN merges what its blocks say, first of each kind winning,
// and passes over an H of another type or length.
func TestExtAreaURN(t *testing.T) {
	sha1 := SHA1(bytes.Repeat([]byte{0x11}, SHA1Len))
	other := SHA1(bytes.Repeat([]byte{0x33}, SHA1Len))
	tth := TTH(bytes.Repeat([]byte{0x22}, TTHLen))
	md5, err := NewGGEPExtension("H", append([]byte{0x03}, make([]byte, 16)...), true, false)
	require.NoError(t, err)
	short, err := NewGGEPExtension("H", []byte{0x01, 1, 2}, false, false)
	require.NoError(t, err)
	tt, err := NewGGEPExtension("TT", tth[:], false, false)
	require.NoError(t, err)
	ggep := func(e GGEPExtension) ExtBlock {
		return ExtBlock{Kind: ExtGGEP, GGEP: GGEP{Extensions: []GGEPExtension{e}}}
	}
	bp := URN{SHA1: other, HasSHA1: true, TTH: tth, HasTTH: true}
	for _, tc := range []struct {
		name   string
		blocks []ExtBlock
		want   URN
	}{
		{"urn text wins over H", []ExtBlock{NewSHA1Block(sha1), ggep(mustHash(t, bp))}, URN{SHA1: sha1, HasSHA1: true, TTH: tth, HasTTH: true}},
		{"bitprint text", []ExtBlock{{Kind: ExtURN, Data: bp.AppendURN(nil)}}, bp},
		{"md5 H skipped", []ExtBlock{ggep(md5)}, URN{}},
		{"short H skipped", []ExtBlock{ggep(short)}, URN{}},
		{"LimeWire TT", []ExtBlock{NewSHA1Block(sha1), ggep(tt)}, URN{SHA1: sha1, HasSHA1: true, TTH: tth, HasTTH: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := ExtArea{Blocks: tc.blocks}
			assert.Equal(t, tc.want, a.URN())
		})
	}
}

func mustHash(t *testing.T, u URN) GGEPExtension {
	h, err := NewGGEPHash(u)
	require.NoError(t, err)
	return h
}
