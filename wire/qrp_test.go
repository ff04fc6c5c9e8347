package wire_test

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// specBytes parses the QRP spec's appendix notation: hex bytes separated by
// spaces, leading zero dropped ("0 30 1 0 d").
func specBytes(t testing.TB, s string) []byte {
	t.Helper()
	var out []byte
	for f := range strings.FieldsSeq(s) {
		v, err := strconv.ParseUint(f, 16, 8)
		require.NoError(t, err, f)
		out = append(out, byte(v))
	}
	return out
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// Appendix A of the QRP spec (the reference Java implementation's tests).
func TestQRPHashSpecVectors(t *testing.T) {
	cases := []struct {
		word string
		bits uint8
		want uint32
	}{
		{"", 13, 0}, {"eb", 13, 6791}, {"ebc", 13, 7082}, {"ebck", 13, 6698},
		{"ebckl", 13, 3179}, {"ebcklm", 13, 3235}, {"ebcklme", 13, 6438},
		{"ebcklmen", 13, 1062}, {"ebcklmenq", 13, 3527},
		{"", 16, 0}, {"n", 16, 65003}, {"nd", 16, 54193}, {"ndf", 16, 4953},
		{"ndfl", 16, 58201}, {"ndfla", 16, 34830}, {"ndflal", 16, 36910},
		{"ndflale", 16, 34586}, {"ndflalem", 16, 37658}, {"ndflaleme", 16, 45559},
		{"ol2j34lj", 10, 318}, {"asdfas23", 10, 503}, {"9um3o34fd", 10, 758},
		{"a234d", 10, 281}, {"a3f", 10, 767}, {"3nja9", 10, 581},
		{"2459345938032343", 10, 146}, {"7777a88a8a8a8", 10, 342},
		{"asdfjklkj3k", 10, 861}, {"adfk32l", 10, 1011}, {"zzzzzzzzzzz", 10, 944},
		// Case tests.
		{"3NJA9", 10, 581}, {"3nJa9", 10, 581},
		// Appendix B: an 8-slot table.
		{"test", 3, 2}, {"qrp", 3, 7},
		// 16-bit hash of the slot the probe's leaf table sets (README).
		{"beatles", 16, 19196},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, wire.QRPHash([]byte(c.word), c.bits), "%q/%d", c.word, c.bits)
		assert.Equal(t, c.want, wire.QRPHashString(c.word, c.bits), "string %q/%d", c.word, c.bits)
		assert.Equal(t, c.want, wire.QRPSlot(wire.QRPHashCode([]byte(c.word)), c.bits), "code %q/%d", c.word, c.bits)
	}
}

// gtkgSlots are the 19 slots of gtk-gnutella's 16384-slot table (README):
// the words of its three file names and their cut prefixes, 14-bit hashes.
var gtkgSlots = map[string]uint32{
	"readm": 334, "readme": 1261, "strawb": 1320, "strawberr": 2353, "fiel": 3603,
	"penn": 3851, "straw": 4350, "test": 5178, "field": 5214, "penny": 6657,
	"txt": 6962, "mp3": 7248, "ogg": 7329, "read": 10958, "fields": 12428,
	"strawberry": 12892, "lane": 13618, "strawber": 15003, "strawbe": 15515,
}

var gtkgFileNames = []string{"strawberry fields.ogg", "penny lane.mp3", "readme test.txt"}

func TestQRPHashGtkGnutellaSlots(t *testing.T) {
	for word, slot := range gtkgSlots {
		assert.Equal(t, slot, wire.QRPHashString(word, 14), word)
		assert.Equal(t, slot, wire.QRPHashString(strings.ToUpper(word), 14), "upper %s", word)
	}
}

