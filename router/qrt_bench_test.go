package router_test

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"testing"

	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
)

// benchLibrary is a leaf's shared names: n distinct three-word titles.
func benchLibrary(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("Artist%d - Song Title %d (Live).mp3", i%97, i)
	}
	return names
}

func BenchmarkQRTMatchText(b *testing.B) {
	tab := buildTable(b, benchLibrary(2000), nil, 16)
	text := []byte("artist42 song title 1234")
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tab.MatchText(text)
	}
}

// An ultrapeer hashes a query once and tests its 30 leaves' tables.
func BenchmarkQRTMatchLeaves(b *testing.B) {
	var leaves []*router.QueryRouteTable
	for i := range 30 {
		leaves = append(leaves, buildTable(b, benchLibrary(200+i), nil, uint8(14+i%3)))
	}
	text := []byte("artist42 song title 1234")
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		var q router.QueryHashes
		q.AddText(text)
		for _, t := range leaves {
			t.Match(&q)
		}
	}
}

// Receiving a LimeWire-sized table: 65536 slots, 4-bit zlib patch.
func BenchmarkQRTReceive(b *testing.B) {
	tab := buildTable(b, benchLibrary(2000), nil, 16)
	msgs, err := router.PatchMessages(nil, tab, 4, true, 4096)
	if err != nil {
		b.Fatal(err)
	}
	size := 0
	for _, m := range msgs {
		size += m.Len()
	}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		rcv := router.NewQRTReceiver(0)
		for i := range msgs {
			if _, err := rcv.Handle(&msgs[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkQRTBuildAndPatch(b *testing.B) {
	names := benchLibrary(2000)
	urns := make([]wire.SHA1, 2000)
	for i := range urns {
		urns[i][0], urns[i][1] = byte(i), byte(i>>8)
	}
	b.ReportAllocs()
	for b.Loop() {
		tab, err := router.BuildQRT(names, urns, 16)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := router.PatchMessages(nil, tab, 4, true, 4096); err != nil {
			b.Fatal(err)
		}
	}
}

// hostilePatch is one PATCH sequence of a single message: the zlib of a
// whole 8-bit patch for 2^21 slots, all zeros except the deltas set (slot ->
// delta). It is about 2 KiB on the wire and 2 MiB once inflated.
func hostilePatch(b testing.TB, deltas map[int]int8) wire.QRP {
	raw := make([]byte, 1<<21)
	for slot, d := range deltas {
		raw[slot] = byte(d)
	}
	var buf bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	if _, err := zw.Write(raw); err != nil {
		b.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	return wire.QRP{Variant: wire.QRPPatch, SeqNo: 1, SeqSize: 1, Compressor: wire.QRPCompressZlib, EntryBits: 8, Data: buf.Bytes()}
}

// The QRP amplification of issue 9: after one RESET to 2^21 slots (and a
// first patch filling enough of them to justify that size), each 2 KiB
// PATCH makes the ultrapeer inflate and apply 2 MiB. "zeros" changes
// nothing; "few-slots" is a small real update (16 slots flip).
func BenchmarkQRTHostilePatch(b *testing.B) {
	fill := map[int]int8{}
	for slot := 0; slot < 1<<21; slot += 64 {
		fill[slot] = -1 // present, 1 hop away: 1/64 of the table
	}
	few := map[int]int8{}
	for i := range 16 {
		few[i*131071+7] = -1
	}
	for _, bc := range []struct {
		name   string
		deltas map[int]int8
	}{{"zeros", nil}, {"few-slots", few}} {
		b.Run(bc.name, func(b *testing.B) {
			rcv := router.NewQRTReceiver(0)
			reset := wire.QRP{Variant: wire.QRPReset, TableLength: 1 << 21, Infinity: 2}
			first := hostilePatch(b, fill)
			for _, m := range []wire.QRP{reset, first} {
				if _, err := rcv.Handle(&m); err != nil {
					b.Fatal(err)
				}
			}
			// The same update applied again and again flips the same
			// slots back and forth: every sequence does the same work.
			m := hostilePatch(b, bc.deltas)
			b.SetBytes(int64(len(m.Data)))
			b.ReportAllocs()
			cpu := router.ProcessCPU()
			for b.Loop() {
				if _, err := rcv.Handle(&m); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time, not wall time, is what a flood takes from
			// everyone else, and it holds up on a shared machine.
			b.ReportMetric(float64(router.ProcessCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
