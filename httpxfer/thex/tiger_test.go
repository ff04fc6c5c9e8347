package thex

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// authorsWords turns a digest as the Tiger authors print it (three 64-bit
// words in hex, most significant byte first) into the digest's bytes: each
// word is stored little-endian.
func authorsWords(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	for _, w := range strings.Fields(s) {
		b, err := hex.DecodeString(w)
		require.NoError(t, err)
		require.Len(t, b, 8)
		for i := 7; i >= 0; i-- {
			out = append(out, b[i])
		}
	}
	require.Len(t, out, Size)
	return out
}

// The test vectors on the Tiger authors' page (Anderson and Biham,
// "Tiger: A Fast New Hash Function", testresults for Tiger/192, in their
// word format), and NESSIE's million 'a'. The same values come from
// `rhash --tiger` and from gtk-gnutella's tiger.o (see testdata/).
func TestTigerPublishedVectors(t *testing.T) {
	seq64K := make([]byte, 65536)
	for i := range seq64K {
		seq64K[i] = byte(i)
	}
	alpha := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-"
	tiger := "Tiger - A Fast New Hash Function, by Ross Anderson and Eli Biham"
	cases := []struct {
		name, in, words string
	}{
		{"empty", "", "24F0130C63AC9332 16166E76B1BB925F F373DE2D49584E7A"},
		{"abc", "abc", "F258C1E88414AB2A 527AB541FFC5B8BF 935F7B951C132951"},
		{"Tiger", "Tiger", "9F00F599072300DD 276ABB38C8EB6DEC 37790C116F9D2BDF"},
		{"64 bytes, one block", alpha, "87FB2A9083851CF7 470D2CF810E6DF9E B586445034A5A386"},
		{"64 bytes, other order", "ABCDEFGHIJKLMNOPQRSTUVWXYZ=abcdefghijklmnopqrstuvwxyz+0123456789", "467DB80863EBCE48 8DF1CD1261655DE9 57896565975F9197"},
		{"64 bytes of the title", tiger, "0C410A042968868A 1671DA5A3FD29A72 5EC1E457D3CDB303"},
		{"119 bytes", tiger + ", proceedings of Fast Software Encryption 3, Cambridge.", "EBF591D5AFA655CE 7F22894FF87F54AC 89C811B6B0DA3193"},
		{"125 bytes", tiger + ", proceedings of Fast Software Encryption 3, Cambridge, 1996.", "3D9AEB03D1BD1A63 57B2774DFD6D5B24 DD68151D503974FC"},
		{"128 bytes, two blocks", alpha + alpha, "00B83EB4E53440C5 76AC6AAEE0A74858 25FD15E70A59FFE4"},
		{"64 KiB of 0..255", string(seq64K), "8EF43951B3F5F4FD 1D41AFE51B420E71 0462F233C3AAA8E1"},
		// NESSIE prints digests as bytes, not words.
		{"NESSIE: a million 'a'", strings.Repeat("a", 1000000), "nessie:6DB0E2729CBEAD93D715C6A7D36302E9B3CEE0D2BC314B41"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want []byte
			if nessie, ok := strings.CutPrefix(c.words, "nessie:"); ok {
				var err error
				want, err = hex.DecodeString(nessie)
				require.NoError(t, err)
			} else {
				want = authorsWords(t, c.words)
			}
			got := Tiger([]byte(c.in))
			assert.Equal(t, want, got[:])
			// Written in pieces that straddle the 64-byte blocks, through
			// the hasher the tree uses.
			var h digest
			h.Reset()
			for p := []byte(c.in); len(p) > 0; {
				n := min(len(p), 1+len(p)%61)
				h.Write(p[:n])
				p = p[n:]
			}
			assert.Equal(t, want, h.Sum(nil))
		})
	}
}

// THEX uses the original Tiger, padded with 0x01; Tiger2 pads with 0x80
// and gives other digests (the Tiger2 empty-string digest is
// 4441BE75F6018773C206C22745374B924AA8313FEF919F41).
func TestTigerIsNotTiger2(t *testing.T) {
	tiger2Empty, err := hex.DecodeString("4441be75f6018773c206c22745374b924aa8313fef919f41")
	require.NoError(t, err)
	got := Tiger(nil)
	assert.False(t, bytes.Equal(tiger2Empty, got[:]))
}

func TestHashingAllocatesNothing(t *testing.T) {
	block := make([]byte, 8*BlockSize)
	var l, r = leaf(block[:BlockSize]), leaf(block[:7])
	nodes := make([]wire.TTH, 8)
	allocs := testing.AllocsPerRun(100, func() {
		l = leaf(block[:BlockSize])
		r = parent(&l, &r)
		l, r = leafPair(block[:BlockSize], block[BlockSize:2*BlockSize])
		leaves(nodes, block)
		parents(nodes[:0], nodes)
	})
	assert.Zero(t, allocs)
}
