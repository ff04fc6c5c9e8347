package servent

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// udpProbe is a test's own UDP socket on memnet, to talk to a servent's
// by hand.
type udpProbe struct {
	t  testing.TB
	pc *memnet.PacketConn
}

func newUDPProbe(t testing.TB, n *memnet.Network, addr string) *udpProbe {
	t.Helper()
	pc, err := n.ListenPacket(context.Background(), "udp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	return &udpProbe{t: t, pc: pc.(*memnet.PacketConn)}
}

func (p *udpProbe) addr() netip.AddrPort { return addrPortOfUDP(p.pc.LocalAddr()) }

func (p *udpProbe) sendRaw(b []byte, to netip.AddrPort) {
	p.t.Helper()
	_, err := p.pc.WriteToUDPAddrPort(b, to)
	require.NoError(p.t, err)
}

func (p *udpProbe) send(m wire.Message, to netip.AddrPort) {
	p.t.Helper()
	b, err := m.Append(nil)
	require.NoError(p.t, err)
	p.sendRaw(b, to)
}

// recv returns the next datagram as a decoded message (its own copy), or
// nil when none comes within wait.
func (p *udpProbe) recv(wait time.Duration) (*wire.Message, netip.AddrPort) {
	p.t.Helper()
	buf := make([]byte, 65536)
	_ = p.pc.SetReadDeadline(time.Now().Add(wait))
	n, from, err := p.pc.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, netip.AddrPort{}
	}
	h, err := wire.ParseHeader(buf[:n])
	require.NoError(p.t, err)
	m := new(wire.Message)
	require.NoError(p.t, m.Decode(h, buf[wire.HeaderLen:n]))
	return m, from
}

func scpPing(g wire.GUID) wire.Message {
	e, _ := wire.NewGGEPExtension("SCP", []byte{0}, false, false)
	return wire.Message{Header: wire.Header{GUID: g, Type: wire.TypePing, TTL: 1},
		Ping: wire.Ping{GGEP: wire.GGEP{Extensions: []wire.GGEPExtension{e}}}}
}

// A UDP Ping gets our Pong back over UDP; with SCP it carries ultrapeers
// from the host cache in GGEP IPP, as a UDP host cache answers.
func TestUDPPingGetsPongWithIPP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s := startServent(t, udpConfig(t, n, "10.0.0.1:6346"))
		require.Equal(t, netip.MustParseAddrPort("10.0.0.1:6346"), s.Stats().UDP.Addr, "UDP on the TCP port")
		now := time.Now()
		up := netip.MustParseAddrPort("10.0.0.7:6346")
		require.NoError(t, s.Hosts().Add(up, hostcache.SourcePong, true, now))
		p := newUDPProbe(t, n, "10.0.0.9:7000")

		g := wire.NewGUID()
		p.send(wire.Message{Header: wire.Header{GUID: g, Type: wire.TypePing, TTL: 1}}, s.Addr())
		m, from := p.recv(time.Second)
		require.NotNil(t, m)
		assert.Equal(t, s.Addr(), from)
		assert.Equal(t, wire.TypePong, m.Header.Type)
		assert.Equal(t, g, m.Header.GUID)
		assert.Equal(t, s.Addr(), m.Pong.AddrPort())
		_, hasIPP := m.Pong.GGEP.Get("IPP")
		assert.False(t, hasIPP, "no SCP, no hosts")
		_, hasUP := m.Pong.GGEP.Get("UP")
		assert.True(t, hasUP, "an ultrapeer's Pong says so, as over a link")
		require.NotNil(t, s.tlsConf, "TLS on, the default")
		assert.True(t, hasTLS(&m.Pong.GGEP), "GGEP TLS, as over a link")

		p.send(scpPing(wire.NewGUID()), s.Addr())
		m, _ = p.recv(time.Second)
		require.NotNil(t, m)
		e, ok := m.Pong.GGEP.Get("IPP")
		require.True(t, ok)
		v, err := e.Value()
		require.NoError(t, err)
		hosts, err := wire.ParseAddrPorts(v)
		require.NoError(t, err)
		assert.Equal(t, []netip.AddrPort{up}, hosts)
		// The servent counts a datagram once its write returned, which
		// may be after the probe read it: wait for the sender to settle.
		synctest.Wait()
		st := s.Stats().UDP
		assert.Equal(t, uint64(2), st.Pings)
		assert.Equal(t, uint64(2), st.In)
		assert.Equal(t, uint64(2), st.Out)
	})
}