// The words and prefixes of gtk-gnutella's three file names hash to exactly
// the 19 slots its table sets.
func TestQRPKeywordsRebuildGtkGnutellaTable(t *testing.T) {
	got := map[string]bool{}
	for _, name := range gtkgFileNames {
		for w := range wire.QRPKeywords([]byte(name)) {
			got[strings.ToLower(string(w))] = true
			for p := range wire.QRPPrefixes(w) {
				got[strings.ToLower(string(p))] = true
			}
		}
	}
	var want []string
	for w := range gtkgSlots {
		want = append(want, w)
	}
	var have []string
	for w := range got {
		have = append(have, w)
	}
	slices.Sort(want)
	slices.Sort(have)
	assert.Equal(t, want, have)
}

func TestQRPHashNonASCII(t *testing.T) {
	code := func(s string) uint32 { return wire.QRPHashCode([]byte(s)) }
	// spec is the spec's formula applied to the XOR of the bytes by hand.
	spec := func(x uint32) uint32 { return x * 0x4F1BBCDC }
	// Lower-casing is per character: É (U+00C9) hashes as é (U+00E9), whose
	// low byte 0xE9 is what goes into the XOR.
	assert.Equal(t, code("é"), code("É"))
	assert.Equal(t, spec(0xE9), code("é"))
	// Each character counts once, whatever its UTF-8 length: "éa" puts 'a'
	// in the second byte of the word.
	assert.Equal(t, spec(0xE9|'a'<<8), code("éa"))
	assert.Equal(t, code("ÀÉÎ"), code("àéî"))
	// Characters above U+FFFF count as their two UTF-16 surrogates, high
	// first: U+1F600 is D83D DE00, low bytes 0x3D ('=') and 0x00.
	assert.Equal(t, spec('='|0<<8|'x'<<16), code("😀x"))
	// gtk-gnutella stops at the first invalid UTF-8 sequence.
	assert.Equal(t, code("ab"), code("ab\xffcd"))
	assert.Equal(t, code("ab"), code("ab\xc3"))
	assert.Equal(t, code("Ab\xffcd"), wire.QRPHashCodeString("aB\xffzz"))
	// bits 0 and over 32.
	assert.Zero(t, wire.QRPHash([]byte("eb"), 0))
	assert.Equal(t, code("eb"), wire.QRPHash([]byte("eb"), 40))
}

func TestQRPHashAllocs(t *testing.T) {
	word := []byte("Ndflaleme-Éé😀")
	allocs := testing.AllocsPerRun(100, func() {
		_ = wire.QRPHash(word, 16)
		_ = wire.QRPHashString("Ndflaleme-Éé😀", 16)
	})
	require.Zero(t, allocs)
}

func collectWords(seq func(func([]byte) bool)) []string {
	var out []string
	for w := range seq {
		out = append(out, string(w))
	}
	return out
}

func TestQRPKeywords(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		{"file name with extension", "penny lane.mp3", []string{"penny", "lane", "mp3"}},
		{"spaces and punctuation", "  The Beatles - Strawberry_Fields (1967)!! ", []string{"The", "Beatles", "Strawberry", "Fields", "1967"}},
		{"letters of other scripts", "Café Müller–Ölçek 東京", []string{"Café", "Müller", "Ölçek", "東京"}},
		{"combining mark stays in its word", "cafe\u0301 bar", []string{"cafe\u0301", "bar"}},
		{"invalid UTF-8 separates", "abc\xffdef\xc3", []string{"abc", "def"}},
		{"apostrophe separates", "don't", []string{"don", "t"}},
		{"empty", "", nil},
		{"separators only", " .-_()", nil},
		{"urn text splits like any text", "urn:sha1:VY2Q", []string{"urn", "sha1", "VY2Q"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, collectWords(wire.QRPKeywords([]byte(c.text))))
		})
	}

	// Stopping early is honoured.
	var first []string
	for w := range wire.QRPKeywords([]byte("one two three")) {
		first = append(first, string(w))
		break
	}
	assert.Equal(t, []string{"one"}, first)
}

