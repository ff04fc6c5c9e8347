package servent

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// silentPeer is a loopback listener that takes connections and never
// answers.
func silentPeer(t *testing.T) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// A handshake that a silent peer lets time out says "handshake" once:
// before, "servent: handshake with X: wire: handshake: read tcp ...";
// and then "handshake with X: read tcp 127.0.0.1:P->X: i/o timeout".
func TestConnectSilentPeerSaysHandshakeOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.Network, cfg.HandshakeTimeout = nil, 100*time.Millisecond
	s := startServent(t, cfg)
	ap := silentPeer(t)
	err := s.Connect(ap)
	require.Error(t, err)
	assert.Equal(t, 1, strings.Count(err.Error(), "handshake"), "%v", err)
	assert.EqualError(t, err, "handshake with "+ap.String()+": timed out")
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
}

// ConnectContext gives up when its context ends, in the middle of a
// handshake that a silent peer would otherwise hold for the whole
// handshake timeout.
func TestConnectContextCutsHandshake(t *testing.T) {
	cfg := testConfig(t)
	cfg.Network, cfg.HandshakeTimeout = nil, 30*time.Second
	s := startServent(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.ConnectContext(ctx, silentPeer(t))
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Empty(t, s.Peers())
}
