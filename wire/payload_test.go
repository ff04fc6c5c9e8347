package wire

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roundTrip decodes payload into c and checks Append and Len give it back.
func roundTrip(t *testing.T, c payloadCodec, payload []byte) {
	t.Helper()
	require.NoError(t, c.Decode(payload))
	out, err := c.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, payload, out)
	assert.Equal(t, len(payload), c.Len())
}

func TestMalformedPayloads(t *testing.T) {
	for _, c := range []struct {
		name    string
		codec   payloadCodec
		payload string
	}{
		{"ping: bad GGEP", &Ping{}, "c3 01 41 40"},
		{"pong: 13 bytes", &Pong{}, "ca18 7f000001 03000000 800000"},
		{"pong: cut GGEP", &Pong{}, "ca18 7f000001 03000000 80000000 c3 82 4455"},
		{"push: 25 bytes", &Push{}, "48c831020b29cc9f54ca85f81b70fef8 02000000 7f000001 58"},
		{"bye: 1 byte", &Bye{}, "c8"},
		{"vendor: 7 bytes", &Vendor{}, "42454152 0700 01"},
		{"query: 2 bytes", &Query{}, "8000"},
		{"query: criteria without NUL", &Query{}, "8000 70656e6e79"},
		{"query: broken GGEP after the criteria", &Query{}, "8000 61 00 c3 81 41 45"},
		{"query: GGEP magic alone", &Query{}, "8000 61 00 c3"},
		{"queryhit: 26 bytes", &QueryHit{}, "00 ca18 7f000001 06000000 48c831020b29cc9f54ca85f81b70fe"},
		{"queryhit: count 2, one result", &QueryHit{}, "02 ca18 7f000001 06000000  01000000 02000000 61 00 00  48c831020b29cc9f54ca85f81b70fef8"},
		{"queryhit: count 255, no results", &QueryHit{}, "ff ca18 7f000001 06000000  48c831020b29cc9f54ca85f81b70fef8"},
		{"queryhit: name without NUL", &QueryHit{}, "01 ca18 7f000001 06000000  01000000 02000000 61616161  48c831020b29cc9f54ca85f81b70fef8"},
		{"queryhit: area without NUL", &QueryHit{}, "01 ca18 7f000001 06000000  01000000 02000000 61 00 6262  48c831020b29cc9f54ca85f81b70fef8"},
		{"queryhit: GGEP in a result cut by the GUID", &QueryHit{}, "01 ca18 7f000001 06000000  01000000 02000000 61 00 c3 81 41 4a 00  48c831020b29cc9f54ca85f81b70fef8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.codec.Decode(mustHex(t, c.payload))
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

// Bytes deployed servents may send that have no field of their own are kept
// raw, so that forwarding loses nothing.
func TestRawBytesKept(t *testing.T) {
	for _, c := range []struct {
		name    string
		codec   payloadCodec
		payload string
		check   func(t *testing.T, c payloadCodec)
	}{
		{"ping: not GGEP", &Ping{}, "616263", func(t *testing.T, c payloadCodec) {
			assert.Equal(t, []byte("abc"), c.(*Ping).Trailer)
		}},
		{"pong: two GGEP blocks packed", &Pong{}, "ca18 7f000001 03000000 80000000 c3 81 41 40 c3 81 42 40", func(t *testing.T, c payloadCodec) {
			p := c.(*Pong)
			assert.Equal(t, []string{"A"}, ggepIDs(&p.GGEP))
			assert.Equal(t, mustHex(t, "c3 81 42 40"), p.Trailer)
		}},
		{"push: bytes after GGEP", &Push{}, "48c831020b29cc9f54ca85f81b70fef8 02000000 7f000001 581b c3 81 41 40 ff", func(t *testing.T, c payloadCodec) {
			assert.Equal(t, []byte{0xff}, c.(*Push).Trailer)
		}},
		{"bye: no NUL", &Bye{}, "c800 6279", func(t *testing.T, c payloadCodec) {
			p := c.(*Bye)
			assert.True(t, p.Unterminated)
			assert.Equal(t, "by", string(p.Text))
		}},
		{"bye: code only", &Bye{}, "c800", func(t *testing.T, c payloadCodec) {
			assert.True(t, c.(*Bye).Unterminated)
		}},
		{"bye: bytes after the NUL", &Bye{}, "c800 62 00 0d0a", func(t *testing.T, c payloadCodec) {
			assert.Equal(t, []byte("\r\n"), c.(*Bye).Trailer)
		}},
		{"query: bytes after the area's NUL", &Query{}, "8000 61 00 62 00 6363", func(t *testing.T, c payloadCodec) {
			q := c.(*Query)
			assert.True(t, q.Ext.Terminated)
			assert.Equal(t, []byte("cc"), q.Trailer)
		}},
		{"queryhit: 3-byte trailer is no QHD", &QueryHit{}, "00 ca18 7f000001 06000000 414243 48c831020b29cc9f54ca85f81b70fef8", func(t *testing.T, c payloadCodec) {
			q := c.(*QueryHit)
			assert.False(t, q.HasQHD)
			assert.Equal(t, []byte("ABC"), q.Trailer)
		}},
		{"queryhit: open-data size past the end", &QueryHit{}, "00 ca18 7f000001 06000000 4c494d45 09 0102 48c831020b29cc9f54ca85f81b70fef8", func(t *testing.T, c payloadCodec) {
			q := c.(*QueryHit)
			assert.False(t, q.HasQHD)
			assert.Len(t, q.Trailer, 7)
		}},
		{"queryhit: private data not a GGEP block", &QueryHit{}, "00 ca18 7f000001 06000000 42454152 02 0000 c3 01 41 40 48c831020b29cc9f54ca85f81b70fef8", func(t *testing.T, c payloadCodec) {
			q := c.(*QueryHit)
			require.True(t, q.HasQHD)
			assert.Empty(t, q.QHD.GGEP.Extensions)
			assert.Equal(t, mustHex(t, "c3 01 41 40"), q.QHD.Private)
		}},
		{"queryhit: LimeWire-style 4-byte open data", &QueryHit{}, "00 ca18 7f000001 06000000 4c494d45 04 1c10 0500 c3 81 41 40 3c782f3e00 48c831020b29cc9f54ca85f81b70fef8", func(t *testing.T, c payloadCodec) {
			q := c.(*QueryHit)
			require.True(t, q.HasQHD)
			assert.Equal(t, mustHex(t, "1c10 0500"), q.QHD.Open)
			m, known := q.QHD.Measured()
			assert.True(t, m && known)
			assert.Equal(t, []string{"A"}, ggepIDs(&q.QHD.GGEP))
			assert.Equal(t, []byte("<x/>\x00"), q.QHD.Private)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			roundTrip(t, c.codec, mustHex(t, c.payload))
			c.check(t, c.codec)
		})
	}
}

// The extension area's odd shapes: empty blocks, separators at the ends,
// GGEP followed directly by a block, urns that are not sha1.
func TestExtAreaShapes(t *testing.T) {
	sha1Text := "75726e3a736861313a565932515848374b4453534a32514c523546453435485443435047414343354f"
	for _, c := range []struct {
		name  string
		area  string // after "8000 61 00"
		kinds []ExtKind
		seps  []bool
		term  bool
	}{
		{"nothing", "", nil, nil, false},
		{"just the NUL", "00", nil, nil, true},
		{"leading separator", "1c " + sha1Text, []ExtKind{ExtRaw, ExtSHA1}, []bool{true, false}, false},
		{"double separator", sha1Text + " 1c1c 41", []ExtKind{ExtSHA1, ExtRaw, ExtRaw}, []bool{true, true, false}, false},
		{"trailing separator then NUL", sha1Text + " 1c 00", []ExtKind{ExtSHA1}, []bool{true}, true},
		{"GGEP then a urn, no separator", "c3 81 41 40 " + sha1Text, []ExtKind{ExtGGEP, ExtSHA1}, []bool{false, false}, false},
		{"GGEP then GGEP", "c3 81 41 40 c3 81 42 40 00", []ExtKind{ExtGGEP, ExtGGEP}, []bool{false, false}, true},
		{"GGEP data holding 1c and NUL", "c3 81 41 42 1c00 1c 00", []ExtKind{ExtGGEP}, []bool{true}, true},
		{"bare urn:sha1: asks for urns", "75726e3a736861313a 00", []ExtKind{ExtURN}, []bool{false}, true},
		{"bitprint urn", "75726e3a6269747072696e743a4141", []ExtKind{ExtURN}, []bool{false}, false},
		{"sha1 urn with bad base32", "75726e3a736861313a" + strings.Repeat("31", 32), []ExtKind{ExtURN}, []bool{false}, false},
		{"upper-case URN prefix", "55524e3a534841313a565932515848374b4453534a32514c523546453435485443435047414343354f", []ExtKind{ExtSHA1}, []bool{false}, false},
		{"compressed XML", "7b6465666c6174657d", []ExtKind{ExtXML}, []bool{false}, false},
		// A urn:sha1 is known by its 41 bytes and what follows them.
		{"sha1 urn then NUL", sha1Text + " 00", []ExtKind{ExtSHA1}, []bool{false}, true},
		{"sha1 urn one byte longer", sha1Text + " 41", []ExtKind{ExtURN}, []bool{false}, false},
		{"sha1 urn running into GGEP", sha1Text + " c3 81 41 40", []ExtKind{ExtURN}, []bool{false}, false},
		{"sha1 urn with lower-case digits", "75726e3a736861313a" + "767932717868376b6473736a32716c72356665343568746363706761636335 6f", []ExtKind{ExtSHA1}, []bool{false}, false},
		{"sha1 urn with a NUL in its digits", "75726e3a736861313a565932515848374b4453534a32514c52354645343548544343504741434335 00 41", []ExtKind{ExtURN}, []bool{false}, true},
		{"sha1 urn with a separator in its digits", "75726e3a736861313a565932515848374b4453534a32514c52354645343548544343504741434335 1c 41", []ExtKind{ExtURN, ExtRaw}, []bool{true, false}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var q Query
			payload := mustHex(t, "8000 61 00 "+c.area)
			roundTrip(t, &q, payload)
			var kinds []ExtKind
			var seps []bool
			for _, b := range q.Ext.Blocks {
				kinds = append(kinds, b.Kind)
				seps = append(seps, b.Sep)
			}
			assert.Equal(t, c.kinds, kinds)
			assert.Equal(t, c.seps, seps)
			assert.Equal(t, c.term, q.Ext.Terminated)
		})
	}
}

// gtk-gnutella's open data values from the captures, read with the QHD
// rules: push has its value in byte 0, the others in byte 1.
func TestQHDFlagSemantics(t *testing.T) {
	type flags struct{ push, busy, uploaded, measured, ggep [2]bool }
	read := func(h *QHD) flags {
		return flags{pair(h.Push()), pair(h.Busy()), pair(h.Uploaded()), pair(h.Measured()), pair(h.GGEPFlag())}
	}
	for _, c := range []struct {
		open string
		want flags
	}{
		{"2c21", flags{push: [2]bool{false, true}, busy: [2]bool{false, true}, uploaded: [2]bool{false, true}, measured: [2]bool{false, false}, ggep: [2]bool{true, true}}},
		{"2c29", flags{push: [2]bool{false, true}, busy: [2]bool{false, true}, uploaded: [2]bool{true, true}, measured: [2]bool{false, false}, ggep: [2]bool{true, true}}},
		{"2d21", flags{push: [2]bool{true, true}, busy: [2]bool{false, true}, uploaded: [2]bool{false, true}, measured: [2]bool{false, false}, ggep: [2]bool{true, true}}},
		{"01", flags{}}, // one byte: nothing is known
	} {
		t.Run(c.open, func(t *testing.T) {
			h := QHD{Open: mustHex(t, c.open)}
			assert.Equal(t, c.want, read(&h))
		})
	}

	// Building gtk-gnutella's 2c21 with the setters.
	var h QHD
	h.SetPush(false)
	h.SetBusy(false)
	h.SetUploaded(false)
	h.SetGGEPFlag(true)
	assert.Equal(t, []byte{0x2c, 0x21}, h.Open)
	h.SetPush(true)
	h.SetUploaded(true)
	assert.Equal(t, []byte{0x2d, 0x29}, h.Open)
	h.SetMeasured(true)
	h.SetBusy(true)
	assert.Equal(t, []byte{0x3d, 0x3d}, h.Open)
}

func TestQHDSettersDoNotWriteIntoThePayload(t *testing.T) {
	v := loadGolden(t, "queryhit.hex")
	payload := v.Raw[HeaderLen:]
	orig := bytes.Clone(payload)
	var q QueryHit
	require.NoError(t, q.Decode(payload))
	q.QHD.SetPush(false)
	q.QHD.SetBusy(false)
	assert.Equal(t, orig, payload)
	p, known := q.QHD.Push()
	assert.True(t, known)
	assert.False(t, p)
	out, err := q.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, len(payload), len(out))
	assert.NotEqual(t, payload, out)
}

func TestQueryFlagsBuilders(t *testing.T) {
	var q Query
	q.SetFlags(QueryFlagOOB | QueryFlagGGEPH | 5)
	q.Criteria = []byte("penny")
	out, err := q.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, mustHex(t, "8c05 70656e6e79 00"), out, "flags are big-endian with the marker")
	f, ok := q.Flags()
	assert.True(t, ok)
	assert.Equal(t, 5, f.MaxHits())

	q.SetMinSpeed(64)
	out, err = q.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, mustHex(t, "4000 70656e6e79 00"), out, "a 0.4 minimum speed is little-endian")
	_, ok = q.Flags()
	assert.False(t, ok)
	assert.Equal(t, uint16(64), q.MinSpeed())

	// A query from us with a urn and the gtk-gnutella terminating NUL.
	d := mustURN(t, "urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O")
	q = Query{Criteria: []byte{}, Ext: ExtArea{Blocks: []ExtBlock{NewSHA1Block(d)}, Terminated: true}}
	q.SetFlags(0)
	out, err = q.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, mustHex(t, "8000 00 75726e3a736861313a565932515848374b4453534a32514c523546453435485443435047414343354f 00"), out)
	assert.Equal(t, len(out), q.Len())
}

