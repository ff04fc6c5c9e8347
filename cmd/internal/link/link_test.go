package link

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

func TestConnectBlock(t *testing.T) {
	up := Options{Ultrapeer: true, AcceptDeflate: true}.ConnectBlock()
	assert.Equal(t, wire.ConnectLine06, up.StartLine)
	v, _ := up.Get("X-Ultrapeer")
	assert.Equal(t, "True", v)
	assert.True(t, up.HasToken("Accept-Encoding", "deflate"))
	_, ok := up.Get("X-Dynamic-Querying")
	assert.True(t, ok)

	leaf := Options{Headers: []wire.HandshakeHeader{{Name: "bye-packet"}, {Name: "user-agent", Value: "X/1"}}}.ConnectBlock()
	v, _ = leaf.Get("X-Ultrapeer")
	assert.Equal(t, "False", v)
	_, ok = leaf.Get("Bye-Packet")
	assert.False(t, ok, "an empty value removes the header")
	assert.Equal(t, []string{"X/1"}, leaf.Values("User-Agent"), "a value replaces it")
	_, ok = leaf.Get("Accept-Encoding")
	assert.False(t, ok)
}

// TestDialAndExchange runs a Link against a scripted peer: the handshake,
// a descriptor each way, a malformed one, and the close.
func TestDialAndExchange(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	got := make(chan *wire.Message, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		if _, err := wire.ReadHandshake(br, wire.HandshakeLimits{}); err != nil {
			return
		}
		_, _ = nc.Write([]byte("GNUTELLA/0.6 200 OK\r\nX-Ultrapeer: True\r\n\r\n"))
		if _, err := wire.ReadHandshake(br, wire.HandshakeLimits{}); err != nil {
			return
		}
		r := wire.NewReader(br, 0)
		m, err := r.ReadMessage()
		if err != nil {
			return
		}
		got <- Clone(m)
		pong := wire.Message{Header: wire.Header{GUID: m.Header.GUID, Type: wire.TypePong, TTL: 1}}
		b, _ := pong.Append(nil)
		bad := wire.Header{GUID: wire.NewGUID(), Type: wire.TypePong, TTL: 1, Length: 3}
		b = append(append(b, bad.Append(nil)...), "abc"...)
		_, _ = nc.Write(b)
	}()

	l, err := Dial(t.Context(), ln.Addr().String(), Options{Ultrapeer: true, Timeout: 2 * time.Second})
	require.NoError(t, err)
	defer l.Close()
	assert.Equal(t, 200, l.Code)
	ping := &wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePing, TTL: 1}}
	require.NoError(t, l.Send(ping))
	assert.Equal(t, ping.Header.GUID, (<-got).Header.GUID)

	r, err := l.Next(2 * time.Second)
	require.NoError(t, err)
	assert.NoError(t, r.Err)
	assert.Equal(t, wire.TypePong, r.Msg.Header.Type)
	assert.Equal(t, ping.Header.GUID, r.Msg.Header.GUID)
	r, err = l.Next(2 * time.Second)
	require.NoError(t, err)
	assert.ErrorIs(t, r.Err, wire.ErrMalformed, "a Pong of 3 bytes")
	_, err = l.Next(2 * time.Second)
	assert.ErrorIs(t, err, ErrClosed)
	assert.Contains(t, l.Transcript()[0], "-> GNUTELLA CONNECT/0.6")
}

// peerOnce listens on loopback, runs serve on the first connection it
// accepts and closes it; it returns the address.
func peerOnce(t *testing.T, serve func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		serve(nc)
	}()
	return ln.Addr().String()
}

// silent is a peer that says nothing.
func silent(nc net.Conn) { _, _ = io.Copy(io.Discard, nc) }

func TestDialRefused(t *testing.T) {
	addr := peerOnce(t, func(nc net.Conn) {
		if _, err := wire.ReadHandshake(bufio.NewReader(nc), wire.HandshakeLimits{}); err == nil {
			_, _ = nc.Write([]byte("GNUTELLA/0.6 503 Full\r\nX-Try-Ultrapeers: 10.0.0.1:6346\r\n\r\n"))
		}
	})
	l, err := Dial(t.Context(), addr, Options{Timeout: 2 * time.Second})
	require.Error(t, err)
	assert.EqualError(t, err, "handshake with "+addr+" refused: 503 Full")
	assert.ErrorIs(t, err, wire.ErrRefused)
	require.NotNil(t, l)
	assert.Equal(t, 503, l.Code)
	v, _ := l.Answer.Get("X-Try-Ultrapeers")
	assert.Equal(t, "10.0.0.1:6346", v)
	h, read, err := l.Greeting()
	require.True(t, read)
	require.NoError(t, err)
	assert.Equal(t, "GNUTELLA/0.6 503 Full", h.StartLine)
}

// TestDialFromLocal: the connection comes from Options.Local, and a peer
// that never answers leaves the Greeting's timeout.
func TestDialFromLocal(t *testing.T) {
	from := make(chan net.Addr, 1)
	addr := peerOnce(t, func(nc net.Conn) {
		from <- nc.RemoteAddr()
		silent(nc)
	})
	local := netip.MustParseAddr("127.77.0.5")
	l, err := Dial(t.Context(), addr, Options{Timeout: 200 * time.Millisecond, Local: local})
	require.Error(t, err)
	// Not "read tcp 127.77.0.5:PORT->A: i/o timeout": the caller names
	// A, and our source address and Go's words are no business of the user's.
	assert.EqualError(t, err, "reading a handshake block: timed out")
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NotNil(t, l)
	assert.Equal(t, local, (<-from).(*net.TCPAddr).AddrPort().Addr())
	_, read, gerr := l.Greeting()
	require.True(t, read)
	assert.ErrorIs(t, gerr, os.ErrDeadlineExceeded)

	l, err = DialTCP(t.Context(), addr, netip.Addr{}, time.Second)
	require.NoError(t, err)
	defer l.Conn.Close()
	_, read, _ = l.Greeting()
	assert.False(t, read, "nothing read yet")
}

// A Dial whose ctx ends (conform's Ctrl-C) while the peer says nothing
// returns then, not after its timeout.
func TestDialCancelledInHandshake(t *testing.T) {
	addr := peerOnce(t, silent)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	l, err := Dial(ctx, addr, Options{Timeout: time.Minute})
	assert.Less(t, time.Since(start), 10*time.Second, "Dial waited for its timeout")
	assert.Nil(t, l)
	assert.ErrorIs(t, err, context.Canceled)
}
