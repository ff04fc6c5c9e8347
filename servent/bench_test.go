package servent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/wire"
)

// benchConfig is testConfig without per-test logging: its peers all dial
// from 127.0.0.1, so the per-address limits are raised out of the way.
func benchConfig() Config {
	return Config{
		Listen:           "127.0.0.1:0",
		AllowPrivate:     true,
		HandshakeTimeout: 10 * time.Second,
		MaxPendingPerIP:  1 << 16,
		MaxPeersPerIP:    1 << 16,
		MaxLeavesPerIP:   1 << 16,
		Logger:           zap.NewNop(),
	}
}

// benchHandshake runs a plain 0.6 handshake by hand on nc (see
// clientHandshake).
func benchHandshake(b *testing.B, nc net.Conn) {
	b.Helper()
	if err := clientHandshake(nc); err != nil {
		b.Fatal(err)
	}
}

// clientHandshake runs a plain 0.6 handshake by hand on nc, reading the
// answer through a throwaway buffer, so that afterwards the client holds
// nothing but its socket.
func clientHandshake(nc net.Conn) error {
	if _, err := nc.Write([]byte(rawConnect())); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	br := bufio.NewReaderSize(nc, 1024)
	ans, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if _, code, _, _ := ans.ParseStatus(); code != 200 {
		return fmt.Errorf("handshake: answer %q", ans.StartLine)
	}
	if br.Buffered() != 0 {
		return errors.New("handshake: the servent sent descriptors before our final block")
	}
	if _, err := nc.Write([]byte("GNUTELLA/0.6 200 OK\r\n\r\n")); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	return nil
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRelay floods Queries (TTL 2) from 8 loopback peers through one
// servent, which forwards each to the 7 others. b.N is the number of
// Queries sent in; the figures are descriptors forwarded (one per target)
// per second and CPU time per forwarded descriptor. The peers run in the
// same process, so the CPU figure includes their writing and reading.
func BenchmarkRelay(b *testing.B) {
	const peers = 8
	var received atomic.Uint64 // Queries the peers read back
	s, conns := startRelay(b, peers, func(int, *wire.Message) { received.Add(1) })

	// Pre-encoded streams, distinct GUIDs across all peers.
	streams := make([][]byte, peers)
	for i := range b.N {
		m := queryMsg(guidN(byte('A'+i%peers), uint32(i)), 2, "relay benchmark "+strconv.Itoa(i%1000))
		var err error
		if streams[i%peers], err = m.Append(streams[i%peers]); err != nil {
			b.Fatal(err)
		}
	}
	var total int
	for _, st := range streams {
		total += len(st)
	}
	b.SetBytes(int64(total / max(b.N, 1)))
	b.ReportAllocs()

	before := s.Stats()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	start := time.Now()
	var writers sync.WaitGroup
	for i, nc := range conns {
		writers.Go(func() { _, _ = nc.Write(streams[i]) })
	}
	writers.Wait()
	// Everything is in when the servent has routed every Query and the
	// peers have read every copy it queued.
	deadline := time.Now().Add(time.Minute)
	for {
		routed := queryCount(s)
		st := s.Stats()
		if routed >= uint64(b.N) && received.Load() >= st.Forwarded-before.Forwarded {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("stalled: routed %d of %d, peers read %d of %d", routed, b.N, received.Load(), st.Forwarded-before.Forwarded)
		}
		time.Sleep(200 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	after := s.Stats()
	fwd := after.Forwarded - before.Forwarded
	b.ReportMetric(float64(fwd)/elapsed.Seconds(), "fwd/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(max(fwd, 1)), "cpu-ns/fwd")
	// The machine is shared: forwarded descriptors per CPU second of the
	// whole process (servent and peers) is the figure that load does not
	// skew.
	b.ReportMetric(float64(fwd)/max(cpu.Seconds(), 1e-9), "fwd/cpu-s")
	b.ReportMetric(float64(after.QueueDrops-before.QueueDrops), "queue-drops")
	b.ReportMetric(float64(after.RouteDrops-before.RouteDrops), "route-drops")
}

// startRelay starts a servent with n plain ultrapeer neighbours on
// loopback TCP, each a handshaked client whose reader calls query(i, m)
// for every Query that client i reads. They close when b ends.
func startRelay(b *testing.B, n int, query func(i int, m *wire.Message)) (*Servent, []net.Conn) {
	b.Helper()
	s := startBenchServent(b, n)
	conns := make([]net.Conn, n)
	var readers sync.WaitGroup
	b.Cleanup(func() {
		s.Close()
		for _, nc := range conns {
			if nc != nil {
				nc.Close()
			}
		}
		readers.Wait()
	})
	for i := range conns {
		nc, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = nc
		benchHandshake(b, nc)
		readers.Go(func() {
			r := wire.NewReaderSize(nc, 0, 64<<10)
			for {
				m, err := r.ReadMessage()
				if err != nil {
					return
				}
				if m.Header.Type == wire.TypeQuery {
					query(i, m)
				}
			}
		})
	}
	awaitPeers(b, s, n)
	return s, conns
}

// startBenchServent starts a servent for n ultrapeer neighbours on
// loopback; it closes when b ends.
func startBenchServent(b *testing.B, n int) *Servent {
	b.Helper()
	cfg := benchConfig()
	cfg.MaxPeers = n
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// awaitPeers waits until s has n connections.
func awaitPeers(b *testing.B, s *Servent, n int) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Peers != n {
		if time.Now().After(deadline) {
			b.Fatal("peers not registered")
		}
		time.Sleep(time.Millisecond)
	}
}

// rssBytes reads VmRSS from /proc/self/status after a full collection.
func rssBytes(b *testing.B) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range bytes.SplitSeq(st, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// raiseFileLimit makes room for n more descriptors.
func raiseFileLimit(b *testing.B, n uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		b.Fatal(err)
	}
	if rl.Cur >= n {
		return
	}
	if rl.Max < n {
		b.Skipf("the file limit %d is below the %d needed", rl.Max, n)
	}
	rl.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkIdleConnMemory measures the resident memory each idle Gnutella
// connection costs the servent: RSS grown by opening idleConns handshaked
// connections to one servent, less RSS grown by a control run that opens
// as many connections to a plain listener that only holds them (the client
// sockets, the accepted sockets and the runtime's netpoll state are paid in
// both). Target: at most 32 KiB each.
func BenchmarkIdleConnMemory(b *testing.B) {
	const idleConns = 2000
	raiseFileLimit(b, 4*idleConns+256)
	b.ReportAllocs()
	b.SetBytes(0)
	for b.Loop() {
		control := measureControl(b, idleConns)
		servent := measureServent(b, idleConns)
		per := float64(servent-control) / idleConns
		b.ReportMetric(float64(control)/idleConns/1024, "control-KiB/conn")
		b.ReportMetric(float64(servent)/idleConns/1024, "gross-KiB/conn")
		b.ReportMetric(per/1024, "KiB/conn")
	}
}

// dialMany opens n connections to addr, running fn on each.
func dialMany(b *testing.B, addr netip.AddrPort, n int, fn func(net.Conn)) []net.Conn {
	out := make([]net.Conn, 0, n)
	for range n {
		nc, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(addr))
		if err != nil {
			b.Fatal(err)
		}
		if fn != nil {
			fn(nc)
		}
		out = append(out, nc)
	}
	return out
}

func closeAll(conns []net.Conn) {
	for _, nc := range conns {
		nc.Close()
	}
}

// measureControl is the RSS grown by n connections to a listener that
// accepts and holds them.
func measureControl(b *testing.B, n int) int64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var held []net.Conn
	accepted := make(chan struct{}, n)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, nc)
			mu.Unlock()
			accepted <- struct{}{}
		}
	}()
	before := rssBytes(b)
	conns := dialMany(b, addrPortOf(ln.Addr()), n, nil)
	for range n {
		<-accepted
	}
	grown := rssBytes(b) - before
	closeAll(conns)
	mu.Lock()
	closeAll(held)
	mu.Unlock()
	return grown
}

// measureServent is the RSS grown by n handshaked, idle connections to a
// servent.
func measureServent(b *testing.B, n int) int64 {
	cfg := benchConfig()
	cfg.MaxPeers = n + 100
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	before := rssBytes(b)
	conns := dialMany(b, s.Addr(), n, func(nc net.Conn) { benchHandshake(b, nc) })
	deadline := time.Now().Add(time.Minute)
	for s.Stats().Peers != n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d connections registered", s.Stats().Peers, n)
		}
		time.Sleep(time.Millisecond)
	}
	// Let every connection send its hello Ping and go idle.
	for idleWriters(s) != n {
		if time.Now().After(deadline) {
			b.Fatal("connections did not go idle")
		}
		time.Sleep(time.Millisecond)
	}
	grown := rssBytes(b) - before
	closeAll(conns)
	return grown
}

// idleWriters counts connections whose send queue is empty.
func idleWriters(s *Servent) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.conns {
		if c.q.Stats().PendingMessages == 0 {
			n++
		}
	}
	return n
}
