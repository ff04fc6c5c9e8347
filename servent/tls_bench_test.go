package servent

import (
	"bufio"
	"crypto/tls"
	"net"
	"testing"

	"github.com/govent/govent/wire"
)

// BenchmarkLinkSetup is what TLS adds to setting a link up: a loopback
// client dials the servent, runs the 0.6 handshake (offering and taking
// the upgrade, then the TLS handshake, under "tls"), reads the servent's
// hello Ping and hangs up. Both ends are in this process, so time and
// allocations are both sides'; "plain" is the baseline of the same run.
func BenchmarkLinkSetup(b *testing.B) {
	for _, useTLS := range []bool{false, true} {
		name := "plain"
		if useTLS {
			name = "tls"
		}
		b.Run(name, func(b *testing.B) {
			cfg := benchConfig()
			// Links close asynchronously: room for those still closing.
			cfg.MaxPeers, cfg.MaxPeersPerIP, cfg.MaxPendingPerIP = 1000, 1000, 1000
			s := startServent(b, cfg)
			clientConf := &tls.Config{InsecureSkipVerify: true} // no PKI, as between servents
			b.ReportAllocs()
			for b.Loop() {
				linkOnce(b, s, useTLS, clientConf)
			}
		})
	}
}

// linkOnce sets one link up to the servent and closes it.
func linkOnce(b *testing.B, s *Servent, useTLS bool, conf *tls.Config) {
	nc, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(s.Addr()))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
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
		tc := tls.Client(nc, conf)
		if err := tc.Handshake(); err != nil {
			b.Fatal(err)
		}
		link, br = tc, bufio.NewReader(tc)
	}
	if _, err := wire.NewReader(br, 1<<16).ReadMessage(); err != nil {
		b.Fatal(err)
	}
	link.Close()
}
