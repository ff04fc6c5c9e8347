package neterr_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire/neterr"
)

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// A refused dial from a source address of our own says what, to what and
// why, once: not "dial tcp 127.0.0.2:0->A: connect: connection refused".
func TestDialRefused(t *testing.T) {
	addr := closedAddr(t)
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0"))}
	_, err := d.Dial("tcp", addr)
	require.Error(t, err)
	require.Contains(t, err.Error(), "->", "the standard library names our source address")

	plain := neterr.Plain(err)
	assert.EqualError(t, plain, "connect to "+addr+": connection refused")
	cause := neterr.Cause(err)
	assert.EqualError(t, cause, "connection refused")
	assert.EqualError(t, neterr.Cause(plain), "connection refused", "Cause of Plain's error")
	assert.EqualError(t, neterr.Plain(cause), "connect to "+addr+": connection refused", "Plain of Cause's error")
	for _, e := range []error{plain, cause, fmt.Errorf("browse: %w", plain)} {
		assert.ErrorIs(t, e, syscall.ECONNREFUSED, "errors.Is sees the errno")
		op, ok := errors.AsType[*net.OpError](e)
		if assert.True(t, ok, "errors.As finds the *net.OpError") {
			assert.Same(t, err, error(op))
		}
		ne, ok := errors.AsType[net.Error](e)
		assert.True(t, ok, "a net.Error")
		assert.False(t, ne.Timeout())
	}
}

func TestListenBusy(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	_, err = net.Listen("tcp", busy.Addr().String())
	require.Error(t, err)
	assert.EqualError(t, neterr.Plain(err), "listen on "+busy.Addr().String()+": address already in use")
	assert.ErrorIs(t, neterr.Plain(err), syscall.EADDRINUSE)

	// An address that is not ours: the user's typo, said so.
	_, err = net.Listen("tcp", "192.0.2.1:6346")
	require.Error(t, err)
	assert.EqualError(t, neterr.Plain(err), "listen on 192.0.2.1:6346: not an address of this host")
	assert.ErrorIs(t, neterr.Plain(err), syscall.EADDRNOTAVAIL)

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	_, err = net.ListenPacket("udp", pc.LocalAddr().String())
	require.Error(t, err)
	assert.EqualError(t, neterr.Plain(err), "listen on UDP "+pc.LocalAddr().String()+": address already in use")
}

// Reads past a deadline and on a closed connection: the remote address,
// and the cause in words.
func TestReadTimeoutAndClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(time.Second) // hold it open while the test reads
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now()))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
	assert.EqualError(t, neterr.Plain(err), "read from "+ln.Addr().String()+": timed out")
	ne, ok := errors.AsType[net.Error](neterr.Plain(err))
	assert.True(t, ok && ne.Timeout(), "still a timeout")

	require.NoError(t, c.Close())
	_, err = c.Read(make([]byte, 1))
	assert.EqualError(t, neterr.Plain(err), "read from "+ln.Addr().String()+": connection closed")
	assert.ErrorIs(t, neterr.Plain(err), net.ErrClosed)
}

// A dial cut by its context says so; errors.Is still sees the context's
// error.
func TestDialCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var d net.Dialer
	_, err := d.DialContext(ctx, "tcp", closedAddr(t))
	require.Error(t, err)
	assert.ErrorIs(t, neterr.Cause(err), context.Canceled)
	assert.EqualError(t, neterr.Cause(err), "operation was canceled")
}

// Other errors, and wrapped ones, keep their words.
func TestOtherErrorsUnchanged(t *testing.T) {
	other := errors.New("503 Full")
	assert.Same(t, other, neterr.Plain(other))
	assert.Same(t, other, neterr.Cause(other))
	assert.NoError(t, neterr.Plain(nil))
	wrapped := fmt.Errorf("handshake: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET})
	assert.Same(t, wrapped, neterr.Plain(wrapped))
}
