package servent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/servent/sendq"
	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/linkzip"
)

// idleFor is how long TestIdleLinksStayUp holds each link idle: the issue's
// ten minutes, twenty keepalive periods.
const idleFor = 10 * time.Minute

// Every role pairing, in every deflate combination, stays up through ten
// idle minutes of virtual time: no disconnection on either side, keepalive
// Pings go out on the silent link and every one is answered with a Pong
// (counted on both ends), and the link still carries a search each way
// afterwards.
func TestIdleLinksStayUp(t *testing.T) {
	pairings := []struct {
		name           string
		dialer, dialed Mode
	}{
		{"ultrapeer dials ultrapeer", ModeUltrapeer, ModeUltrapeer},
		{"leaf dials ultrapeer", ModeLeaf, ModeUltrapeer},
		{"ultrapeer dials leaf", ModeUltrapeer, ModeLeaf},
		{"auto dials ultrapeer", ModeAuto, ModeUltrapeer},
		{"ultrapeer dials auto", ModeUltrapeer, ModeAuto},
	}
	deflates := []struct {
		name                         string
		dialerDeflates, dialedDeflat bool
	}{
		{"deflate both ways", true, true},
		{"deflate from dialer", true, false},
		{"deflate from dialed", false, true},
		{"plain", false, false},
	}
	for _, p := range pairings {
		for _, d := range deflates {
			t.Run(p.name+"/"+d.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					testIdleLink(t, p.dialer, p.dialed, d.dialerDeflates, d.dialedDeflat)
				})
			})
		}
	}
}

func testIdleLink(t *testing.T, dialerMode, dialedMode Mode, dialerDeflates, dialedDeflates bool) {
	n := memnet.New()
	var drops atomic.Int32
	node := func(addr string, mode Mode, deflates bool, file string) *Servent {
		cfg := memConfig(t, n, addr)
		cfg.Mode = mode
		cfg.NoDeflateOut = !deflates
		cfg.ShareDir = shareDir(t, map[string]string{file: "idle but alive"})
		cfg.OnEvent = func(e Event) {
			if e.Kind == EventDisconnected {
				drops.Add(1)
			}
		}
		return startServent(t, cfg)
	}
	dialed := node("127.0.0.1:6346", dialedMode, dialedDeflates, "alpha song.mp3")
	dialer := node("127.0.0.2:6346", dialerMode, dialerDeflates, "omega song.mp3")
	require.NoError(t, dialer.Connect(dialed.Addr()))
	synctest.Wait()
	link := func(s *Servent) PeerInfo {
		t.Helper()
		peers := s.Peers()
		require.Len(t, peers, 1)
		return peers[0]
	}
	require.Equal(t, dialerDeflates, connOf(dialer, dialed.Addr()).peer.deflateOut)
	require.Equal(t, dialedDeflates, connOf(dialer, dialed.Addr()).peer.deflateIn)
	since := [2]time.Time{link(dialer).Since, link(dialed).Since}

	time.Sleep(idleFor)
	synctest.Wait()

	assert.Zero(t, drops.Load(), "no link dropped")
	a, b := link(dialer), link(dialed)
	assert.Equal(t, since, [2]time.Time{a.Since, b.Since}, "the same links as at the start")
	pingsOut := func(p PeerInfo) uint64 { return p.Counters.Out.Class[sendq.ClassPing].Sent }
	in := func(p PeerInfo, typ wire.PayloadType) uint64 { return p.Counters.InMessages[typ] }
	// The hello Ping and our own Pongs are in these counts too; the
	// keepalives are what make them reach one per KeepAlive.
	t.Logf("pings sent %d+%d, pongs received %d+%d", pingsOut(a), pingsOut(b), in(a, wire.TypePong), in(b, wire.TypePong))
	wantPings := uint64(idleFor/DefaultKeepAlive) - 1
	assert.GreaterOrEqual(t, pingsOut(a)+pingsOut(b), wantPings, "keepalive Pings sent")
	assert.Equal(t, pingsOut(a), in(b, wire.TypePing), "every Ping the dialer sent arrived")
	assert.Equal(t, pingsOut(b), in(a, wire.TypePing), "every Ping the dialed sent arrived")
	assert.GreaterOrEqual(t, in(a, wire.TypePong), in(b, wire.TypePing), "the dialed answered each Ping")
	assert.GreaterOrEqual(t, in(b, wire.TypePong), in(a, wire.TypePing), "the dialer answered each Ping")

	for _, s := range []struct {
		from  *Servent
		query string
	}{{dialer, "alpha"}, {dialed, "omega"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		sr, err := s.from.Search(ctx, s.query)
		require.NoError(t, err)
		res := collect(t, sr, 1, 30*time.Second)
		cancel()
		require.Len(t, res, 1, "search for %q after the idle minutes", s.query)
		assert.Equal(t, fmt.Sprintf("%s song.mp3", s.query), res[0].Name)
	}
	assert.Zero(t, drops.Load(), "no link dropped")
}

// A peer that stalls halfway through a descriptor larger than the read
// buffer, for longer than a keepalive period, and then sends the rest, is
// still in step: the stalled descriptor is read whole (malformed here, so
// dropped), the Ping after it is answered, and nobody says Bye. A keepalive
// deadline that struck inside the payload used to throw the half read away
// and read the rest as headers.
func TestStalledDescriptorStaysInStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s := startServent(t, memConfig(t, n, "127.0.0.1:6346"))
		nc, br := connectMemRaw(t, n, s.Addr(), true)

		payload := bytes.Repeat([]byte{0xff}, 3*readBufferSize)
		h := wire.Header{GUID: wire.NewGUID(), Type: wire.TypeQueryHit, TTL: 1, Length: uint32(len(payload))}
		big := append(h.Append(nil), payload...)
		half := len(big) / 2
		_, err := nc.Write(big[:half])
		require.NoError(t, err)
		time.Sleep(DefaultKeepAlive + DefaultKeepAlive/2)
		_, err = nc.Write(big[half:])
		require.NoError(t, err)
		ping := writePing(t, nc)

		r := wire.NewReader(br, 0)
		for {
			m, err := r.ReadMessage()
			require.NoError(t, err, "the servent closed the link")
			require.NotEqual(t, wire.TypeBye, m.Header.Type, "Bye %d %s", m.Bye.Code, m.Bye.Reason())
			if m.Header.Type == wire.TypePong && m.Header.GUID == ping {
				break
			}
		}
		assert.EqualValues(t, 1, s.Stats().Malformed, "the stalled QueryHit, read whole")
	})
}

