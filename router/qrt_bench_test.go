package router_test

import (
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