// A UDP Pong that answers our Ping teaches the host cache its host and
// those of its IPP; one that answers nothing of ours (a source is easily
// forged) is ignored.
func TestUDPPongFillsHostCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s := startServent(t, udpConfig(t, n, "10.0.0.1:6346"))
		p := newUDPProbe(t, n, "10.0.0.9:7000")
		ipp, _ := wire.NewGGEPExtension("IPP", ippValue([]netip.AddrPort{
			netip.MustParseAddrPort("10.0.1.1:6346"), netip.MustParseAddrPort("10.0.1.2:6346"),
		}), false, false)
		pong := func(g wire.GUID) wire.Message {
			return wire.Message{Header: wire.Header{GUID: g, Type: wire.TypePong, TTL: 1},
				Pong: wire.Pong{Port: 7000, Addr: netip.MustParseAddr("10.0.0.9"), GGEP: wire.GGEP{Extensions: []wire.GGEPExtension{ipp}}}}
		}
		learned := func() (n int) {
			for _, a := range []string{"10.0.0.9:7000", "10.0.1.1:6346", "10.0.1.2:6346"} {
				if _, ok := s.Hosts().Get(netip.MustParseAddrPort(a)); ok {
					n++
				}
			}
			return n
		}
		p.send(pong(wire.NewGUID()), s.Addr())
		synctest.Wait()
		assert.Zero(t, learned(), "an unasked-for Pong")
		assert.Equal(t, uint64(1), s.Stats().UDP.Ignored)

		g := wire.NewGUID()
		require.NoError(t, s.pingUDP(p.addr(), g))
		m, _ := p.recv(time.Second)
		require.NotNil(t, m)
		require.Equal(t, g, m.Header.GUID)
		p.send(pong(g), s.Addr())
		synctest.Wait()
		assert.Equal(t, 3, learned())
		assert.Equal(t, uint64(1), s.Stats().UDP.Pongs)
	})
}

// Hostile datagrams: each is dropped and counted under its reason, none
// is answered, and the socket keeps serving.
func TestUDPBadInputCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s := startServent(t, udpConfig(t, n, "10.0.0.1:6346"))
		p := newUDPProbe(t, n, "10.0.0.9:7000")
		ping := wire.Header{GUID: wire.NewGUID(), Type: wire.TypePing, TTL: 1}
		b := ping.Append(nil)

		p.sendRaw(make([]byte, maxDatagram+1), s.Addr())          // oversized
		p.sendRaw(b[:10], s.Addr())                               // short header
		p.sendRaw(append(append([]byte{}, b...), 1, 2), s.Addr()) // length disagrees
		bad := wire.Header{GUID: wire.NewGUID(), Type: wire.TypePong, TTL: 1, Length: 3}
		p.sendRaw(append(bad.Append(nil), 1, 2, 3), s.Addr()) // a 3-byte Pong
		q := queryMsg(wire.NewGUID(), 1, "over udp")
		p.send(q, s.Addr()) // we take no Queries over UDP
		other := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeVendor, TTL: 1},
			Vendor: wire.Vendor{Vendor: [4]byte{'B', 'E', 'A', 'R'}, Selector: 4, Version: 1}}
		p.send(other, s.Addr())
		m, _ := p.recv(time.Second)
		assert.Nil(t, m, "nothing answered")

		st := s.Stats().UDP
		assert.Equal(t, uint64(1), st.Oversized)
		assert.Equal(t, uint64(3), st.Malformed)
		assert.Equal(t, uint64(2), st.Ignored)
		assert.Equal(t, uint64(6), st.In)

		p.sendRaw(b, s.Addr())
		m, _ = p.recv(time.Second)
		require.NotNil(t, m, "a good Ping is still answered")
		assert.Equal(t, wire.TypePong, m.Header.Type)
	})
}