// gtkAnswer is gtk-gnutella 1.2.3's answer to a leaf's CONNECT, as
// leaf-deflate.pcap has it (frame 6).
const gtkAnswer = "GNUTELLA/0.6 200 OK\r\n" +
	"User-Agent: gtk-gnutella/1.2.3-dirty (2024-03-03; Topless; Linux x86_64)\r\n" +
	"Pong-Caching: 0.1\r\nBye-Packet: 0.1\r\nGGEP: 0.5\r\nGUID: 48c831020b29cc9f54ca85f81b70fef8\r\n" +
	"Vendor-Message: 0.2\r\nRemote-IP: 127.0.0.2\r\nX-Ultrapeer: True\r\nX-Requeries: False\r\n" +
	"Accept-Encoding: deflate\r\nContent-Encoding: deflate\r\nX-Ultrapeer-Needed: True\r\n" +
	"X-Query-Routing: 0.2\r\nX-Ultrapeer-Query-Routing: 0.1\r\nX-Degree: 46\r\nX-Max-TTL: 4\r\n" +
	"X-Dynamic-Querying: 0.1\r\n\r\n"

// gtk-gnutella's rules for a leaf, from src/core/nodes.c and alive.c:
// when it has heard nothing from a leaf for ALIVE_PERIOD_LEAF (120 s) it
// sends an "alive" Ping (TTL 1, hops 0); after ALIVE_MAX_PENDING_LEAF (4)
// unanswered ones it says Bye 406; there is no other inactivity timeout
// between an ultrapeer and its leaf. It answers every alive Ping at once
// with a Pong of the same GUID (pcache.c; ultrapeer-plain.pcap f13/f14).
const (
	gtkAlivePeriodLeaf     = 120 * time.Second
	gtkAliveMaxPendingLeaf = 4
)