func TestQRPPrefixes(t *testing.T) {
	cases := []struct {
		word string
		want []string
	}{
		{"strawberry", []string{"strawberr", "strawber", "strawbe", "strawb", "straw"}},
		{"readme", []string{"readm", "read"}},
		{"fields", []string{"field", "fiel"}},
		{"penny", []string{"penn"}},
		{"lane", nil},
		{"mp3", nil},
		{"", nil},
		{"abcdefghijklmnop", []string{"abcdefghijklmno", "abcdefghijklmn", "abcdefghijklm", "abcdefghijkl", "abcdefghijk"}},
		// Cuts are characters; what remains must still exceed 3 bytes.
		{"abcé", nil},
		{"abcdé", []string{"abcd"}},
		{"東京都", nil}, // 9 bytes; cutting 都 leaves 6 bytes
	}
	for _, c := range cases {
		got := collectWords(wire.QRPPrefixes([]byte(c.word)))
		if c.word == "東京都" {
			assert.Equal(t, []string{"東京"}, got, c.word)
			continue
		}
		assert.Equal(t, c.want, got, c.word)
	}
}

func TestQRPKeywordsAllocs(t *testing.T) {
	text := []byte("The Beatles - Strawberry Fields Forever (Café Müller).mp3")
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		for w := range wire.QRPKeywords(text) {
			n += len(w)
			for p := range wire.QRPPrefixes(w) {
				n += len(p)
			}
		}
	})
	require.Zero(t, allocs)
	require.Positive(t, n)
}

// Whole messages from Appendix B of the QRP spec, transcribed by hand:
// header | payload.
var qrpSpecMessages = []struct {
	name, header, payload string
	want                  wire.QRP
}{
	{"RESET 8 slots infinity 7",
		"3f 7c 5a 8c 14 8a 38 22 ff bf 3b 76 5e 86 c6 0 30 1 0 6 0 0 0", "0 8 0 0 0 7",
		wire.QRP{Variant: wire.QRPReset, TableLength: 8, Infinity: 7}},
	{"PATCH 1/1 8-bit plain, test",
		"a9 ab 9b 14 c1 1e 52 aa ff b4 b4 41 75 6d 29 0 30 1 0 d 0 0 0", "1 1 1 0 8 0 0 fa 0 0 0 0 0",
		wire.QRP{Variant: wire.QRPPatch, SeqNo: 1, SeqSize: 1, EntryBits: 8, Data: []byte{0, 0, 0xfa, 0, 0, 0, 0, 0}}},
	{"PATCH 1/1 4-bit plain, test",
		"50 4a bb d7 c0 ea 68 68 ff ef 55 65 31 2f 39 0 30 1 0 9 0 0 0", "1 1 1 0 4 0 a0 0 0",
		wire.QRP{Variant: wire.QRPPatch, SeqNo: 1, SeqSize: 1, EntryBits: 4, Data: []byte{0, 0xa0, 0, 0}}},
	{"PATCH 2/2 4-bit plain, qrp",
		"10 28 ad 5c fb 37 ba 4e ff 6b 38 a0 e2 1d d4 0 30 1 0 7 0 0 0", "1 2 2 0 4 0 a0",
		wire.QRP{Variant: wire.QRPPatch, SeqNo: 2, SeqSize: 2, EntryBits: 4, Data: []byte{0, 0xa0}}},
	{"PATCH 1/1 4-bit zlib, test",
		"f1 a9 21 cf 47 75 9f 50 ff 8 f1 f3 57 d9 c3 0 30 1 0 11 0 0 0", "1 1 1 1 4 78 9c 63 58 c0 c0 0 0 1 e4 0 a1",
		wire.QRP{Variant: wire.QRPPatch, SeqNo: 1, SeqSize: 1, Compressor: wire.QRPCompressZlib, EntryBits: 4,
			Data: []byte{0x78, 0x9c, 0x63, 0x58, 0xc0, 0xc0, 0, 0, 0x01, 0xe4, 0, 0xa1}}},
	{"PATCH 1/2 4-bit zlib split, test",
		"1f 6c dc 54 ac 1f 42 cc ff 31 99 15 a0 e0 36 0 30 1 0 f 0 0 0", "1 1 2 1 4 78 9c 63 58 c0 c0 0 0 1 e4",
		wire.QRP{Variant: wire.QRPPatch, SeqNo: 1, SeqSize: 2, Compressor: wire.QRPCompressZlib, EntryBits: 4,
			Data: []byte{0x78, 0x9c, 0x63, 0x58, 0xc0, 0xc0, 0, 0, 0x01, 0xe4}}},
}