func TestAppendRejects(t *testing.T) {
	for _, c := range []struct {
		name  string
		codec payloadCodec
	}{
		{"query: NUL in criteria", &Query{Criteria: []byte{'a', 0}}},
		{"query: separator in a raw block", &Query{Ext: ExtArea{Blocks: []ExtBlock{{Kind: ExtRaw, Data: []byte{'a', ExtSeparator}}}}}},
		{"query: trailer without the area's NUL", &Query{Trailer: []byte{1}}},
		{"queryhit: NUL in a name", &QueryHit{Results: []Result{{Name: []byte{0}}}}},
		{"queryhit: 256 results", &QueryHit{Results: make([]Result, 256)}},
		{"queryhit: 256 bytes of open data", &QueryHit{HasQHD: true, QHD: QHD{Open: make([]byte, 256)}}},
		{"pong: IPv6 address", &Pong{Addr: netip.MustParseAddr("::2")}},
		{"push: IPv6 address", &Push{Addr: netip.MustParseAddr("::2")}},
		{"ping: raw trailer that reads as GGEP", &Ping{Trailer: []byte{GGEPMagic}}},
		{"bye: NUL in text", &Bye{Text: []byte{'a', 0}}},
		{"bye: trailer after no NUL", &Bye{Unterminated: true, Trailer: []byte{1}}},
		{"ping: bad GGEP ID", &Ping{GGEP: GGEP{Extensions: []GGEPExtension{{}}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.codec.Append(nil)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestBuilders(t *testing.T) {
	bye := NewBye(ByeNormal, "Shutting Down", "Server: govent/0.1")
	out, err := bye.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, append(mustHex(t, "c800"), "Shutting Down\r\nServer: govent/0.1\r\n\r\n\x00"...), out)
	assert.Equal(t, len(out), bye.Len())
	short := NewBye(ByeTimeout, "Activity timeout")
	assert.Equal(t, "Activity timeout", string(short.Reason()))
	assert.Nil(t, short.Headers())

	ms, err := NewMessagesSupported([]VendorEntry{{Vendor: [4]byte{'B', 'E', 'A', 'R'}, Selector: 4, Version: 1}, {Vendor: [4]byte{'G', 'T', 'K', 'G'}, Selector: 7, Version: 2}})
	require.NoError(t, err)
	out, err = ms.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, loadGolden(t, "vendor.hex").Raw[HeaderLen:], out)

	fs, err := NewFeaturesSupported([]FeatureEntry{{Feature: [4]byte{'T', 'L', 'S', '!'}, Version: 1}})
	require.NoError(t, err)
	out, err = fs.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, mustHex(t, "00000000 0a00 0000 0100 544c5321 0100"), out)

	pong := Pong{Port: 6346, Addr: netip.MustParseAddr("192.0.2.1"), Files: 1000, KB: 123456}
	du, err := NewGGEPExtension("DU", []byte{0x10, 0x0e}, false, false)
	require.NoError(t, err)
	vc, err := NewGGEPExtension("VC", []byte("GOVT\x01"), false, false)
	require.NoError(t, err)
	pong.GGEP.Extensions = []GGEPExtension{du, vc}
	out, err = pong.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, loadGolden(t, "pong.hex").Raw[HeaderLen:], out)
}

func TestSupportedRejects(t *testing.T) {
	for name, body := range map[string]string{
		"no count":       "01",
		"count too high": "0200 42454152 0400 0100",
		"count too low":  "0000 42454152 0400 0100",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := AppendMessagesSupported(nil, mustHex(t, body))
			assert.ErrorIs(t, err, ErrMalformed)
			_, err = AppendFeaturesSupported(nil, mustHex(t, body))
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

// Decoding a smaller message after a bigger one leaves nothing stale.
func TestDecodeResetsReusedValue(t *testing.T) {
	var q QueryHit
	require.NoError(t, q.Decode(loadGolden(t, "queryhit.hex").Raw[HeaderLen:]))
	require.Len(t, q.Results, 2)
	small := mustHex(t, "01 ca18 7f000001 06000000  01000000 02000000 61 00 00  48c831020b29cc9f54ca85f81b70fef8")
	roundTrip(t, &q, small)
	require.Len(t, q.Results, 1)
	assert.Empty(t, q.Results[0].Ext.Blocks)
	assert.False(t, q.HasQHD)
	assert.Empty(t, q.QHD.GGEP.Extensions)

	var p Pong
	require.NoError(t, p.Decode(loadGolden(t, "pong.hex").Raw[HeaderLen:]))
	roundTrip(t, &p, mustHex(t, "ca18 7f000001 03000000 80000000"))
	assert.Empty(t, p.GGEP.Extensions)
}