// A Govent leaf on a compressed link to an ultrapeer that behaves as
// gtk-gnutella does, idle for ten virtual minutes: the ultrapeer never goes
// ALIVE_PERIOD_LEAF without hearing from the leaf, the leaf answers the
// alive Ping the ultrapeer sends anyway, nothing leads to Bye 406 or any
// other Bye, and the leaf keeps the link.
func TestGtkUltrapeerKeepsGoventLeaf(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		ln, err := n.Listen(context.Background(), "tcp", "127.0.0.1:6350")
		require.NoError(t, err)
		leaf := startServent(t, memLeafConfig(t, n, "127.0.0.2:6346"))
		go func() { _ = leaf.Connect(netip.MustParseAddrPort("127.0.0.1:6350")) }()

		nc, err := ln.Accept()
		require.NoError(t, err)
		defer nc.Close()
		br := bufio.NewReader(nc)
		connect, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
		require.NoError(t, err)
		require.True(t, acceptsDeflate(connect))
		_, err = nc.Write([]byte(gtkAnswer))
		require.NoError(t, err)
		final, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
		require.NoError(t, err)
		require.True(t, sendsDeflate(final))
		zw, err := linkzip.NewWriter(nc, linkzip.WriterConfig{})
		require.NoError(t, err)
		send := func(m wire.Message) {
			b, err := m.Append(nil)
			require.NoError(t, err)
			_, err = zw.Write(b)
			require.NoError(t, err)
			require.NoError(t, zw.Flush())
		}

		type arrival struct {
			h   wire.Header
			bye wire.Bye
		}
		got := make(chan arrival, 64)
		go func() {
			defer close(got)
			r := wire.NewReader(linkzip.NewReader(br, linkzip.ReaderConfig{}), 0)
			for {
				m, err := r.ReadMessage()
				if m == nil {
					return
				}
				if err == nil {
					got <- arrival{h: m.Header, bye: wire.Bye{Code: m.Bye.Code}}
				}
			}
		}()

		start := time.Now()
		lastRx, maxGap := start, time.Duration(0)
		var alive []wire.GUID // our alive Pings not answered yet
		aliveSent, aliveAnswered := 0, 0
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for time.Since(start) < idleFor {
			select {
			case a, ok := <-got:
				require.True(t, ok, "the leaf closed the link")
				maxGap = max(maxGap, time.Since(lastRx))
				lastRx = time.Now()
				switch {
				case a.h.Type == wire.TypeBye:
					t.Fatalf("the leaf said Bye %d", a.bye.Code)
				case a.h.Type == wire.TypePing && a.h.TTL == 1 && a.h.Hops == 0:
					send(wire.Message{Header: wire.Header{GUID: a.h.GUID, Type: wire.TypePong, TTL: 1},
						Pong: wire.Pong{Port: 6350, Addr: netip.MustParseAddr("127.0.0.1"), Files: 3, KB: 128}})
				case a.h.Type == wire.TypePong:
					for i, g := range alive {
						if g == a.h.GUID {
							alive = append(alive[:i], alive[i+1:]...)
							aliveAnswered++
							break
						}
					}
				}
			case <-tick.C:
				// The leaf's keepalives keep gtk-gnutella from ever needing
				// an alive Ping; send one halfway anyway, as it would after
				// a quiet spell, and see it answered.
				due := time.Since(lastRx) > gtkAlivePeriodLeaf || aliveSent == 0 && time.Since(start) >= idleFor/2
				if due {
					require.Less(t, len(alive), gtkAliveMaxPendingLeaf, "gtk-gnutella would say Bye 406")
					g := wire.NewGUID()
					alive = append(alive, g)
					aliveSent++
					send(wire.Message{Header: wire.Header{GUID: g, Type: wire.TypePing, TTL: 1}})
				}
			}
		}
		assert.LessOrEqual(t, maxGap, DefaultKeepAlive+time.Second, "the leaf is never quiet for long")
		assert.Less(t, maxGap, gtkAlivePeriodLeaf)
		assert.Equal(t, 1, aliveSent)
		assert.Equal(t, aliveSent, aliveAnswered, "the leaf answered gtk-gnutella's alive Ping")
		require.Len(t, leaf.Peers(), 1, "the leaf keeps its ultrapeer")
		assert.False(t, leaf.Peers()[0].Since.After(start), "the link it had from the start")
	})
}
