package memnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPacketsBetweenHosts(t *testing.T) {
	n := New()
	a, err := n.Host(netip.MustParseAddr("10.0.0.1")).ListenPacket(context.Background(), "udp", ":6346")
	require.NoError(t, err)
	defer a.Close()
	b, err := n.Host(netip.MustParseAddr("10.0.0.2")).ListenPacket(context.Background(), "udp", "10.0.0.2:7000")
	require.NoError(t, err)
	defer b.Close()

	_, err = b.WriteTo([]byte("hello"), net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.0.0.1:6346")))
	require.NoError(t, err)
	buf := make([]byte, 3)
	nr, from, err := a.(*PacketConn).ReadFromUDPAddrPort(buf)
	require.NoError(t, err)
	assert.Equal(t, "hel", string(buf[:nr]), "a long datagram is truncated to the buffer")
	assert.Equal(t, netip.MustParseAddrPort("10.0.0.2:7000"), from)

	// a is bound to the unspecified address: it sends from its host's IP.
	_, err = a.(*PacketConn).WriteToUDPAddrPort([]byte("back"), from)
	require.NoError(t, err)
	buf = make([]byte, 100)
	nr, addr, err := b.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "back", string(buf[:nr]))
	assert.Equal(t, "10.0.0.1:6346", addr.String())

	// Nobody bound there: dropped without an error.
	_, err = a.(*PacketConn).WriteToUDPAddrPort([]byte("x"), netip.MustParseAddrPort("10.0.0.3:1"))
	assert.NoError(t, err)

	_, err = n.ListenPacket(context.Background(), "udp", "10.0.0.2:7000")
	assert.Error(t, err, "the address is taken")
	_, err = n.ListenPacket(context.Background(), "tcp", ":1")
	assert.Error(t, err)
}

func TestPacketQueueDropsWhenFull(t *testing.T) {
	n := New()
	a, err := n.ListenPacket(context.Background(), "udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer a.Close()
	to := a.LocalAddr().(*net.UDPAddr).AddrPort()
	b, err := n.ListenPacket(context.Background(), "udp", "127.0.0.2:0")
	require.NoError(t, err)
	defer b.Close()
	for i := range DefaultPacketQueue + 10 {
		_, err := b.(*PacketConn).WriteToUDPAddrPort([]byte{byte(i)}, to)
		require.NoError(t, err, "a full queue never blocks the sender")
	}
	buf := make([]byte, 1)
	for i := range DefaultPacketQueue {
		_, _, err := a.(*PacketConn).ReadFromUDPAddrPort(buf)
		require.NoError(t, err)
		require.Equal(t, byte(i), buf[0])
	}
	require.NoError(t, a.SetReadDeadline(time.Now().Add(time.Millisecond)))
	_, _, err = a.ReadFrom(buf)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "the ones past the queue were dropped")
}

func TestPacketReadDeadlineAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New()
		a, err := n.ListenPacket(context.Background(), "udp", "127.0.0.1:5000")
		require.NoError(t, err)
		start := time.Now()
		require.NoError(t, a.SetReadDeadline(start.Add(time.Minute)))
		_, _, err = a.ReadFrom(make([]byte, 10))
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, time.Minute, time.Since(start))

		require.NoError(t, a.SetReadDeadline(time.Time{}))
		done := make(chan error)
		go func() {
			_, _, err := a.ReadFrom(make([]byte, 10))
			done <- err
		}()
		synctest.Wait()
		require.NoError(t, a.Close())
		assert.True(t, errors.Is(<-done, net.ErrClosed))
		// The port is free again.
		again, err := n.ListenPacket(context.Background(), "udp", "127.0.0.1:5000")
		require.NoError(t, err)
		again.Close()
	})
}
