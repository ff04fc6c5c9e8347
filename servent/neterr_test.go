package servent

import (
	"net"
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A listen or dial failure says what failed once, in plain words (not
// "listen tcp A: bind: address already in use").
func TestNetErrorsSayItOnce(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	s, err := New(Config{Listen: busy.Addr().String(), DataDir: t.TempDir()})
	require.NoError(t, err)
	err = s.Start(t.Context())
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.EqualError(t, err, "listen on "+busy.Addr().String()+": address already in use")

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
	assert.EqualError(t, err, "connect to "+addr.String()+": connection refused")
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
}
