package servent

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// TestHandshakeBothWays connects two servents with each handshake and
// checks what each side learnt, then that descriptors cross the link.
func TestHandshakeBothWays(t *testing.T) {
	tests := []struct {
		name        string
		handshake04 bool
		deflate     bool // both sides offer deflate in 0.6: both compress
	}{
		{name: "0.6 with deflate both ways", deflate: true},
		{name: "0.4 without headers", handshake04: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vtest(t, func(t *testing.T) {
				cfgA := testConfig(t)
				cfgA.ShareDir = shareDir(t, map[string]string{"eleanor rigby.ogg": "eleanor"})
				a := startServent(t, cfgA)
				cfgB := testConfig(t)
				cfgB.Handshake04 = tt.handshake04
				b := startServent(t, cfgB)
				require.NoError(t, b.Connect(a.Addr()))
				waitFor(t, "both ends registered", func() bool { return len(a.Peers()) == 1 && len(b.Peers()) == 1 })

				in, out := onlyConn(t, a), onlyConn(t, b)
				assert.True(t, out.peer.outgoing, "the dialler's end is outgoing")
				assert.False(t, in.peer.outgoing, "the listener's end is incoming")
				assert.Equal(t, tt.handshake04, in.peer.version04)
				assert.Equal(t, tt.handshake04, out.peer.version04)
				assert.Equal(t, tt.deflate, in.peer.deflateIn && in.peer.deflateOut)
				assert.Equal(t, tt.deflate, out.peer.deflateIn && out.peer.deflateOut)
				if !tt.handshake04 {
					// 0.4 has no headers: only 0.6 tells names and addresses.
					assert.Equal(t, UserAgent, a.Peers()[0].UserAgent)
					assert.Equal(t, UserAgent, b.Peers()[0].UserAgent)
					assert.Equal(t, b.Addr(), a.Peers()[0].Listen, "Listen-IP names the dialler's port")
					assert.True(t, b.Peers()[0].Ultrapeer)
				}

				sr, err := b.Search(searchCtx(t), "rigby")
				require.NoError(t, err)
				res := collect(t, sr, 1, 5*time.Second)
				require.Len(t, res, 1)
				assert.Equal(t, "eleanor rigby.ogg", res[0].Name)
			})
		})
	}
}

// TestHandshake04Incoming checks the exact 0.4 answer and that the link
// then carries descriptors.
func TestHandshake04Incoming(t *testing.T) {
	vtest(t, func(t *testing.T) {
		s := startServent(t, testConfig(t))
		p := dialRaw(t, s.Addr())
		p.writeString(wire.Handshake04Connect)
		got := make([]byte, len(wire.Handshake04OK))
		_ = p.nc.SetReadDeadline(time.Now().Add(rawWait))
		_, err := io.ReadFull(p.br, got)
		require.NoError(t, err)
		assert.Equal(t, "GNUTELLA OK\n\n", string(got))
		p.r = wire.NewReader(p.br, 0)
		// The servent's hello Ping is the first descriptor.
		m, err := p.next()
		require.NoError(t, err)
		assert.Equal(t, wire.TypePing, m.Header.Type)
		waitFor(t, "the 0.4 peer registered", func() bool { return len(s.Peers()) == 1 })
		assert.True(t, onlyConn(t, s).peer.version04)
	})
}

// TestHandshakeRefusedFull fills a servent and checks the 503 and its
// X-Try-Ultrapeers, for a raw client and for a servent that learns them.
func TestHandshakeRefusedFull(t *testing.T) {
	vtest(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.MaxPeers = 1
		full := startServent(t, cfg)
		neighbour := startServent(t, testConfig(t))
		require.NoError(t, neighbour.Connect(full.Addr()))
		waitFor(t, "the only slot taken", func() bool { return len(full.Peers()) == 1 })

		// Raw 0.6 client reads 503 and hosts to try.
		func() {
			p := dialRaw(t, full.Addr())
			p.writeString(rawConnect())
			ans, err := p.readBlock()
			require.NoError(t, err)
			proto, code, _, err := ans.ParseStatus()
			require.NoError(t, err)
			assert.Equal(t, "GNUTELLA/0.6", proto)
			assert.Equal(t, 503, code)
			try, ok := ans.Get("X-Try-Ultrapeers")
			require.True(t, ok, "a full servent names hosts to try")
			assert.Contains(t, wire.ParseAddrList(try, 10), neighbour.Addr())
			p.expectClosed()
		}()
		// Servent learns the hosts to try.
		func() {
			refused := startServent(t, testConfig(t))
			err := refused.Connect(full.Addr())
			require.Error(t, err)
			// The refusal says the address and the status once each, and
			// its fields carry them.
			assert.EqualError(t, err, "handshake with "+full.Addr().String()+" refused: 503 Full")
			re, ok := errors.AsType[*wire.RefusedError](err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, 503, re.Code)
			assert.Equal(t, "Full", re.Reason)
			_, ok = refused.Hosts().Get(neighbour.Addr())
			assert.True(t, ok, "the X-Try-Ultrapeers host is in the host cache")
			assert.Empty(t, refused.Peers())
		}()
		// Raw 0.4 client is closed without an answer.
		func() {
			p := dialRaw(t, full.Addr())
			p.writeString(wire.Handshake04Connect)
			_ = p.nc.SetReadDeadline(time.Now().Add(rawWait))
			b, err := io.ReadAll(p.br)
			assert.False(t, isTimeout(err), "not closed")
			assert.Empty(t, b)
		}()
		assert.EqualValues(t, 3, full.Stats().RefusedFull)
		assert.Len(t, full.Peers(), 1)
	})
}