func TestQRPSpecAppendix(t *testing.T) {
	for _, c := range qrpSpecMessages {
		t.Run(c.name, func(t *testing.T) {
			hdr, err := wire.ParseHeader(specBytes(t, c.header))
			require.NoError(t, err)
			payload := specBytes(t, c.payload)
			assert.Equal(t, wire.TypeQRP, hdr.Type)
			assert.EqualValues(t, 1, hdr.TTL)
			assert.EqualValues(t, 0, hdr.Hops)
			require.EqualValues(t, len(payload), hdr.Length)

			var q wire.QRP
			require.NoError(t, q.Decode(payload))
			assert.Equal(t, c.want, q)
			assert.Equal(t, len(payload), q.Len())
			out, err := q.Append(nil)
			require.NoError(t, err)
			assert.Equal(t, payload, out)
		})
	}

	// Inflating the zlib example gives the 4-bit patch of the plain one:
	// slot 2 ("test") goes from infinity 7 to 1, delta -6 = nibble 0xa.
	zr, err := zlib.NewReader(bytes.NewReader(qrpSpecMessages[4].want.Data))
	require.NoError(t, err)
	raw, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, qrpSpecMessages[2].want.Data, raw)
}

// qrpCaptured returns the QRP payloads of one direction of a capture.
func qrpCaptured(t testing.TB, pcap string, fromPort, toPort uint16, blocks int, deflated bool) [][]byte {
	t.Helper()
	fl := flowBetween(t, captureFlows(t, pcap), fromPort, toPort)
	require.NoError(t, fl.Err)
	require.Len(t, fl.Blocks, blocks)
	require.Equal(t, deflated, fl.Deflate)
	var out [][]byte
	for _, m := range splitDescriptors(t, fl.name, fl.Descriptors) {
		if m.Header.Type == wire.TypeQRP {
			assert.EqualValues(t, 1, m.Header.TTL, "QRP goes with TTL 1")
			assert.EqualValues(t, 0, m.Header.Hops)
			out = append(out, m.Payload)
		}
	}
	return out
}

// qrpNibbles inflates a 4-bit patch and returns the slots with a non-zero
// entry and their nibble.
func qrpNibbles(t testing.TB, compressed []byte, slots int) map[int]byte {
	t.Helper()
	zr, err := zlib.NewReader(bytes.NewReader(compressed))
	require.NoError(t, err)
	raw, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Len(t, raw, slots/2)
	set := map[int]byte{}
	for i, b := range raw {
		if hi := b >> 4; hi != 0 {
			set[2*i] = hi
		}
		if lo := b & 0xf; lo != 0 {
			set[2*i+1] = lo
		}
	}
	return set
}

