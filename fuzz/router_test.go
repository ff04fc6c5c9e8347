package fuzz

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
)

// qrtMaxSlots keeps fuzzed tables small enough to compare slot by slot on
// every run; the captured tables (2^14 and 2^16 slots) fit.
const qrtMaxSlots = 1 << 16

// qrtMessages splits a FuzzQRT input into QRP payloads: a u16 LE length,
// then that many bytes (fewer at the end of the input).
func qrtMessages(data []byte) [][]byte {
	var out [][]byte
	for len(data) >= 2 {
		n := int(data[0]) | int(data[1])<<8
		data = data[2:]
		n = min(n, len(data))
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// FuzzQRT feeds a sequence of QRP messages to a table receiver. Errors wrap
// router.ErrQRP; every table it completes is within the slot limit, and
// sent on with our own encoder (through wire's codec) to a mirror receiver
// it arrives identical, as a full table and as a patch on the previous one.
func FuzzQRT(f *testing.F) {
	reset := []byte{wire.QRPReset, 0, 1, 0, 0, 2} // 256 slots, infinity 2
	patch := append([]byte{wire.QRPPatch, 1, 1, wire.QRPCompressNone, 8}, make([]byte, 256)...)
	patch[5+7] = 0xff // slot 7: 2-1, present
	var one []byte
	for _, p := range [][]byte{reset, patch, patch} {
		one = append(one, byte(len(p)), byte(len(p)>>8))
		one = append(one, p...)
	}
	f.Add(one)
	f.Add([]byte{6, 0, wire.QRPPatch, 1, 1, 0, 1, 0}) // PATCH before RESET
	f.Add([]byte{6, 0, wire.QRPReset, 0, 0, 0, 1, 2}) // 2^24 slots: over the limit
	f.Fuzz(func(t *testing.T, data []byte) {
		recv := router.NewQRTReceiver(qrtMaxSlots)
		mirror := router.NewQRTReceiver(qrtMaxSlots)
		var q wire.QRP
		for i, p := range qrtMessages(data) {
			if q.Decode(p) != nil {
				continue // the connection drops what does not decode
			}
			table, err := recv.Handle(&q)
			if err != nil {
				require.ErrorIs(t, err, router.ErrQRP)
				if q.Variant == wire.QRPReset && q.TableLength > qrtMaxSlots && q.TableLength&(q.TableLength-1) == 0 {
					require.ErrorIs(t, err, router.ErrQRPTooLarge)
				}
				continue
			}
			if table == nil {
				continue
			}
			require.Same(t, table, recv.Table(), "message %d: Table is not the table just completed", i)
			checkTable(t, table)
			mirrorTable(t, mirror, table, len(data))
		}
	})
}

// checkTable checks a table's shape and its count of present slots.
func checkTable(t *testing.T, table *router.QueryRouteTable) {
	require.LessOrEqual(t, table.Slots(), qrtMaxSlots)
	require.Equal(t, 1<<table.Bits(), table.Slots())
	require.GreaterOrEqual(t, table.Infinity(), uint8(1))
	present := 0
	for s := range table.Slots() {
		if table.IsPresent(uint32(s)) {
			present++
		}
	}
	require.Equal(t, present, table.Present(), "present count")
	require.False(t, table.IsPresent(uint32(table.Slots())), "a slot past the end is present")
}

// mirrorTable sends next to mirror as our servent would: a patch against
// the table mirror holds (or a RESET and a full patch), each message through
// wire's Append and Decode. The mirror must then hold next.
func mirrorTable(t *testing.T, mirror *router.QRTReceiver, next *router.QueryRouteTable, seed int) {
	entryBits := uint8(1)
	for next.Slots()*int(entryBits) < 8 {
		entryBits *= 2
	}
	compress := seed%2 == 1
	frag := max(1+seed%1024, next.Slots()*int(entryBits)/8/200+1)
	msgs, err := router.PatchMessages(mirror.Table(), next, entryBits, compress, frag)
	if errors.Is(err, router.ErrQRPEncode) {
		// A tiny table whose values jump further than its entries hold:
		// the mirror starts over with the next table.
		*mirror = *router.NewQRTReceiver(qrtMaxSlots)
		return
	}
	require.NoError(t, err)
	var q wire.QRP
	for i := range msgs {
		b, err := msgs[i].Append(nil)
		require.NoError(t, err, "PatchMessages gave a QRP wire refuses")
		require.NoError(t, q.Decode(b))
		_, err = mirror.Handle(&q)
		require.NoError(t, err, "mirror refused our own patch %d/%d", i+1, len(msgs))
	}
	got := mirror.Table()
	require.NotNil(t, got)
	require.Equal(t, next.Slots(), got.Slots())
	require.Equal(t, next.Infinity(), got.Infinity())
	for s := range next.Slots() {
		if next.IsPresent(uint32(s)) != got.IsPresent(uint32(s)) {
			t.Fatalf("slot %d: sent present=%v, mirror has %v", s, next.IsPresent(uint32(s)), got.IsPresent(uint32(s)))
		}
	}
}
