package servent

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/sendq"
	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/capture"
	"github.com/govent/govent/wire/linkzip"
)

// The replay tests play gtk-gnutella's side of the captured handshakes
// (testdata/*.pcap, described in the README next to the captures) against
// our servent, byte for byte: its CONNECT and final block when it dials
// us, its 200 answer when we dial it, and the descriptors it sent after
// them.

// gtkStream returns the bytes gtk-gnutella sent on the first connection of
// a capture on which isGTK says the sender is gtk-gnutella, reassembled by
// wire/capture.
func gtkStream(t testing.TB, name string, isGTK func(src, dst uint16) bool) []byte {
	t.Helper()
	c, err := capture.ReadFile(filepath.Join("..", "testdata", name), capture.Options{})
	require.NoError(t, err)
	for _, conn := range c.Conns {
		for _, st := range []*capture.Stream{&conn.FromClient, &conn.FromServer} {
			if len(st.Data) > 0 && isGTK(st.From.Port(), st.To.Port()) {
				return st.Data
			}
		}
	}
	t.Fatalf("%s: no stream from gtk-gnutella", name)
	return nil
}

// cutBlock splits a stream after its first handshake block.
func cutBlock(t testing.TB, s []byte) (block, rest []byte) {
	t.Helper()
	i := bytes.Index(s, []byte("\r\n\r\n"))
	require.GreaterOrEqual(t, i, 0, "no complete handshake block")
	return s[:i+4], s[i+4:]
}

// readOurs reads our servent's descriptors from br (inflating when we said
// we compress) until until accepts one. Every descriptor must parse.
func readOurs(br *bufio.Reader, deflate bool, until func(*wire.Message) bool) (n int, err error) {
	var in io.Reader = br
	if deflate {
		in = linkzip.NewReader(br, linkzip.ReaderConfig{})
	}
	r := wire.NewReader(in, 0)
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return n, fmt.Errorf("descriptor %d: %w", n, err)
		}
		n++
		if until(m) {
			return n, nil
		}
	}
}

// inCount is how many descriptors arrived on c.
func inCount(c *conn) uint64 {
	var n uint64
	for i := range c.stats.inMsgs {
		n += c.stats.inMsgs[i].Load()
	}
	return n
}

func mustGUID(t testing.TB, s string) wire.GUID {
	t.Helper()
	g, err := wire.ParseGUID(s)
	require.NoError(t, err)
	return g
}

const gtkUserAgent = "gtk-gnutella/1.2.3-dirty (2024-03-03; Topless; Linux x86_64)"

// TestReplayGTKConnects replays gtk-gnutella dialling us (outbound.pcap,
// its connection to port 6999): its CONNECT gets our 200, then its final
// block and its descriptors, two Pings among them. What we send back must
// parse, compressed as our 200 said, and hold the Pong for its first Ping.
func TestReplayGTKConnects(t *testing.T) {
	stream := gtkStream(t, "outbound.pcap", func(_, dst uint16) bool { return dst == 6999 })
	connect, rest := cutBlock(t, stream)
	final, _ := cutBlock(t, rest)
	require.True(t, bytes.HasPrefix(connect, []byte("GNUTELLA CONNECT/0.6\r\n")))
	require.Equal(t, "GNUTELLA/0.6 200 OK\r\n\r\n", string(final))

	s := startServent(t, testConfig(t))
	p := dialRaw(t, s.Addr())
	_, err := p.nc.Write(connect)
	require.NoError(t, err)
	ans, err := p.readBlock()
	require.NoError(t, err)
	_, code, _, err := ans.ParseStatus()
	require.NoError(t, err)
	require.Equal(t, 200, code, "%q", ans.StartLine)
	enc, _ := ans.Get("Content-Encoding")
	assert.Equal(t, "deflate", enc, "gtk-gnutella offered Accept-Encoding: deflate")

	_, err = p.nc.Write(rest) // its final block and every descriptor after it
	require.NoError(t, err)
	firstPing := mustGUID(t, "7cdb3102e28803a6ff1fe410305ca703")
	_ = p.nc.SetReadDeadline(time.Now().Add(rawWait))
	_, err = readOurs(p.br, true, func(m *wire.Message) bool {
		return m.Header.Type == wire.TypePong && m.Header.GUID == firstPing
	})
	require.NoError(t, err)

	c := onlyConn(t, s)
	// QRP RESET and PATCH, two Pings, Messages- and Features-Supported.
	waitFor(t, "its six descriptors read", func() bool { return inCount(c) == 6 })
	assert.Equal(t, gtkUserAgent, c.peer.userAgent)
	assert.Equal(t, "127.0.0.1:6350", c.peer.listen.String(), "its Node header names its listening port")
	assert.False(t, c.peer.deflateIn, "its final block did not compress")
	assert.True(t, c.peer.deflateOut)
	st := s.Stats()
	assert.Zero(t, st.Malformed)
	assert.Zero(t, st.HandshakeFailed)
	assert.Len(t, s.Peers(), 1)
}