func TestQRPCaptures(t *testing.T) {
	t.Run("gtk-gnutella to an ultrapeer: RESET 16384/2 and a 76-byte zlib PATCH", func(t *testing.T) {
		msgs := qrpCaptured(t, "ultrapeer-plain.pcap", 6350, 0, 1, false)
		require.Len(t, msgs, 2)
		var reset, patch wire.QRP
		require.NoError(t, reset.Decode(msgs[0]))
		assert.Equal(t, wire.QRP{Variant: wire.QRPReset, TableLength: 16384, Infinity: 2}, reset)
		assert.Equal(t, mustHex(t, "000040000002"), msgs[0])

		require.Len(t, msgs[1], 76)
		require.NoError(t, patch.Decode(msgs[1]))
		assert.Equal(t, wire.QRPPatch, patch.Variant)
		assert.EqualValues(t, 1, patch.SeqNo)
		assert.EqualValues(t, 1, patch.SeqSize)
		assert.Equal(t, wire.QRPCompressZlib, patch.Compressor)
		assert.EqualValues(t, 4, patch.EntryBits)
		assert.Len(t, patch.Data, 71)
		assert.Equal(t, []byte{0x78, 0xda}, patch.Data[:2], "a zlib header")

		// The patch sets exactly the README's 19 slots to -1.
		set := qrpNibbles(t, patch.Data, 16384)
		want := map[int]byte{}
		for _, slot := range gtkgSlots {
			want[int(slot)] = 0xf
		}
		assert.Equal(t, want, set)

		for _, m := range msgs {
			var q wire.QRP
			require.NoError(t, q.Decode(m))
			out, err := q.Append(nil)
			require.NoError(t, err)
			assert.Equal(t, m, out, "byte-exact re-encoding")
		}
	})
	t.Run("gtk-gnutella's outbound table is the same", func(t *testing.T) {
		up := qrpCaptured(t, "ultrapeer-plain.pcap", 6350, 0, 1, false)
		out := qrpCaptured(t, "outbound.pcap", 0, 6999, 2, false)
		assert.Equal(t, up, out)
	})
	t.Run("probe as a leaf: RESET 65536/7 and PATCH inside the deflated stream", func(t *testing.T) {
		msgs := qrpCaptured(t, "leaf-deflate.pcap", 0, 6350, 2, true)
		require.Len(t, msgs, 2)
		var reset, patch wire.QRP
		require.NoError(t, reset.Decode(msgs[0]))
		assert.Equal(t, wire.QRP{Variant: wire.QRPReset, TableLength: 65536, Infinity: 7}, reset)
		require.Len(t, msgs[1], 66)
		require.NoError(t, patch.Decode(msgs[1]))
		assert.Equal(t, wire.QRP{Variant: wire.QRPPatch, SeqNo: 1, SeqSize: 1, Compressor: wire.QRPCompressZlib,
			EntryBits: 4, Data: msgs[1][5:]}, patch)
		// One slot: "beatles", -6 (nibble 0xa) from infinity 7 to 1.
		assert.Equal(t, map[int]byte{19196: 0xa}, qrpNibbles(t, patch.Data, 65536))
		for _, m := range msgs {
			var q wire.QRP
			require.NoError(t, q.Decode(m))
			out, err := q.Append(nil)
			require.NoError(t, err)
			assert.Equal(t, m, out)
		}
	})
}

func TestQRPDecodeRejects(t *testing.T) {
	cases := []struct{ name, hex string }{
		{"empty", ""},
		{"unknown variant 2", "020000000107"},
		{"unknown variant 0xff", "ff"},
		{"RESET length zero", "000000000007"},
		{"RESET length not a power of two", "000300000007"},
		{"RESET length 2^31+1", "000100008007"},
		{"RESET infinity zero", "000000010000"},
		{"RESET short", "0000000100"},
		{"RESET long", "00000001000700"},
		{"PATCH seq no 0", "0100010104"},
		{"PATCH seq no over size", "0102010104"},
		{"PATCH seq size 0", "0101000104"},
		{"PATCH compressor 2", "0101010204"},
		{"PATCH entry bits 0", "0101010100"},
		{"PATCH entry bits 3", "0101010103"},
		{"PATCH entry bits 16", "0101010110"},
		{"PATCH header short", "01010101"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var q wire.QRP
			assert.ErrorIs(t, q.Decode(mustHex(t, c.hex)), wire.ErrMalformed)
		})
	}
}

func TestQRPDecodeEdges(t *testing.T) {
	var q wire.QRP
	// The largest power-of-two length and the smallest.
	require.NoError(t, q.Decode(mustHex(t, "0000000080ff")))
	assert.EqualValues(t, 1<<31, q.TableLength)
	assert.EqualValues(t, 255, q.Infinity)
	require.NoError(t, q.Decode(mustHex(t, "000100000001")))
	assert.EqualValues(t, 1, q.TableLength)
	// A PATCH without data (only a zlib trailer went before) and sequence
	// 255/255 with every entry size.
	for _, bits := range []byte{1, 2, 4, 8} {
		require.NoError(t, q.Decode([]byte{1, 255, 255, 0, bits}))
		assert.Empty(t, q.Data)
		assert.Equal(t, bits, q.EntryBits)
	}
	// Decoding a RESET over a PATCH clears the PATCH fields.
	require.NoError(t, q.Decode(mustHex(t, "0101010104aabb")))
	require.NoError(t, q.Decode(mustHex(t, "000000010007")))
	assert.Equal(t, wire.QRP{Variant: wire.QRPReset, TableLength: 65536, Infinity: 7}, q)
}