// One source gets UDPRatePerSource datagrams a second; the rest are
// dropped and counted, another source is not affected, and the next
// second the budget is back.
func TestUDPPerSourceRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		cfg := udpConfig(t, n, "10.0.0.1:6346")
		cfg.UDPRatePerSource = 5
		s := startServent(t, cfg)
		p := newUDPProbe(t, n, "10.0.0.9:7000")
		q := newUDPProbe(t, n, "10.0.0.10:7000")
		ping := wire.Header{GUID: wire.NewGUID(), Type: wire.TypePing, TTL: 1}
		for range 8 {
			p.sendRaw(ping.Append(nil), s.Addr())
		}
		q.sendRaw(ping.Append(nil), s.Addr())
		synctest.Wait()
		st := s.Stats().UDP
		assert.Equal(t, uint64(3), st.RateLimited)
		assert.Equal(t, uint64(6), st.Pings)
		time.Sleep(udpSourceWindow)
		p.sendRaw(ping.Append(nil), s.Addr())
		synctest.Wait()
		assert.Equal(t, uint64(7), s.Stats().UDP.Pings)
	})
}

// Reachability as gtk-gnutella judges it: answers from where we sent are
// solicited; traffic from elsewhere, or a connect-back Ping with our GUID,
// proves we are reachable, for fwIncomingWindow.
func TestReachability(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Servent{cfg: Config{AllowPrivate: true}, guid: wire.NewGUID()}
		r := &s.reach
		now := time.Now()
		peer := netip.MustParseAddr("10.0.0.2")
		pong := &wire.Message{Header: wire.Header{Type: wire.TypePong}}
		r.recordSent(peer, now)
		r.gotIncoming(s, peer, pong, now.Add(time.Second))
		assert.False(t, r.reachable(now.Add(time.Second)), "an answer proves nothing")
		r.gotIncoming(s, peer, pong, now.Add(fwUDPWindow+time.Second))
		assert.True(t, r.reachable(now.Add(fwUDPWindow+time.Second)), "the hole closed long ago: unsolicited")
		assert.False(t, r.reachable(now.Add(fwUDPWindow+fwIncomingWindow+2*time.Second)), "and it lasts fwIncomingWindow")

		r2 := &reachState{}
		r2.recordSent(peer, now)
		back := &wire.Message{Header: wire.Header{Type: wire.TypePing, GUID: s.guid}}
		r2.gotIncoming(s, peer, back, now)
		assert.True(t, r2.reachable(now), "a connect-back Ping is unsolicited")

		// Private sources prove nothing on the Internet.
		pub := &Servent{guid: s.guid}
		r3 := &pub.reach
		r3.gotIncoming(pub, peer, pong, now)
		assert.False(t, r3.reachable(now))
		r3.gotIncoming(pub, netip.MustParseAddr("8.8.4.4"), pong, now)
		assert.True(t, r3.reachable(now))
	})
}

// readConnectBack reads a raw peer's descriptors until the servent's GTKG/7.
func readConnectBack(t *testing.T, p *rawPeer) wire.UDPConnectBack {
	t.Helper()
	m := p.readUntil("a GTKG/7", func(m *wire.Message) bool {
		return m.Header.Type == wire.TypeVendor && m.Vendor.Vendor == wire.VendorGTKG && m.Vendor.Selector == wire.SelectorUDPConnectBack
	})
	cb, err := wire.DecodeUDPConnectBack(&m.Vendor, m.Header.GUID)
	require.NoError(t, err)
	return cb
}

