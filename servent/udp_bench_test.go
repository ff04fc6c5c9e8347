package servent

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// benchDatagrams is a mix of what a busy servent's socket receives: Pongs
// (one in four with GGEP IPP, as from UDP host caches), LIME/12 offers and
// LIME/11 claims for queries we do not know, and unrequested QueryHits.
// None is answered, so the figure is the receive path alone.
func benchDatagrams(b *testing.B, s *Servent) [][]byte {
	var out [][]byte
	add := func(m wire.Message) {
		p, err := m.Append(nil)
		require.NoError(b, err)
		out = append(out, p)
	}
	ipp, err := wire.NewGGEPExtension("IPP", wire.EncodeIPP([]netip.AddrPort{
		netip.MustParseAddrPort("10.9.0.1:6346"), netip.MustParseAddrPort("10.9.0.2:6346"), netip.MustParseAddrPort("10.9.0.3:6346"),
	}), false, false)
	require.NoError(b, err)
	for i := range 64 {
		pong := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePong, TTL: 1},
			Pong: wire.Pong{Port: 6346, Addr: netip.AddrFrom4([4]byte{10, 8, byte(i >> 8), byte(i)}), Files: 10, KB: 1000}}
		if i%4 == 0 {
			pong.Pong.GGEP.Extensions = []wire.GGEPExtension{ipp}
		}
		add(pong)
		add(wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeVendor, TTL: 1},
			Vendor: wire.ReplyNumber{Hits: 5, Secure: true}.Vendor()})
		ack, err := wire.LimeACK{Wanted: 5, Token: []byte{1, 2, 3, 4}}.Vendor()
		require.NoError(b, err)
		add(wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeVendor, TTL: 1}, Vendor: ack})
	}
	files := []struct{ name string }{{"penguin song.mp3"}, {"another file.ogg"}}
	for range 16 {
		qh := wire.QueryHit{Port: 6346, Addr: netip.MustParseAddr("10.8.0.1"), Speed: 1000, ServentGUID: wire.NewGUID()}
		for i, f := range files {
			qh.Results = append(qh.Results, wire.Result{Index: uint32(i), Size: 1000, Name: []byte(f.name),
				Ext: wire.ExtArea{Blocks: []wire.ExtBlock{wire.NewSHA1Block(wire.SHA1{byte(i)})}, Terminated: true}})
		}
		add(wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeQueryHit, TTL: 1}, QueryHit: qh})
	}
	return out
}

// BenchmarkUDPDispatch is the parse-and-dispatch path alone, datagrams
// handed to the handler from memory: the servent's own cost per datagram,
// without the socket's.
func BenchmarkUDPDispatch(b *testing.B) {
	s, err := New(Config{Listen: "127.0.0.1:0", AllowPrivate: true, NoBootstrap: true, UDPRatePerSource: 1 << 30})
	require.NoError(b, err)
	u := &udpSock{addr: netip.MustParseAddrPort("127.0.0.1:6346")}
	u.rate = sourceRate{limit: s.cfg.UDPRatePerSource, counts: map[netip.Addr]int{}}
	s.udp = u
	grams := benchDatagrams(b, s)
	from := netip.MustParseAddrPort("127.0.0.2:6346")
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		s.handleDatagram(u, grams[i%len(grams)], from, time.Now())
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "datagrams/s")
	if u.malformed.Load() > 0 {
		b.Fatalf("%d datagrams did not parse", u.malformed.Load())
	}
}

// BenchmarkUDPReceive measures datagrams received on a loopback socket
// per second: "read" only reads them (the baseline), "dispatch" also
// parses and dispatches each through the servent's handler, rate limit
// included. A sender goroutine keeps the socket full; each op is one
// datagram received.
func BenchmarkUDPReceive(b *testing.B) {
	for _, mode := range []string{"read", "dispatch"} {
		b.Run(mode, func(b *testing.B) {
			s, err := New(Config{Listen: "127.0.0.1:0", AllowPrivate: true, NoBootstrap: true, UDPRatePerSource: 1 << 30})
			require.NoError(b, err)
			rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			require.NoError(b, err)
			defer rx.Close()
			_ = rx.SetReadBuffer(4 << 20)
			u := &udpSock{pc: rx, io: rx, addr: addrPortOfUDP(rx.LocalAddr())}
			u.rate = sourceRate{limit: s.cfg.UDPRatePerSource, counts: map[netip.Addr]int{}}
			s.udp = u
			tx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
			require.NoError(b, err)
			defer tx.Close()
			grams := benchDatagrams(b, s)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					_, _ = tx.WriteToUDPAddrPort(grams[i%len(grams)], u.addr)
				}
			}()
			buf := make([]byte, maxDatagram+1)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				n, from, err := rx.ReadFromUDPAddrPort(buf)
				if err != nil {
					b.Fatal(err)
				}
				if mode == "dispatch" {
					s.handleDatagram(u, buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), time.Now())
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "datagrams/s")
			if mode == "dispatch" && u.malformed.Load() > 0 {
				b.Fatalf("%d datagrams did not parse", u.malformed.Load())
			}
		})
	}
}