// TestReplayGTKAnswers runs a fake gtk-gnutella listener that answers our
// CONNECT with a captured 200 block and then sends the descriptors
// gtk-gnutella sent after it (compressed in leaf-deflate.pcap). Our final
// block must be a 200 and what we send must parse.
func TestReplayGTKAnswers(t *testing.T) {
	tests := []struct {
		capture  string
		inflate  bool   // gtk-gnutella's descriptors are compressed
		messages uint64 // descriptors it sent after its 200
		waitPong string // the GUID of its Ping we answer, if any
	}{
		// QRP RESET, PATCH, Messages- and Features-Supported, a Pong,
		// four QueryHits and a Ping (TTL 4).
		{capture: "ultrapeer-plain.pcap", messages: 10, waitPong: "a3be310231aec586ff0ed06b7b6de103"},
		// Messages- and Features-Supported, a Pong, two QueryHits.
		{capture: "leaf-deflate.pcap", inflate: true, messages: 5},
	}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			stream := gtkStream(t, tt.capture, func(src, _ uint16) bool { return src == 6350 })
			answer, _ := cutBlock(t, stream)
			require.True(t, bytes.HasPrefix(answer, []byte("GNUTELLA/0.6 200 OK\r\n")))
			_, compressed := parseBlock(t, answer).Get("Content-Encoding")
			require.Equal(t, tt.inflate, compressed)

			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { ln.Close() })
			type seen struct {
				connect, final *wire.Handshake
				descriptors    int
				err            error
			}
			done := make(chan seen, 1)
			go func() {
				var got seen
				defer func() { done <- got }()
				nc, err := ln.Accept()
				if err != nil {
					got.err = err
					return
				}
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(rawWait))
				br := bufio.NewReader(nc)
				if got.connect, got.err = wire.ReadHandshake(br, wire.HandshakeLimits{}); got.err != nil {
					return
				}
				if _, got.err = nc.Write(stream); got.err != nil {
					return
				}
				if got.final, got.err = wire.ReadHandshake(br, wire.HandshakeLimits{}); got.err != nil {
					return
				}
				_, ours := got.final.Get("Content-Encoding")
				var pong wire.GUID
				if tt.waitPong != "" {
					pong, _ = wire.ParseGUID(tt.waitPong)
				}
				got.descriptors, got.err = readOurs(br, ours, func(m *wire.Message) bool {
					if tt.waitPong != "" {
						return m.Header.Type == wire.TypePong && m.Header.GUID == pong
					}
					return m.Header.Type == wire.TypePing
				})
				// Hold the connection until the servent has read everything.
				_, _ = io.Copy(io.Discard, br)
			}()

			s := startServent(t, testConfig(t))
			require.NoError(t, s.Connect(addrPortOf(ln.Addr())))
			c := onlyConn(t, s)
			waitFor(t, "gtk-gnutella's descriptors read", func() bool { return inCount(c) == tt.messages })
			// Close drops what is still queued for its Bye: what the fake
			// gtk-gnutella reads up to must be sent first.
			if tt.waitPong != "" {
				waitFor(t, "our Pong sent", func() bool { return c.q.Stats().Class[sendq.ClassPong].Sent > 0 })
			} else {
				waitFor(t, "our Ping sent", func() bool { return c.q.Stats().Class[sendq.ClassPing].Sent > 0 })
			}
			assert.Zero(t, s.Stats().Malformed)
			assert.Equal(t, gtkUserAgent, c.peer.userAgent)
			assert.Equal(t, tt.inflate, c.peer.deflateIn)
			assert.True(t, c.peer.deflateOut, "gtk-gnutella offers Accept-Encoding: deflate")
			assert.Equal(t, netip.MustParseAddr("127.0.0.1"), c.peer.remoteIP)
			s.Close()

			got := <-done
			require.NoError(t, got.err)
			v, ok := got.connect.IsConnect()
			assert.True(t, ok)
			assert.Equal(t, "0.6", v)
			_, code, _, err := got.final.ParseStatus()
			require.NoError(t, err)
			assert.Equal(t, 200, code, "%q", got.final.StartLine)
			enc, _ := got.final.Get("Content-Encoding")
			assert.Equal(t, "deflate", enc)
			assert.Positive(t, got.descriptors)
		})
	}
}

func parseBlock(t testing.TB, b []byte) *wire.Handshake {
	t.Helper()
	h, err := wire.ReadHandshake(bufio.NewReader(bytes.NewReader(b)), wire.HandshakeLimits{})
	require.NoError(t, err)
	return h
}
