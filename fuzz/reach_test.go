package fuzz

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// FuzzReachBodies: the bodies of the push-proxy and relay vendor messages
// and GGEP PUSH's address vector either fail with ErrMalformed or read
// back what their builders write.
func FuzzReachBodies(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x7f, 0, 0, 1, 0xca, 0x18})
	f.Add(make([]byte, wire.RelayGrantLen))
	f.Add(make([]byte, wire.GUIDLen+1))
	f.Fuzz(func(t *testing.T, body []byte) {
		from := netip.MustParseAddr("192.0.2.1")
		for _, version := range []uint16{1, 2} {
			v := wire.Vendor{Vendor: wire.VendorLIME, Selector: wire.SelectorPushProxyAck, Version: version, Body: body}
			a, err := wire.PushProxyAckAddr(&v, from)
			if err != nil {
				require.ErrorIs(t, err, wire.ErrMalformed)
				continue
			}
			if version == 2 {
				ack, err := wire.NewPushProxyAck(a)
				require.NoError(t, err)
				require.Equal(t, body[:6], ack.Body)
			}
		}
		v := wire.Vendor{Body: body}
		if g, err := wire.ParseRelayGrant(&v); err != nil {
			require.ErrorIs(t, err, wire.ErrMalformed)
		} else {
			back, err := wire.NewRelayGrant(g)
			require.NoError(t, err)
			require.Equal(t, body[:wire.RelayGrantLen], back.Body)
		}
		if u, err := wire.RelayRequestUploader(&v); err != nil {
			require.ErrorIs(t, err, wire.ErrMalformed)
		} else {
			require.Equal(t, body[:wire.GUIDLen], wire.NewRelayRequest(u).Body)
		}
		if addrs, err := wire.ParseAddrPorts(body); err != nil {
			require.ErrorIs(t, err, wire.ErrMalformed)
		} else {
			back, err := wire.AppendAddrPorts(nil, addrs)
			require.NoError(t, err)
			require.Equal(t, len(body), len(back))
			if len(body) > 0 {
				require.Equal(t, body, back)
			}
		}
	})
}
