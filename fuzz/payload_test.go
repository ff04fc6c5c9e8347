package fuzz

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// codec is the contract every wire payload type follows.
type codec[T any] interface {
	*T
	Decode(payload []byte) error
	Append(b []byte) ([]byte, error)
	Len() int
}

// payloadRoundTrip is the property of every payload codec: what decodes
// appends back to the identical bytes, decodes again to the same value,
// and decodes the same into a value that held another payload before (the
// framed reader reuses one Message). What does not decode is ErrMalformed.
func payloadRoundTrip[T any, P codec[T]](t *testing.T, in, dirty []byte) {
	orig := bytes.Clone(in)
	var v T
	err := P(&v).Decode(in)
	requireBytes(t, orig, in, "Decode wrote into its input")
	if err != nil {
		require.ErrorIs(t, err, wire.ErrMalformed)
		return
	}
	out, err := P(&v).Append(nil)
	require.NoError(t, err, "a decoded value must encode")
	requireBytes(t, in, out, "Append must give back the decoded bytes")
	require.Equal(t, len(out), P(&v).Len(), "Len disagrees with Append")

	prefixed, err := P(&v).Append([]byte("pre"))
	require.NoError(t, err)
	requireBytes(t, append([]byte("pre"), in...), prefixed, "Append must append")

	var again T
	require.NoError(t, P(&again).Decode(out), "re-encoded payload must decode")
	requireSame(t, v, again, "decode(append(decode(x))) differs from decode(x)")

	var reused T
	_ = P(&reused).Decode(dirty)
	require.NoError(t, P(&reused).Decode(in), "decoding into a used value")
	requireSame(t, v, reused, "decoding into a used value leaves something behind")
}

// fuzzPayload registers the golden vectors as seeds and fuzzes one codec.
func fuzzPayload[T any, P codec[T]](f *testing.F, goldens ...string) {
	var dirty []byte
	for _, name := range goldens {
		p := goldenPayload(f, name)
		f.Add(p)
		if len(p) > len(dirty) {
			dirty = p
		}
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		payloadRoundTrip[T, P](t, payload, dirty)
	})
}

func FuzzPing(f *testing.F) {
	f.Add([]byte{wire.GGEPMagic}) // magic and nothing else
	f.Add([]byte("not ggep"))     // an old servent's trailer
	fuzzPayload[wire.Ping](f, "ping-empty", "ping-ggep")
}

func FuzzPong(f *testing.F) {
	f.Add(make([]byte, wire.PongFixedLen-1))
	f.Add(append(make([]byte, wire.PongFixedLen), 0xC3, 0x82, 'D', 'U', 0x40))
	fuzzPayload[wire.Pong](f, "pong")
}

func FuzzPush(f *testing.F) {
	f.Add(make([]byte, wire.PushFixedLen))
	f.Add(append(make([]byte, wire.PushFixedLen), 0xC3))
	fuzzPayload[wire.Push](f, "push")
}

func FuzzBye(f *testing.F) {
	f.Add([]byte{200, 0})
	f.Add([]byte{0x90, 0x01, 'T', 'o', 'o', ' ', 'b', 'i', 'g'}) // no NUL: tolerated
	f.Add([]byte{0x90, 0x01, 'x', 0, 'z'})                       // bytes after the NUL
	fuzzPayload[wire.Bye](f, "bye")
}

func FuzzVendor(f *testing.F) {
	f.Add([]byte("GTKG\x0b\x00\x01\x00"))
	f.Add([]byte("\x00\x00\x00\x00\x0a\x00\x00\x00\x01\x00TLS!\x01\x00"))
	fuzzPayload[wire.Vendor](f, "vendor")
}

func FuzzQuery(f *testing.F) {
	f.Add([]byte("\x00\x00\x00"))
	f.Add([]byte("\x60\x00abc\x00urn:sha1:\x1c\xc3\x82H\x41\x01\x00"))
	fuzzPayload[wire.Query](f, "query", "query-minspeed")
}

func FuzzQueryHit(f *testing.F) {
	f.Add(make([]byte, 11+16))
	// A result whose hash is a bitprint in GGEP "H", as gtk-gnutella sends
	// it to a querier that sets 0x0800.
	h, err := wire.NewGGEPHash(wire.URN{SHA1: wire.SHA1{1}, HasSHA1: true, TTH: wire.TTH{2}, HasTTH: true})
	require.NoError(f, err)
	qh := wire.QueryHit{Port: 6346, Speed: 1, Results: []wire.Result{{Index: 1, Size: 10, Name: []byte("f"),
		Ext: wire.ExtArea{Blocks: []wire.ExtBlock{{Kind: wire.ExtGGEP, GGEP: wire.GGEP{Extensions: []wire.GGEPExtension{h}}}}, Terminated: true}}}}
	seed, err := qh.Append(nil)
	require.NoError(f, err)
	f.Add(seed)
	fuzzPayload[wire.QueryHit](f, "queryhit")
}

