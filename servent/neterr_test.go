package servent

import (
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A listen or dial failure says what failed once: the standard library's
// error already names the operation and the address.
func TestNetErrorsSayItOnce(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	s, err := New(Config{Listen: busy.Addr().String(), DataDir: t.TempDir()})
	require.NoError(t, err)
	err = s.Start(t.Context())
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.Equal(t, 1, strings.Count(err.Error(), "listen"), "%v", err)
	assert.Contains(t, err.Error(), busy.Addr().String())

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := netip.MustParseAddrPort(closed.Addr().String())
	closed.Close()
	c, err := New(Config{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, c.Start(t.Context()))
	defer c.Close()
	err = c.Connect(addr)
	require.Error(t, err)
	assert.Equal(t, 1, strings.Count(err.Error(), "dial"), "%v", err)
	assert.Contains(t, err.Error(), addr.String())
}
