package servent

import (
	"bufio"
	"crypto/tls"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/govent/govent/wire"
)

// BenchmarkLinkSetup is what TLS adds to setting a link up: a loopback
// client dials the servent, runs the 0.6 handshake (offering and taking
// the upgrade, then the TLS handshake, under "tls"), reads the servent's
// hello Ping and hangs up. Both ends are in this process, so time and
// allocations are both sides'; "plain" is the baseline of the same run.
func BenchmarkLinkSetup(b *testing.B) {
	// Links close asynchronously: room for those still closing.
	plainAndTLS(b, 1000, func(b *testing.B, s *Servent, useTLS bool) {
		b.ReportAllocs()
		for b.Loop() {
			linkOnce(b, s, useTLS).Close()
		}
	})
}

// plainAndTLS runs bench as the sub-benchmarks "plain" and "tls", each on
// a servent of its own that takes links links from loopback.
func plainAndTLS(b *testing.B, links int, bench func(b *testing.B, s *Servent, useTLS bool)) {
	for _, useTLS := range []bool{false, true} {
		name := "plain"
		if useTLS {
			name = "tls"
		}
		b.Run(name, func(b *testing.B) {
			cfg := benchConfig()
			cfg.MaxPeers, cfg.MaxPeersPerIP, cfg.MaxPendingPerIP = links, links, links
			bench(b, startServent(b, cfg), useTLS)
		})
	}
}

// BenchmarkIdleLinkHeap is the live heap an idle link costs, TLS or plain
// (the baseline of the same run): heapLinks links are set up as in
// BenchmarkLinkSetup and held after their hello Ping, and the heap in use
// after a collection, less what it was before, is shared among them. Both
// ends are in this process, so the figure is both ends' (the client holds
// its tls.Conn, or only its socket).
func BenchmarkIdleLinkHeap(b *testing.B) {
	const heapLinks = 200
	plainAndTLS(b, heapLinks+10, func(b *testing.B, s *Servent, useTLS bool) {
		for b.Loop() {
			before := heapInUse()
			links := make([]net.Conn, 0, heapLinks)
			for range heapLinks {
				links = append(links, linkOnce(b, s, useTLS))
			}
			deadline := time.Now().Add(time.Minute)
			for idleWriters(s) != heapLinks {
				if time.Now().After(deadline) {
					b.Fatal("links did not go idle")
				}
				time.Sleep(time.Millisecond)
			}
			b.ReportMetric(float64(heapInUse()-before)/heapLinks/1024, "heap-KiB/link")
			closeAll(links)
			for len(s.Peers()) != 0 {
				time.Sleep(time.Millisecond)
			}
		}
	})
}

// heapInUse is the heap in use after a collection.
func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// linkOnce sets one link up to the servent, reads its hello Ping and
// returns the client's end.
func linkOnce(b *testing.B, s *Servent, useTLS bool) net.Conn {
	nc, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(s.Addr()))
	if err != nil {
		b.Fatal(err)
	}
	var extra []string
	final := "GNUTELLA/0.6 200 OK\r\n\r\n"
	if useTLS {
		extra = []string{"Upgrade: TLS/1.0"}
		final = "GNUTELLA/0.6 200 OK\r\nConnection: Upgrade\r\n\r\n"
	}
	if _, err := nc.Write([]byte(rawConnect(extra...))); err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReader(nc)
	ans, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
	if err != nil {
		b.Fatal(err)
	}
	if useTLS != ans.HasToken("Connection", "Upgrade") {
		b.Fatalf("answer %q: upgrade %v", ans.StartLine, ans.Values("Connection"))
	}
	if _, err := nc.Write([]byte(final)); err != nil {
		b.Fatal(err)
	}
	var link net.Conn = nc
	if useTLS {
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true}) // no PKI, as between servents
		if err := tc.Handshake(); err != nil {
			b.Fatal(err)
		}
		link, br = tc, bufio.NewReader(tc)
	}
	if _, err := wire.NewReader(br, 1<<16).ReadMessage(); err != nil {
		b.Fatal(err)
	}
	return link
}