func FuzzQRP(f *testing.F) {
	f.Add([]byte{wire.QRPReset, 0, 0, 1, 0, 2})
	f.Add([]byte{wire.QRPPatch, 1, 1, wire.QRPCompressNone, 4, 0x11, 0xf0})
	fuzzPayload[wire.QRP](f)
}

// FuzzHeader: any 23 bytes are a header, and they come back as they were.
func FuzzHeader(f *testing.F) {
	f.Add(golden(f, "ping-empty")[:wire.HeaderLen])
	f.Add(make([]byte, wire.HeaderLen-1))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := wire.ParseHeader(b)
		if len(b) < wire.HeaderLen {
			require.ErrorIs(t, err, wire.ErrTruncated)
			return
		}
		require.NoError(t, err)
		requireBytes(t, b[:wire.HeaderLen], h.Append(nil))
		again, err := wire.ParseHeader(h.Append([]byte("pre"))[3:])
		require.NoError(t, err)
		require.Equal(t, h, again)
		_ = h.Type.String()
	})
}

// FuzzMessage decodes one descriptor by its type, as the framed reader
// does, and checks the whole descriptor comes back byte for byte.
func FuzzMessage(f *testing.F) {
	for _, name := range []string{"ping-ggep", "pong", "push", "bye", "vendor", "query", "queryhit"} {
		f.Add(golden(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := wire.ParseHeader(data)
		if err != nil {
			return
		}
		// The framed reader hands Decode a payload of exactly h.Length bytes.
		payload := data[wire.HeaderLen:]
		h.Length = uint32(len(payload))
		raw := append(h.Append(nil), payload...)
		var m wire.Message
		if err := m.Decode(h, payload); err != nil {
			require.ErrorIs(t, err, wire.ErrMalformed)
			require.Equal(t, h, m.Header, "a malformed message keeps its header")
			requireBytes(t, payload, m.Payload, "a malformed message keeps its payload")
			return
		}
		out, err := m.Append(nil)
		require.NoError(t, err, "a decoded message must encode")
		requireBytes(t, raw, out, "Append must give back the descriptor")
		require.Equal(t, len(payload), m.Len())
		require.NotEmpty(t, m.AppendSummary(nil))
		require.NotEmpty(t, m.Fields())

		var again wire.Message
		h2, err := wire.ParseHeader(out)
		require.NoError(t, err)
		require.NoError(t, again.Decode(h2, out[wire.HeaderLen:]))
		requireSame(t, m, again, "decode(append(decode(x))) differs from decode(x)")
	})
}

// FuzzGGEP: a block is delimited by its own structure; what decodes comes
// back byte for byte, and every value undoes its encodings within bounds.
func FuzzGGEP(f *testing.F) {
	f.Add(goldenPayload(f, "ping-ggep"))
	f.Add(goldenPayload(f, "pong")[wire.PongFixedLen:])
	f.Add([]byte{0xC3, 0x80 | 0x40 | 1, 'H', 0x42, 0x02, 0x01}) // COBS
	f.Add([]byte{0xC3, 0x80 | 1, 'X', 0x80, 0x45})              // non-minimal length
	var dirty wire.GGEP
	_, err := dirty.Decode(goldenPayload(f, "pong")[wire.PongFixedLen:])
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, b []byte) {
		var g wire.GGEP
		n, err := g.Decode(b)
		if err != nil {
			require.ErrorIs(t, err, wire.ErrMalformed)
			return
		}
		require.Positive(t, n)
		require.LessOrEqual(t, n, len(b))
		require.NotEmpty(t, g.Extensions, "a block that decodes has an extension")
		out, err := g.Append(nil)
		require.NoError(t, err, "a decoded block must encode")
		requireBytes(t, b[:n], out, "Append must give back the block")
		require.Equal(t, n, g.Len())

		var again wire.GGEP
		n2, err := again.Decode(out)
		require.NoError(t, err)
		require.Equal(t, n, n2)
		requireSame(t, g, again, "decode(append(decode(x))) differs from decode(x)")

		reused := wire.GGEP{Extensions: append([]wire.GGEPExtension(nil), dirty.Extensions...)}
		n3, err := reused.Decode(b)
		require.NoError(t, err)
		require.Equal(t, n, n3)
		requireSame(t, g, reused, "decoding into a used block leaves something behind")

		for _, e := range g.Extensions {
			require.Zero(t, e.Flags&^(wire.GGEPFlagCOBS|wire.GGEPFlagDeflate|wire.GGEPFlagReserved), "flags %#x", e.Flags)
			v, err := e.Value()
			if err != nil {
				require.ErrorIs(t, err, wire.ErrMalformed)
				continue
			}
			require.LessOrEqual(t, len(v), wire.MaxGGEPValueLen)
			// Our encoder does not deflate as the sender did, so only the
			// value survives: build it again and read it back.
			built, err := wire.NewGGEPExtension(string(e.ID), v,
				e.Flags&wire.GGEPFlagCOBS != 0, e.Flags&wire.GGEPFlagDeflate != 0)
			require.NoError(t, err, "a value that decoded must encode")
			back, err := built.Value()
			require.NoError(t, err)
			require.True(t, bytes.Equal(v, back), "value round trip of %q: %x became %x", e.ID, v, back)
		}
	})
}