// A new link is asked for a UDP connect-back; a peer that drops the
// request is asked again fwUDPWindow later, and its Ping makes us
// reachable. The other way, we answer a link's GTKG/7 with one Ping, and
// a second request within a minute gets none.
func TestConnectBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		cfg := udpConfig(t, n, "10.0.0.1:6346")
		cfg.KeepAlive = time.Hour // the raw peer answers no keepalive Pings
		s := startServent(t, cfg)
		p := dialRawFrom(t, n.Host(netip.MustParseAddr("10.0.0.9")), s.Addr())
		p.handshake06("Vendor-Message: 0.2")
		u := newUDPProbe(t, n, "10.0.0.9:6346")

		cb := readConnectBack(t, p)
		assert.Equal(t, wire.UDPConnectBack{Port: 6346, GUID: s.GUID()}, cb)
		time.Sleep(fwUDPWindow)
		synctest.Wait()
		require.False(t, s.Stats().UDP.Reachable, "the first request was dropped")
		cb = readConnectBack(t, p)
		u.send(wire.Message{Header: wire.Header{GUID: cb.GUID, Type: wire.TypePing, TTL: 1}}, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), cb.Port))
		synctest.Wait()
		assert.True(t, s.Stats().UDP.Reachable)
		assert.Zero(t, s.Stats().UDP.Pings, "a connect-back Ping is not answered")

		ours := wire.NewGUID()
		ask := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeVendor, TTL: 1},
			Vendor: wire.UDPConnectBack{Port: 6346, GUID: ours}.Vendor()}
		p.send(ask)
		m, from := u.recv(5 * time.Second)
		require.NotNil(t, m)
		assert.Equal(t, wire.TypePing, m.Header.Type)
		assert.Equal(t, ours, m.Header.GUID)
		assert.Equal(t, s.Addr(), from)
		p.send(ask)
		m, _ = u.recv(5 * time.Second)
		assert.Nil(t, m, "one Ping a minute per link")
	})
}

// On operating system sockets (read in batches): datagrams are parsed and
// dispatched and an oversized one counted, over IPv4 and, where the host
// has it, IPv6 loopback; over IPv4 a Ping gets its Pong.
func TestUDPOnLoopbackSockets(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(listen, func(t *testing.T) {
			probe, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(listen)))
			if err != nil {
				t.Skipf("no %s here: %v", listen, err)
			}
			defer probe.Close()
			cfg := testConfig(t)
			cfg.Listen = listen
			cfg.NoUDP = false
			s := startServent(t, cfg)
			to := s.Stats().UDP.Addr
			require.True(t, to.IsValid())
			send := func(b []byte) {
				_, err := probe.WriteToUDPAddrPort(b, to)
				require.NoError(t, err)
			}
			send(make([]byte, maxDatagram+100))
			// A Pong for no Ping of ours: parsed, dispatched, ignored.
			pong := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePong, TTL: 1},
				Pong: wire.Pong{Port: 6346, Addr: netip.MustParseAddr("127.0.0.7")}}
			b, err := pong.Append(nil)
			require.NoError(t, err)
			send(b)
			waitFor(t, "the Pong and the oversized datagram", func() bool {
				st := s.Stats().UDP
				return st.Ignored == 1 && st.Oversized == 1
			})
			if to.Addr().Is6() {
				return // our Pong cannot carry an IPv6 address
			}
			g := wire.NewGUID()
			ping := wire.Header{GUID: g, Type: wire.TypePing, TTL: 1}
			send(ping.Append(nil))
			require.NoError(t, probe.SetReadDeadline(time.Now().Add(10*time.Second)))
			buf := make([]byte, 2048)
			n, _, err := probe.ReadFromUDPAddrPort(buf)
			require.NoError(t, err)
			h, err := wire.ParseHeader(buf[:n])
			require.NoError(t, err)
			assert.Equal(t, wire.TypePong, h.Type)
			assert.Equal(t, g, h.GUID)
		})
	}
}