func TestQRPTruncation(t *testing.T) {
	msgs := append(qrpCaptured(t, "ultrapeer-plain.pcap", 6350, 0, 1, false),
		qrpCaptured(t, "leaf-deflate.pcap", 0, 6350, 2, true)...)
	for _, m := range msgs {
		for i := range len(m) {
			var q wire.QRP
			err := q.Decode(m[:i])
			// A RESET has a fixed size; a PATCH's data runs to the end of
			// the payload, so only a cut inside its 5-byte head is an error.
			if m[0] == wire.QRPPatch && i >= 5 {
				require.NoError(t, err, "cut at %d", i)
				assert.Equal(t, m[5:i], q.Data)
				continue
			}
			assert.ErrorIs(t, err, wire.ErrMalformed, "cut at %d", i)
		}
	}
}

func TestQRPAppendRejects(t *testing.T) {
	cases := []struct {
		name string
		q    wire.QRP
	}{
		{"unknown variant", wire.QRP{Variant: 7}},
		{"RESET length 0", wire.QRP{Variant: wire.QRPReset, Infinity: 2}},
		{"RESET length 3", wire.QRP{Variant: wire.QRPReset, TableLength: 3, Infinity: 2}},
		{"RESET infinity 0", wire.QRP{Variant: wire.QRPReset, TableLength: 8}},
		{"PATCH seq 0/0", wire.QRP{Variant: wire.QRPPatch, EntryBits: 4}},
		{"PATCH seq 3/2", wire.QRP{Variant: wire.QRPPatch, SeqNo: 3, SeqSize: 2, EntryBits: 4}},
		{"PATCH bits 5", wire.QRP{Variant: wire.QRPPatch, SeqNo: 1, SeqSize: 1, EntryBits: 5}},
		{"PATCH compressor 9", wire.QRP{Variant: wire.QRPPatch, SeqNo: 1, SeqSize: 1, Compressor: 9, EntryBits: 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := c.q.Append([]byte("x"))
			assert.ErrorIs(t, err, wire.ErrMalformed)
			assert.Equal(t, []byte("x"), out, "nothing appended on error")
		})
	}
	q := wire.QRP{Variant: wire.QRPPatch, SeqNo: 2, SeqSize: 3, Compressor: wire.QRPCompressNone, EntryBits: 1, Data: []byte{0x80}}
	out, err := q.Append([]byte{0xee})
	require.NoError(t, err)
	assert.Equal(t, []byte{0xee, 1, 2, 3, 0, 1, 0x80}, out)
	assert.Equal(t, 6, q.Len())
}

func TestQRPDecodeAllocs(t *testing.T) {
	msgs := qrpCaptured(t, "ultrapeer-plain.pcap", 6350, 0, 1, false)
	var q wire.QRP
	allocs := testing.AllocsPerRun(100, func() {
		for _, m := range msgs {
			if err := q.Decode(m); err != nil {
				t.Fatal(err)
			}
		}
	})
	require.Zero(t, allocs)
}

func BenchmarkQRPHash(b *testing.B) {
	word := []byte("strawberry")
	b.ReportAllocs()
	b.SetBytes(int64(len(word)))
	for b.Loop() {
		_ = wire.QRPHash(word, 16)
	}
}

func BenchmarkQRPDecode(b *testing.B) {
	payload := specBytes(b, "1 1 1 1 4 78 9c 63 58 c0 c0 0 0 1 e4 0 a1")
	var q wire.QRP
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if err := q.Decode(payload); err != nil {
			b.Fatal(err)
		}
	}
}