// FuzzCOBS runs the round trip both ways: encoded data decodes to what was
// encoded, and what decodes encodes back to the same bytes (the one other
// form the decoder accepts is the paper's explicit 0x01 after a final full
// run, which gtk-gnutella's encoder leaves out).
func FuzzCOBS(f *testing.F) {
	f.Add([]byte{0x01})
	f.Add([]byte{0x03, 'a', 'b', 0x01})
	f.Add(append([]byte{0xFF}, bytes.Repeat([]byte{'x'}, 254)...))
	f.Add(append(append([]byte{0xFF}, bytes.Repeat([]byte{'x'}, 254)...), 0x01))
	f.Add([]byte{0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Encode, then decode.
		enc := wire.COBSEncode([]byte("pre"), data)
		require.Equal(t, []byte("pre"), enc[:3])
		enc = enc[3:]
		require.NotContains(t, enc, byte(0), "COBS output holds a NUL")
		require.LessOrEqual(t, len(enc), len(data)+len(data)/254+1, "COBS overhead")
		dec, err := wire.COBSDecode(nil, enc)
		require.NoError(t, err)
		requireBytes(t, data, dec, "decode(encode(x)) != x")

		// Decode, then encode.
		dec, err = wire.COBSDecode([]byte("pre"), data)
		if err != nil {
			require.ErrorIs(t, err, wire.ErrMalformed)
			return
		}
		require.Equal(t, []byte("pre"), dec[:3])
		dec = dec[3:]
		re := wire.COBSEncode(nil, dec)
		if !bytes.Equal(re, data) {
			requireBytes(t, append(re, 0x01), data, "encode(decode(x)) != x")
			require.True(t, endsInFullRun(re), "an explicit final 0x01 is only implied after a full run")
		}
	})
}

// endsInFullRun reports whether the last code of a COBS encoding is 0xFF.
func endsInFullRun(enc []byte) bool {
	last := byte(0)
	for i := 0; i < len(enc); i += int(enc[i]) {
		last = enc[i]
	}
	return last == 0xFF
}

// FuzzURN: ParseURN and ParseURNBytes agree, and a parsed urn prints as
// the input up to case and the optional "urn:".
func FuzzURN(f *testing.F) {
	f.Add("urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB")
	f.Add("sha1:plsthipqgssztS5FJUPAKUZWUGYQYPFB")
	f.Add("urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPF1")
	f.Add("urn:sha1:")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := wire.ParseURN(s)
		db, errb := wire.ParseURNBytes([]byte(s))
		require.Equal(t, err == nil, errb == nil, "ParseURN and ParseURNBytes disagree")
		if err != nil {
			require.ErrorIs(t, err, wire.ErrMalformed)
			require.ErrorIs(t, errb, wire.ErrMalformed)
			return
		}
		require.Equal(t, d, db)
		canon := d.String()
		full := s
		if !wire.IsSHA1URN([]byte(s)) {
			full = "urn:" + s
		}
		require.True(t, bytes.EqualFold([]byte(canon), []byte(full)), "%q prints as %q", s, canon)
		require.Equal(t, "pre"+canon, string(d.AppendURN([]byte("pre"))))
		again, err := wire.ParseURN(canon)
		require.NoError(t, err)
		require.Equal(t, d, again)
	})
}
