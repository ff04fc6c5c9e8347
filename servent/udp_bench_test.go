package servent

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/ipv4"

	"github.com/govent/govent/wire"
)

// benchDatagrams is a mix of what a busy servent's socket receives: Pongs
// answering our Pings (one in four with GGEP IPP, as from UDP host
// caches), LIME/12 offers and LIME/11 claims for queries we do not know,
// and unrequested QueryHits. None is answered, so the figure is the
// receive path alone. s.udp must be set.
func benchDatagrams(b *testing.B, s *Servent) [][]byte {
	var out [][]byte
	s.udp.pinged = map[wire.GUID]time.Time{}
	add := func(m wire.Message) {
		p, err := m.Append(nil)
		require.NoError(b, err)
		out = append(out, p)
	}
	ipp, err := wire.NewGGEPExtension("IPP", ippValue([]netip.AddrPort{
		netip.MustParseAddrPort("10.9.0.1:6346"), netip.MustParseAddrPort("10.9.0.2:6346"), netip.MustParseAddrPort("10.9.0.3:6346"),
	}), false, false)
	require.NoError(b, err)
	for i := range 64 {
		g := wire.NewGUID()
		s.udp.pinged[g] = time.Now().Add(time.Hour) // asked for, for as long as the benchmark runs
		pong := wire.Message{Header: wire.Header{GUID: g, Type: wire.TypePong, TTL: 1},
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
	if u.pongs.Load() == 0 {
		b.Fatal("no Pong was taken")
	}
}

// BenchmarkUDPReceive measures how fast the servent drains a loopback
// socket, read as the servent reads it (udpBatch per recvmmsg): "read"
// only reads the datagrams (the baseline), "dispatch" also parses and
// dispatches each through the servent's handler, rate limit included.
// Each round fills the socket's buffer with fillRound datagrams (sendmmsg,
// untimed), then times draining them, so the figure is the receive path's
// own rate, not a sender's on this 2-core machine. Each op is one datagram
// received.
func BenchmarkUDPReceive(b *testing.B) {
	const fillRound = 2048
	for _, mode := range []string{"read", "dispatch"} {
		b.Run(mode, func(b *testing.B) {
			s, err := New(Config{Listen: "127.0.0.1:0", AllowPrivate: true, NoBootstrap: true, UDPRatePerSource: 1 << 30})
			require.NoError(b, err)
			rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			require.NoError(b, err)
			defer rx.Close()
			require.NoError(b, rx.SetReadBuffer(8<<20))
			u := &udpSock{pc: rx, io: rx, addr: addrPortOfUDP(rx.LocalAddr())}
			u.rate = sourceRate{limit: s.cfg.UDPRatePerSource, counts: map[netip.Addr]int{}}
			s.udp = u
			grams := benchDatagrams(b, s)
			tx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
			require.NoError(b, err)
			defer tx.Close()
			out := make([]ipv4.Message, udpBatch)
			for i := range out {
				out[i] = ipv4.Message{Buffers: [][]byte{grams[i%len(grams)]}, Addr: rx.LocalAddr()}
			}
			txc := ipv4.NewPacketConn(tx)
			bc := newBatchConn(rx)
			msgs := make([]ipv4.Message, udpBatch)
			for i := range msgs {
				msgs[i].Buffers = [][]byte{make([]byte, maxDatagram+1)}
			}
			b.ReportAllocs()
			b.ResetTimer()
			var elapsed time.Duration
			for got := 0; got < b.N; {
				b.StopTimer()
				for sent := 0; sent < fillRound; {
					n, err := txc.WriteBatch(out, 0)
					require.NoError(b, err)
					sent += n
				}
				require.NoError(b, rx.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
				b.StartTimer()
				start := time.Now()
				for round := 0; round < fillRound; {
					n, err := bc.ReadBatch(msgs, 0)
					if err != nil {
						break // what was dropped while filling
					}
					round += n
					if mode == "dispatch" {
						s.dispatchBatch(u, msgs[:n], time.Now())
					}
					got += n
				}
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "datagrams/s")
			if mode == "dispatch" && u.malformed.Load() > 0 {
				b.Fatalf("%d datagrams did not parse", u.malformed.Load())
			}
		})
	}
}
