package wire

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOOBGUIDCarriesTheReplyAddress(t *testing.T) {
	g := NewGUID()
	addr := netip.MustParseAddrPort("10.1.2.3:6346")
	o, err := OOBGUID(g, addr)
	require.NoError(t, err)
	// gtk-gnutella's guid_oob_get_addr_port: bytes 0-3 the IP, 13-14 the
	// port little-endian (6346 = 0x18CA).
	assert.Equal(t, []byte{10, 1, 2, 3}, o[0:4])
	assert.Equal(t, []byte{0xCA, 0x18}, o[13:15])
	assert.Equal(t, g[4:13], o[4:13], "the rest stays random")
	assert.Equal(t, addr, o.OOBAddr())
	_, err = OOBGUID(g, netip.MustParseAddrPort("[2001:db8::1]:6346"))
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestReplyNumberBytes(t *testing.T) {
	// vmsg_build_oob_reply_ind: hits, then 0x1 when not UDP-firewalled;
	// version 3 for a secure (OOB v3) reply.
	v := ReplyNumber{Hits: 7, Unsolicited: true, Secure: true}.Vendor()
	b, err := v.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, []byte("LIME\x0c\x00\x03\x00\x07\x01"), b)
	v = ReplyNumber{Hits: 1}.Vendor()
	b, _ = v.Append(nil)
	assert.Equal(t, []byte("LIME\x0c\x00\x02\x00\x01\x00"), b)

	for _, c := range []struct {
		in   string
		want ReplyNumber
	}{
		{"LIME\x0c\x00\x01\x00\x05", ReplyNumber{Hits: 5}},
		{"LIME\x0c\x00\x02\x00\x05\x01", ReplyNumber{Hits: 5, Unsolicited: true}},
		{"LIME\x0c\x00\x03\x00\xff\x00", ReplyNumber{Hits: 255, Secure: true}},
	} {
		var v Vendor
		require.NoError(t, v.Decode([]byte(c.in)))
		r, err := DecodeReplyNumber(&v)
		require.NoError(t, err, "%q", c.in)
		assert.Equal(t, c.want, r)
	}
	for _, bad := range []string{
		"LIME\x0c\x00\x02\x00\x05",     // v2 without flags
		"LIME\x0c\x00\x02\x00\x00\x01", // no hits
		"LIME\x0c\x00\x04\x00\x05\x01", // unknown version
		"LIME\x0c\x00\x01\x00",         // empty
		"GTKG\x0c\x00\x02\x00\x05\x01", // not LIME
	} {
		var v Vendor
		require.NoError(t, v.Decode([]byte(bad)))
		_, err := DecodeReplyNumber(&v)
		assert.ErrorIs(t, err, ErrMalformed, "%q", bad)
	}
}

func TestLimeACKBytes(t *testing.T) {
	// vmsg_send_oob_reply_ack: wanted, then a GGEP block with "SO" holding
	// the token, version 3.
	v, err := LimeACK{Wanted: 10, Token: []byte{1, 2, 3, 4}}.Vendor()
	require.NoError(t, err)
	b, err := v.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, []byte("LIME\x0b\x00\x03\x00\x0a\xc3\x82SO\x44\x01\x02\x03\x04"), b)

	var back Vendor
	require.NoError(t, back.Decode(b))
	a, err := DecodeLimeACK(&back)
	require.NoError(t, err)
	assert.Equal(t, uint8(10), a.Wanted)
	assert.Equal(t, []byte{1, 2, 3, 4}, a.Token)

	v, err = LimeACK{Wanted: 255}.Vendor()
	require.NoError(t, err)
	b, _ = v.Append(nil)
	assert.Equal(t, []byte("LIME\x0b\x00\x02\x00\xff"), b)

	for _, bad := range []string{
		"LIME\x0b\x00\x03\x00",                                         // empty
		"LIME\x0b\x00\x03\x00\x0a\xc3\x82SO",                           // cut GGEP
		"LIME\x0b\x00\x03\x00\x0a\xc3\x82SO\x40",                       // empty token
		"LIME\x0b\x00\x03\x00\x0a\xc3\x82SO\x51" + "0123456789abcdefg", // 17 bytes
	} {
		var v Vendor
		require.NoError(t, v.Decode([]byte(bad)))
		_, err := DecodeLimeACK(&v)
		assert.ErrorIs(t, err, ErrMalformed, "%q", bad)
	}
	_, err = LimeACK{Wanted: 1, Token: make([]byte, 17)}.Vendor()
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestUDPConnectBack(t *testing.T) {
	g := NewGUID()
	v := UDPConnectBack{Port: 6346, GUID: g}.Vendor()
	b, err := v.Append(nil)
	require.NoError(t, err)
	// vmsg_send_udp_connect_back: GTKG/7v1, port LE then the GUID.
	assert.Equal(t, append([]byte("GTKG\x07\x00\x01\x00\xca\x18"), g[:]...), b)
	var back Vendor
	require.NoError(t, back.Decode(b))
	c, err := DecodeUDPConnectBack(&back, GUID{})
	require.NoError(t, err)
	assert.Equal(t, UDPConnectBack{Port: 6346, GUID: g}, c)

	// Version 2: the Ping GUID is the message's own.
	require.NoError(t, back.Decode([]byte("GTKG\x07\x00\x02\x00\xca\x18")))
	c, err = DecodeUDPConnectBack(&back, g)
	require.NoError(t, err)
	assert.Equal(t, g, c.GUID)

	for _, bad := range []string{"GTKG\x07\x00\x01\x00\xca\x18", "GTKG\x07\x00\x02\x00\x00\x00", "GTKG\x07\x00\x03\x00\xca\x18"} {
		require.NoError(t, back.Decode([]byte(bad)))
		_, err := DecodeUDPConnectBack(&back, g)
		assert.ErrorIs(t, err, ErrMalformed, "%q", bad)
	}
}