// TestSlotFreeOnceTheLinkEnds: a peer that sees its link end can take the
// slot again at once. The servent gives a link's slot back before it
// half-closes, not once its Bye window is over: a peer sent Bye that has
// read the Bye and our half-close, and keeps its side open a while, does
// not make the next comer find the servent full. Both ways a link ends
// are covered: our Bye (an activity timeout) and the peer's.
func TestSlotFreeOnceTheLinkEnds(t *testing.T) {
	for _, who := range []string{"we say Bye", "the peer says Bye"} {
		t.Run(who, func(t *testing.T) {
			vtest(t, func(t *testing.T) {
				cfg := testConfig(t)
				cfg.MaxPeers = 1
				cfg.KeepAlive = time.Second
				s := startServent(t, cfg)
				a := dialRaw(t, s.Addr())
				a.handshake06()
				waitFor(t, "the only slot taken", func() bool { return len(s.Peers()) == 1 })
				if who == "we say Bye" {
					// A never answers the keepalive Ping: Bye 405 after 2 s.
					assert.EqualValues(t, wire.ByeTimeout, a.readBye().Code)
				} else {
					a.send(wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeBye, TTL: 1},
						Bye: wire.NewBye(wire.ByeNormal, "Done", "")})
					a.expectClosed()
				}
				// A has read the end of its link and not yet closed its
				// side: the slot is free all the same.
				b := dialRaw(t, s.Addr())
				b.handshake06()
				waitFor(t, "B in the slot", func() bool {
					ps := s.Peers()
					return len(ps) == 1 && ps[0].Addr == addrPortOf(b.nc.LocalAddr())
				})
				assert.Zero(t, s.Stats().RefusedFull)
			})
		})
	}
}

// TestXTryUltrapeersNamesUltrapeersOnly: a full ultrapeer suggests its
// ultrapeer neighbours, never its leaves, which take no leaves of their
// own: a leaf that followed the header would dial them in vain.
func TestXTryUltrapeersNamesUltrapeersOnly(t *testing.T) {
	vtest(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.MaxLeaves = 1
		full := startServent(t, cfg)
		up := startServent(t, testConfig(t))
		require.NoError(t, up.Connect(full.Addr()))
		leaf := startServent(t, leafConfig(t, nil))
		require.NoError(t, leaf.Connect(full.Addr()))
		waitFor(t, "both connected", func() bool { return len(full.Peers()) == 2 })

		p := dialRaw(t, full.Addr())
		p.writeString(leafConnect)
		ans, err := p.readBlock()
		require.NoError(t, err)
		_, code, _, err := ans.ParseStatus()
		require.NoError(t, err)
		require.Equal(t, 503, code, "the one leaf slot is taken")
		try, ok := ans.Get("X-Try-Ultrapeers")
		require.True(t, ok)
		hosts := wire.ParseAddrList(try, 10)
		assert.Contains(t, hosts, up.Addr())
		assert.NotContains(t, hosts, leaf.Addr())
	})
}

// TestHandshakeTimeout checks that a client that stalls anywhere in the
// handshake is closed once HandshakeTimeout has passed, and not before.
func TestHandshakeTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	tests := []struct {
		name  string
		send  string
		reads bool // read the servent's 200 before stalling
	}{
		{name: "says nothing"},
		{name: "half a CONNECT block", send: "GNUTELLA CONNECT/0.6\r\nUser-Agent: Stall/1.0\r\n"},
		{name: "no final block", send: rawConnect(), reads: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vtest(t, func(t *testing.T) {
				cfg := testConfig(t)
				cfg.HandshakeTimeout = timeout
				s := startServent(t, cfg)
				start := time.Now()
				p := dialRaw(t, s.Addr())
				if tt.send != "" {
					p.writeString(tt.send)
				}
				if tt.reads {
					ans, err := p.readBlock()
					require.NoError(t, err)
					_, code, _, _ := ans.ParseStatus()
					require.Equal(t, 200, code)
				}
				_ = p.nc.SetReadDeadline(time.Now().Add(rawWait))
				rest, err := io.ReadAll(p.br)
				elapsed := time.Since(start)
				require.False(t, isTimeout(err), "the stalled handshake was not closed")
				assert.Empty(t, rest)
				assert.GreaterOrEqual(t, elapsed, timeout, "closed before the time-out")
				assert.Less(t, elapsed, 2*timeout, "closed long after the time-out (virtual time)")
				assert.Empty(t, s.Peers())
			})
		})
	}
}

