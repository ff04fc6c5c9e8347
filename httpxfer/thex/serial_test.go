package thex

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// readHex reads a testdata/*.hex file: hex digits, '#' comments.
func readHex(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	require.NoError(t, err)
	defer f.Close()
	var digits strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	require.NoError(t, sc.Err())
	b, err := hex.DecodeString(digits.String())
	require.NoError(t, err)
	return b
}

// gtk-gnutella's THEX bodies, fetched from a live one: our encoder writes
// the same bytes for the same file, and our decoder reads them back into
// the tree our Builder computes.
func TestDIMEMatchesGtkGnutella(t *testing.T) {
	cases := []struct {
		file  string
		size  int
		depth int
		root  string
	}{
		{"gtkg-thex-large.hex", 5243003, 5, "BMH4XVYGGJ4J4WBRSDKYRA4X5RH2N7MGARVWZWQ"},
		{"gtkg-thex-mid.hex", 300000, 1, "75A7BVX4254AOXX2T6PIHBVKD2FVZ3NOVSWVVMY"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			body := readHex(t, c.file)
			b := NewBuilder()
			b.Write(largeFile(c.size))
			ours := b.Tree()
			require.Equal(t, mustTTH(t, c.root), ours.Root())
			require.Equal(t, c.depth, ours.Depth())
			assert.Equal(t, body, ours.AppendDIME(nil), "our THEX body differs from gtk-gnutella's")

			got, err := DecodeDIME(body, int64(c.size), ours.Root())
			require.NoError(t, err)
			assert.Equal(t, ours, got)
			n, err := got.Verify(0, largeFile(c.size))
			require.NoError(t, err)
			assert.Equal(t, int64(c.size), n)
		})
	}
}

func TestDIMERoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 1024, 1025, 256 << 10, 600 << 10} {
		data := largeFile(size)
		tr := treeOf(t, data, GoodDepth(int64(size)))
		got, err := DecodeDIME(tr.AppendDIME(nil), int64(size), tr.Root())
		require.NoError(t, err, "size %d", size)
		assert.Equal(t, tr, got, "size %d", size)
	}
}

// A tree from the wire that is not the file's is refused: a tree of
// another file (its own root is not the one asked for), a tree with the
// right root whose lower levels were forged, and one whose leaves were
// changed so that they no longer hash to their parents.
func TestDecodeRefusesTreeThatDoesNotMatch(t *testing.T) {
	body := readHex(t, "gtkg-thex-large.hex")
	size := int64(5243003)
	root := mustTTH(t, "BMH4XVYGGJ4J4WBRSDKYRA4X5RH2N7MGARVWZWQ")

	other := treeOf(t, largeFile(int(size))[1:], 5) // the file shifted by one byte
	_, err := DecodeDIME(other.AppendDIME(nil), size-1, root)
	assert.ErrorIs(t, err, ErrMismatch, "another file's tree")

	recs, err := ParseDIME(body)
	require.NoError(t, err)
	nodes := recs[1].Data
	require.Len(t, nodes, 44*Size)
	for _, node := range []int{1, 2, 10, 43} {
		forged := append([]byte(nil), body...)
		off := len(body) - len(nodes) + node*Size
		forged[off+3] ^= 0x40
		_, err := DecodeDIME(forged, size, root)
		assert.ErrorIs(t, err, ErrMismatch, "node %d forged", node)
	}
	// A self-consistent tree with the right root but a forged leaf level is
	// impossible without a Tiger collision; a tree that the checks let
	// through still guards the data.
	tr, err := DecodeDIME(body, size, root)
	require.NoError(t, err)
	data := largeFile(int(size))
	data[3*tr.ChunkSize()+5]++
	_, err = tr.Verify(0, data)
	var mm *MismatchError
	require.ErrorAs(t, err, &mm)
	assert.Equal(t, 3*tr.ChunkSize(), mm.Offset)
}

// What the deployed servents send that gtk-gnutella accepts anyway.
func TestDecodeToleratesDeployedQuirks(t *testing.T) {
	data := largeFile(600 << 10) // good depth 2, full depth 10
	tr := treeOf(t, data, 2)
	body := tr.AppendDIME(nil)
	recs, err := ParseDIME(body)
	require.NoError(t, err)
	xmlRec, treeRec := recs[0], recs[1]
	rebuild := func(x, tree DIMERecord) []byte {
		x.Flags, tree.Flags = DIMEFlagMB, DIMEFlagME
		b, err := AppendDIMERecord(nil, &x)
		require.NoError(t, err)
		b, err = AppendDIMERecord(b, &tree)
		require.NoError(t, err)
		return b
	}

	// GnucDNA: the XML record cut short, so it does not parse.
	cut := xmlRec
	cut.Data = cut.Data[:len(cut.Data)-20]
	got, err := DecodeDIME(rebuild(cut, treeRec), tr.Size, tr.Root())
	require.NoError(t, err)
	assert.Equal(t, tr, got, "depth read from the node count")

	// BearShare: a stray double quote before the ID.
	quoted := treeRec
	quoted.ID = append([]byte(`"`), quoted.ID...)
	got, err = DecodeDIME(rebuild(xmlRec, quoted), tr.Size, tr.Root())
	require.NoError(t, err)
	assert.Equal(t, tr, got)

	// Shareaza: depth 9 in the XML whatever the nodes sent.
	deep := xmlRec
	deep.Data = []byte(strings.Replace(string(deep.Data), `depth="2"`, `depth="9"`, 1))
	got, err = DecodeDIME(rebuild(deep, treeRec), tr.Size, tr.Root())
	require.NoError(t, err)
	assert.Equal(t, tr, got)

	// A shallower depth in the XML than the nodes sent: keep what it says.
	shallow := xmlRec
	shallow.Data = []byte(strings.Replace(string(shallow.Data), `depth="2"`, `depth="1"`, 1))
	got, err = DecodeDIME(rebuild(shallow, treeRec), tr.Size, tr.Root())
	require.NoError(t, err)
	assert.Equal(t, 1, got.Depth())

	// Trailing nodes that fill no level, and bytes after the last record.
	extra := treeRec
	extra.Data = append(append([]byte(nil), extra.Data...), make([]byte, Size)...)
	got, err = DecodeDIME(append(rebuild(xmlRec, extra), 0, 0, 0, 0), tr.Size, tr.Root())
	require.NoError(t, err)
	assert.Equal(t, tr, got)
}

