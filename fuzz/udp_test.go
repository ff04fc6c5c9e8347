package fuzz

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// FuzzOOBVendor: the UDP vendor messages (LIME/11, LIME/12, GTKG/7) never
// panic, fail only with ErrMalformed, and what decodes encodes to a message
// that decodes to the same value.
func FuzzOOBVendor(f *testing.F) {
	f.Add([]byte("LIME\x0b\x00\x03\x00\x0a\xc3\x82SO\x44\x01\x02\x03\x04"))
	f.Add([]byte("LIME\x0b\x00\x02\x00\xff"))
	f.Add([]byte("LIME\x0c\x00\x03\x00\x07\x01"))
	f.Add([]byte("LIME\x0c\x00\x01\x00\x05"))
	f.Add([]byte("GTKG\x07\x00\x01\x00\xca\x180123456789abcdef"))
	f.Add([]byte("GTKG\x07\x00\x02\x00\xca\x18"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var v wire.Vendor
		if v.Decode(payload) != nil {
			return
		}
		guid := wire.GUID{1, 2, 3}
		if rn, err := wire.DecodeReplyNumber(&v); err != nil {
			require.ErrorIs(t, err, wire.ErrMalformed)
		} else {
			back := rn.Vendor()
			again, err := wire.DecodeReplyNumber(&back)
			require.NoError(t, err)
			if v.Version == 1 {
				rn.Unsolicited = false // version 1 has no flags; we send 2
			}
			require.Equal(t, rn, again)
		}
		if ack, err := wire.DecodeLimeACK(&v); err != nil {
			require.ErrorIs(t, err, wire.ErrMalformed)
		} else {
			back, err := ack.Vendor()
			require.NoError(t, err)
			again, err := wire.DecodeLimeACK(&back)
			require.NoError(t, err)
			require.Equal(t, ack.Wanted, again.Wanted)
			require.Equal(t, ack.Token, again.Token)
		}
		if cb, err := wire.DecodeUDPConnectBack(&v, guid); err != nil {
			require.ErrorIs(t, err, wire.ErrMalformed)
		} else {
			back := cb.Vendor()
			again, err := wire.DecodeUDPConnectBack(&back, wire.GUID{})
			require.NoError(t, err)
			require.Equal(t, cb, again)
		}
	})
}