// TestHandshakeOversized sends blocks just within and just over the limits
// (128 lines, 16 KiB): within gets 200, over is closed without one.
func TestHandshakeOversized(t *testing.T) {
	lines := func(n int) string { // a block of n lines, start line included
		var b strings.Builder
		b.WriteString("GNUTELLA CONNECT/0.6\r\n")
		for i := 1; i < n; i++ {
			fmt.Fprintf(&b, "X-Line-%d: x\r\n", i)
		}
		b.WriteString("\r\n")
		return b.String()
	}
	bytesLong := func(n int) string { // a block of exactly n bytes
		head := "GNUTELLA CONNECT/0.6\r\nX-Pad: "
		tail := "\r\n\r\n"
		return head + strings.Repeat("p", n-len(head)-len(tail)) + tail
	}
	tests := []struct {
		name  string
		block string
		ok    bool
	}{
		{name: "128 lines", block: lines(128), ok: true},
		{name: "129 lines", block: lines(129)},
		{name: "16 KiB", block: bytesLong(16 << 10), ok: true},
		{name: "16 KiB and one byte", block: bytesLong(16<<10 + 1)},
		{name: "64 KiB", block: bytesLong(64 << 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vtest(t, func(t *testing.T) {
				s := startServent(t, testConfig(t))
				p := dialRaw(t, s.Addr())
				p.writeString(tt.block)
				if tt.ok {
					ans, err := p.readBlock()
					require.NoError(t, err)
					_, code, _, _ := ans.ParseStatus()
					assert.Equal(t, 200, code)
					return
				}
				_ = p.nc.SetReadDeadline(time.Now().Add(rawWait))
				got, err := io.ReadAll(p.br)
				require.False(t, isTimeout(err), "the oversized block was not closed")
				assert.NotContains(t, string(got), "200", "no 200 for an oversized block")
				assert.EqualValues(t, 1, s.Stats().HandshakeFailed)
				assert.Empty(t, s.Peers())
			})
		})
	}
}

// TestByeOnClose checks that Close says Bye 200 to every peer, 0.6 and 0.4.
func TestByeOnClose(t *testing.T) {
	vtest(t, func(t *testing.T) {
		s, err := New(testConfig(t))
		require.NoError(t, err)
		require.NoError(t, s.Start(t.Context()))

		p06 := dialRaw(t, s.Addr())
		p06.handshake06()
		p04 := dialRaw(t, s.Addr())
		p04.writeString(wire.Handshake04Connect)
		ok, err := p04.readBlock()
		require.NoError(t, err)
		require.True(t, ok.Is04OK(), "%q", ok.StartLine)
		p04.r = wire.NewReader(p04.br, 0)
		waitFor(t, "both peers registered", func() bool { return len(s.Peers()) == 2 })

		require.NoError(t, s.Close())
		for name, p := range map[string]*rawPeer{"0.6": p06, "0.4": p04} {
			bye := p.readBye()
			assert.EqualValues(t, 200, bye.Code, name)
			assert.Equal(t, "Shutting Down", string(bye.Reason()), name)
		}
	})
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// TestDeflateOutIsBounded: compressing costs ~800 KiB a link, so past
// MaxDeflateOut new links are sent plain (and a closed one frees its place).
func TestDeflateOutIsBounded(t *testing.T) {
	vtest(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.MaxDeflateOut = 1
		hub := startServent(t, cfg)
		a := startServent(t, testConfig(t))
		b := startServent(t, testConfig(t))
		require.NoError(t, a.Connect(hub.Addr()))
		waitFor(t, "first link", func() bool { return len(hub.Peers()) == 1 })
		require.NoError(t, b.Connect(hub.Addr()))
		waitFor(t, "second link", func() bool { return len(hub.Peers()) == 2 })

		compressed := func() (n int) {
			hub.mu.Lock()
			defer hub.mu.Unlock()
			for _, c := range hub.conns {
				if c.zw != nil {
					n++
				}
			}
			return n
		}
		assert.Equal(t, 1, compressed(), "only one link is compressed")
		assert.EqualValues(t, 1, hub.deflating.Load())

		require.NoError(t, a.Close())
		waitFor(t, "first link gone", func() bool { return len(hub.Peers()) == 1 })
		assert.EqualValues(t, hub.deflating.Load(), compressed(), "the counter follows the links")
		c := startServent(t, testConfig(t))
		require.NoError(t, c.Connect(hub.Addr()))
		waitFor(t, "third link", func() bool { return len(hub.Peers()) == 2 })
		assert.Equal(t, 1, compressed(), "the freed place went to the new link")
	})
}