// Hostile and broken messages get an error, never a panic or a large
// allocation.
func TestDecodeRefusesBrokenMessages(t *testing.T) {
	data := largeFile(600 << 10)
	tr := treeOf(t, data, 2)
	body := tr.AppendDIME(nil)
	root := tr.Root()
	recs, err := ParseDIME(body)
	require.NoError(t, err)
	xmlLen := recs[0].dimeLen()

	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), body...)) }
	xmlWith := func(old, new string) []byte {
		x, tree := recs[0], recs[1]
		x.Data = []byte(strings.Replace(string(x.Data), old, new, 1))
		b, err := AppendDIMERecord(nil, &x)
		require.NoError(t, err)
		b, err = AppendDIMERecord(b, &tree)
		require.NoError(t, err)
		return b
	}
	cases := []struct {
		name string
		body []byte
		size int64
		err  error
	}{
		{"empty", nil, tr.Size, ErrMalformed},
		{"truncated header", body[:7], tr.Size, ErrMalformed},
		{"truncated data", body[:len(body)-1], tr.Size, ErrMalformed},
		{"no ME flag, ends", body[:xmlLen], tr.Size, ErrMalformed},
		{"version 2", edit(func(b []byte) []byte { b[0] = 2<<3 | DIMEFlagMB; return b }), tr.Size, ErrMalformed},
		{"first record without MB", edit(func(b []byte) []byte { b[0] &^= DIMEFlagMB; return b }), tr.Size, ErrMalformed},
		{"second record with MB", edit(func(b []byte) []byte { b[xmlLen] |= DIMEFlagMB; return b }), tr.Size, ErrMalformed},
		{"chunked record", edit(func(b []byte) []byte { b[0] |= DIMEFlagCF; return b }), tr.Size, ErrMalformed},
		{"data length of 4 GiB", edit(func(b []byte) []byte { binary.BigEndian.PutUint32(b[xmlLen+8:], 0xFFFFFFFF); return b }), tr.Size, ErrMalformed},
		{"tree record of 23 bytes", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[xmlLen+8:], 23)
			return b
		}), tr.Size, ErrMalformed},
		{"over MaxDIMESize", append(append([]byte(nil), body...), make([]byte, MaxDIMESize)...), tr.Size, ErrMalformed},
		{"XML for another size", xmlWith(`size="614400"`, `size="614401"`), tr.Size, ErrMalformed},
		{"asked for another size", body, tr.Size + 1, ErrMalformed},
		{"segment size 2048", xmlWith(`segmentsize="1024"`, `segmentsize="2048"`), tr.Size, ErrMalformed},
		{"SHA-1 digest", xmlWith(`digest/tiger`, `digest/sha1`), tr.Size, ErrMalformed},
		{"depth-first tree", xmlWith(`thex/breadthfirst"`, `thex/depthfirst"`), tr.Size, ErrMalformed},
		{"no tree record", edit(func(b []byte) []byte { b[0] |= DIMEFlagME; return b[:xmlLen] }), tr.Size, ErrMalformed},
		{"no XML record", edit(func(b []byte) []byte { b[xmlLen] |= DIMEFlagMB; return b[xmlLen:] }), tr.Size, ErrMalformed},
		{"negative size", body, -1, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeDIME(c.body, c.size, root)
			assert.ErrorIs(t, err, c.err)
		})
	}

	// Too many records.
	var many []byte
	for i := range MaxDIMERecords + 1 {
		r := DIMERecord{Type: []byte("x")}
		if i == 0 {
			r.Flags = DIMEFlagMB
		}
		many, err = AppendDIMERecord(many, &r)
		require.NoError(t, err)
	}
	_, err = ParseDIME(many)
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = AppendDIMERecord(nil, &DIMERecord{ID: make([]byte, 0x10000)})
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestTreeID(t *testing.T) {
	// gtk-gnutella's uuid for the large file's root, from its XML record.
	assert.Equal(t, "uuid:d7cb0f0b-3206-9e78-3158-8388d590ec97", treeID(mustTTH(t, "BMH4XVYGGJ4J4WBRSDKYRA4X5RH2N7MGARVWZWQ")))
	assert.Equal(t, "uuid:00000000-0000-0000-0000-000000000000", treeID(wire.TTH{}))
}
