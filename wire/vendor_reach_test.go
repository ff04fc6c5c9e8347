package wire_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// gtk-gnutella's recorded LIME/21 (push-giv.pcap, a firewalled gtk-gnutella
// asking us to be its push proxy): v1, empty body, header GUID = its
// servent GUID. Ours must be byte-identical.
func TestCapturePushProxyRequest(t *testing.T) {
	d := findDescriptor(t, "push-giv.pcap", wire.TypeVendor, 0, func(p []byte) bool {
		return bytes.HasPrefix(p, []byte("LIME\x15\x00"))
	})
	var v wire.Vendor
	require.NoError(t, v.Decode(d.Payload))
	assert.Equal(t, wire.VendorLIME, v.Vendor)
	assert.Equal(t, wire.SelectorPushProxyRequest, v.Selector)
	assert.EqualValues(t, 1, v.Version)
	assert.Empty(t, v.Body)
	assert.Equal(t, "48c831020b29cc9f54ca85f81b70fef8", d.Header.GUID.String(), "the wire.GUID is the servent wire.GUID")

	ours := wire.NewPushProxyRequest()
	b, err := ours.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, d.Payload, b)
}

// LIME/22 v2 as gtk-gnutella's vmsg_send_proxy_ack writes it: the address
// big-endian, the port little-endian; v1 has the port alone.
func TestPushProxyAck(t *testing.T) {
	at := netip.MustParseAddrPort("10.1.2.3:6346")
	v, err := wire.NewPushProxyAck(at)
	require.NoError(t, err)
	b, err := v.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, []byte("LIME\x16\x00\x02\x00\x0a\x01\x02\x03\xca\x18"), b)
	var back wire.Vendor
	require.NoError(t, back.Decode(b))
	got, err := wire.PushProxyAckAddr(&back, netip.MustParseAddr("192.0.2.1"))
	require.NoError(t, err)
	assert.Equal(t, at, got)

	v1 := wire.Vendor{Vendor: wire.VendorLIME, Selector: wire.SelectorPushProxyAck, Version: 1, Body: []byte{0xca, 0x18}}
	got, err = wire.PushProxyAckAddr(&v1, netip.MustParseAddr("192.0.2.1"))
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddrPort("192.0.2.1:6346"), got, "v1: the link's address")

	for _, short := range []wire.Vendor{{Version: 2, Body: []byte{1, 2, 3, 4, 5}}, {Version: 1, Body: []byte{1}}} {
		_, err := wire.PushProxyAckAddr(&short, netip.MustParseAddr("192.0.2.1"))
		assert.ErrorIs(t, err, wire.ErrMalformed)
	}
	_, err = wire.NewPushProxyAck(netip.MustParseAddrPort("[2001:db8::1]:6346"))
	assert.ErrorIs(t, err, wire.ErrMalformed, "LIME/22 has room for IPv4 only")
}

func TestRelayMessages(t *testing.T) {
	up := wire.GUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	req := wire.NewRelayRequest(up)
	got, err := wire.RelayRequestUploader(&req)
	require.NoError(t, err)
	assert.Equal(t, up, got)
	_, err = wire.RelayRequestUploader(&wire.Vendor{Body: up[:15]})
	assert.ErrorIs(t, err, wire.ErrMalformed)

	g := wire.RelayGrant{Status: wire.RelayGranted, Index: 0x01020304, Relay: netip.MustParseAddrPort("127.0.0.9:6346"), Token: up}
	v, err := wire.NewRelayGrant(g)
	require.NoError(t, err)
	b, err := v.Append(nil)
	require.NoError(t, err)
	require.Len(t, b, wire.VendorHeaderLen+wire.RelayGrantLen)
	assert.Equal(t, []byte("GOVT\x02\x00\x01\x00\x00\x04\x03\x02\x01\x7f\x00\x00\x09\xca\x18"), b[:19])
	var back wire.Vendor
	require.NoError(t, back.Decode(b))
	parsed, err := wire.ParseRelayGrant(&back)
	require.NoError(t, err)
	assert.Equal(t, g, parsed)
	back.Body = back.Body[:wire.RelayGrantLen-1]
	_, err = wire.ParseRelayGrant(&back)
	assert.ErrorIs(t, err, wire.ErrMalformed)
	assert.Equal(t, "relay full", wire.RelayFull.String())
}

func TestAddrPorts(t *testing.T) {
	addrs := []netip.AddrPort{netip.MustParseAddrPort("1.2.3.4:6346"), netip.MustParseAddrPort("127.0.0.1:1")}
	b, err := wire.AppendAddrPorts(nil, addrs)
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3, 4, 0xca, 0x18, 127, 0, 0, 1, 1, 0}, b)
	back, err := wire.ParseAddrPorts(b)
	require.NoError(t, err)
	assert.Equal(t, addrs, back)
	_, err = wire.ParseAddrPorts(b[:7])
	assert.ErrorIs(t, err, wire.ErrMalformed)
	empty, err := wire.ParseAddrPorts(nil)
	require.NoError(t, err)
	assert.Empty(t, empty)
	_, err = wire.AppendAddrPorts(nil, []netip.AddrPort{netip.MustParseAddrPort("[::1]:1")})
	assert.ErrorIs(t, err, wire.ErrMalformed)
}
