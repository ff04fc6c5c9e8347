package wire_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// realPayloads returns one captured payload per payload type, the richest
// the captures hold: the gtk-gnutella Pong with GGEP, the SCP Ping, a urn
// Query, the 3-hit browse-host QueryHit, the Push, the Bye,
// Messages-Supported.
func realPayloads(t testing.TB) map[wire.PayloadType][]byte {
	t.Helper()
	return map[wire.PayloadType][]byte{
		wire.TypePing:     findDescriptor(t, "ultrapeer-plain.pcap", wire.TypePing, 2, nil).Payload,
		wire.TypePong:     findDescriptor(t, "ultrapeer-plain.pcap", wire.TypePong, 0, nil).Payload,
		wire.TypeQuery:    findDescriptor(t, "ultrapeer-plain.pcap", wire.TypeQuery, 2, nil).Payload,
		wire.TypeQueryHit: browseHostHit(t).Payload,
		wire.TypePush:     findDescriptor(t, "push-giv.pcap", wire.TypePush, 0, nil).Payload,
		wire.TypeBye:      findDescriptor(t, "leaf-deflate.pcap", wire.TypeBye, 0, nil).Payload,
		wire.TypeVendor:   findDescriptor(t, "push-giv.pcap", wire.TypeVendor, 0, nil).Payload,
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	payloads := realPayloads(t)
	var (
		ping  wire.Ping
		pong  wire.Pong
		query wire.Query
		hit   wire.QueryHit
		push  wire.Push
		bye   wire.Bye
		vend  wire.Vendor
	)
	for pt, c := range map[wire.PayloadType]wire.PayloadCodec{
		wire.TypePing: &ping, wire.TypePong: &pong, wire.TypeQuery: &query, wire.TypeQueryHit: &hit,
		wire.TypePush: &push, wire.TypeBye: &bye, wire.TypeVendor: &vend,
	} {
		t.Run(pt.String(), func(t *testing.T) {
			p := payloads[pt]
			require.NotEmpty(t, p)
			allocs := testing.AllocsPerRun(50, func() {
				if err := c.Decode(p); err != nil {
					t.Fatal(err)
				}
			})
			require.Zero(t, allocs)
		})
	}
}

// One Message decoding every captured descriptor in turn: the typed fields
// keep their slices across types and shapes (1-hit and 3-hit QueryHits,
// GGEP and plain Pings), so the steady state allocates nothing.
func TestMessageDecodeAllocatesNothing(t *testing.T) {
	var all []capturedDescriptor
	for _, name := range allCaptures {
		all = append(all, captureDescriptors(t, name)...)
	}
	all = append(all, browseHostHit(t))
	for _, name := range wire.GoldenNames(t) {
		v := wire.LoadGolden(t, name)
		h, err := wire.ParseHeader(v.Raw)
		require.NoError(t, err)
		all = append(all, capturedDescriptor{Header: h, Payload: v.Raw[wire.HeaderLen:]})
	}
	var m wire.Message
	allocs := testing.AllocsPerRun(20, func() {
		for _, d := range all {
			if err := m.Decode(d.Header, d.Payload); err != nil {
				t.Fatal(err)
			}
		}
	})
	require.Zero(t, allocs)
}

// Append into a buffer with room allocates nothing either.
func TestMessageAppendAllocatesNothing(t *testing.T) {
	var all []capturedDescriptor
	for _, name := range allCaptures {
		all = append(all, captureDescriptors(t, name)...)
	}
	msgs := make([]wire.Message, len(all))
	for i, d := range all {
		require.NoError(t, msgs[i].Decode(d.Header, d.Payload))
	}
	buf := make([]byte, 0, 1<<16)
	allocs := testing.AllocsPerRun(20, func() {
		for i := range msgs {
			var err error
			if buf, err = msgs[i].Append(buf[:0]); err != nil {
				t.Fatal(err)
			}
		}
	})
	require.Zero(t, allocs)
}

func BenchmarkDecode(b *testing.B) {
	payloads := realPayloads(b)
	for _, c := range []struct {
		pt wire.PayloadType
		c  wire.PayloadCodec
	}{
		{wire.TypePing, &wire.Ping{}}, {wire.TypePong, &wire.Pong{}}, {wire.TypeQuery, &wire.Query{}}, {wire.TypeQueryHit, &wire.QueryHit{}},
		{wire.TypePush, &wire.Push{}}, {wire.TypeBye, &wire.Bye{}}, {wire.TypeVendor, &wire.Vendor{}},
	} {
		p := payloads[c.pt]
		b.Run(c.pt.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if err := c.c.Decode(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	payloads := realPayloads(b)
	for _, c := range []struct {
		pt wire.PayloadType
		c  wire.PayloadCodec
	}{
		{wire.TypePing, &wire.Ping{}}, {wire.TypePong, &wire.Pong{}}, {wire.TypeQuery, &wire.Query{}}, {wire.TypeQueryHit, &wire.QueryHit{}},
		{wire.TypePush, &wire.Push{}}, {wire.TypeBye, &wire.Bye{}}, {wire.TypeVendor, &wire.Vendor{}},
	} {
		p := payloads[c.pt]
		if err := c.c.Decode(p); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 0, len(p))
		b.Run(c.pt.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				var err error
				if buf, err = c.c.Append(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGGEP(b *testing.B) {
	block := realPayloads(b)[wire.TypePong][wire.PongFixedLen:]
	var g wire.GGEP
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(block)))
		for b.Loop() {
			if _, err := g.Decode(block); err != nil {
				b.Fatal(err)
			}
		}
	})
	buf := make([]byte, 0, len(block))
	b.Run("Append", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(block)))
		for b.Loop() {
			var err error
			if buf, err = g.Append(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
