package wire

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNetworkOf(t *testing.T) {
	for _, tc := range []struct{ a, want string }{
		{"192.0.2.77", "192.0.2.0/24"},
		{"::ffff:192.0.2.77", "192.0.2.0/24"},
		{"2001:db8:1:2:3::4", "2001:db8:1::/48"},
		{"2001:db8:1:ffff::1", "2001:db8:1::/48"},
	} {
		assert.Equal(t, netip.MustParsePrefix(tc.want), NetworkOf(netip.MustParseAddr(tc.a)), tc.a)
	}
	assert.Equal(t, netip.Prefix{}, NetworkOf(netip.Addr{}))
}
