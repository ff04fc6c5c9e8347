package router

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// receive runs msgs through r and returns the table the last completes.
func receive(t *testing.T, r *QRTReceiver, msgs []wire.QRP) *QueryRouteTable {
	t.Helper()
	var tab *QueryRouteTable
	for i := range msgs {
		var err error
		tab, err = r.Handle(&msgs[i])
		require.NoError(t, err, "message %d", i)
	}
	require.NotNil(t, tab)
	return tab
}

// sharedPages counts the pages two tables hold in common.
func sharedPages(a, b *QueryRouteTable) int {
	n := 0
	for i := range a.pages {
		if a.pages[i] == b.pages[i] {
			n++
		}
	}
	return n
}

// A patch makes a new table that copies only the pages it changes; the
// table published before stays as it was, for the readers that hold it.
func TestQRTReceiverCopiesOnlyChangedPages(t *testing.T) {
	names := []string{"penny lane.mp3", "strawberry fields.ogg"}
	a, err := BuildQRT(names, nil, 17) // 32 pages
	require.NoError(t, err)
	b, err := BuildQRT(append(names, "yesterday.flac"), nil, 17)
	require.NoError(t, err)
	r := NewQRTReceiver(0)

	msgs, err := PatchMessages(nil, a, 4, true, 4096)
	require.NoError(t, err)
	first := receive(t, r, msgs)
	assert.Equal(t, a.Present(), first.Present())
	touched := map[uint32]bool{}
	for i := range uint32(a.Slots()) {
		if a.IsPresent(i) {
			touched[i>>qrtPageBits] = true
		}
	}
	assert.Equal(t, len(first.pages)-len(touched), sharedPages(first, &QueryRouteTable{pages: slicesOf(r.empty, len(first.pages))}),
		"a fresh table shares one empty page wherever the patch wrote nothing")

	msgs, err = PatchMessages(a, b, 4, true, 4096)
	require.NoError(t, err)
	second := receive(t, r, msgs)
	assert.False(t, first.MatchText([]byte("yesterday")), "the published table changed under its readers")
	assert.True(t, second.MatchText([]byte("yesterday")))
	assert.Equal(t, b.Present(), second.Present())
	changed := map[uint32]bool{}
	for i := range uint32(a.Slots()) {
		if a.IsPresent(i) != b.IsPresent(i) {
			changed[i>>qrtPageBits] = true
		}
	}
	require.NotEmpty(t, changed)
	assert.Equal(t, len(first.pages)-len(changed), sharedPages(first, second), "copied other pages than those the patch touched")

	// A patch that changes nothing publishes nothing new.
	zero := []wire.QRP{{Variant: wire.QRPPatch, SeqNo: 1, SeqSize: 1, EntryBits: 8, Data: make([]byte, b.Slots())}}
	assert.Same(t, second, receive(t, r, zero))
}

func slicesOf(p *qrtPage, n int) []*qrtPage {
	out := make([]*qrtPage, n)
	for i := range out {
		out[i] = p
	}
	return out
}

func TestQRTReceiverWork(t *testing.T) {
	r := NewQRTReceiver(0)
	last := &wire.QRP{Variant: wire.QRPPatch, SeqNo: 2, SeqSize: 2, EntryBits: 4}
	assert.Zero(t, r.Work(last), "no RESET yet: Handle refuses it without work")
	_, err := r.Handle(&wire.QRP{Variant: wire.QRPReset, TableLength: 1 << 20, Infinity: 2})
	require.NoError(t, err)
	assert.Equal(t, 1<<19, r.Work(last), "a 4-bit patch of 2^20 slots")
	assert.Zero(t, r.Work(&wire.QRP{Variant: wire.QRPPatch, SeqNo: 1, SeqSize: 2, EntryBits: 4}), "not the last fragment")
	assert.Zero(t, r.Work(&wire.QRP{Variant: wire.QRPReset, TableLength: 1 << 20, Infinity: 2}))
}

// Past 2^17 slots a table must fill at least 1/QRTMinFill of them, as
// gtk-gnutella's tables do; smaller ones are taken however sparse.
func TestQRTReceiverRefusesUnjustifiedTables(t *testing.T) {
	few := []string{"penny lane.mp3"}
	many := make([]string, 3000)
	for i := range many {
		many[i] = fmt.Sprintf("k%dq", i)
	}
	for _, tc := range []struct {
		name  string
		names []string
		bits  uint8
		ok    bool
	}{
		{"sparse 2^17 (ultrapeer size)", few, 17, true},
		{"sparse 2^18", few, 18, false},
		{"sparse 2^21", few, 21, false},
		{"full enough 2^18", many, 18, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := BuildQRT(tc.names, nil, tc.bits)
			require.NoError(t, err)
			msgs, err := PatchMessages(nil, tab, 4, true, 4096)
			require.NoError(t, err)
			r := NewQRTReceiver(0)
			for i := range msgs {
				if _, err = r.Handle(&msgs[i]); err != nil {
					break
				}
			}
			if tc.ok {
				require.NoError(t, err)
				assert.Equal(t, tab.Present(), r.Table().Present())
				return
			}
			assert.ErrorIs(t, err, ErrQRPUnjustified)
			assert.ErrorIs(t, err, ErrQRP)
			assert.Nil(t, r.Table())
		})
	}
}
