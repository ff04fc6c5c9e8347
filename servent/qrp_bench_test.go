package servent

import (
	"io"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Four leaves on loopback TCP each send one RESET to 2^21 slots with a
// first table, then 1,000 2-KiB PATCHes that each cost their receiver
// 2 MiB of inflating and applying (issue 9: both cores at 100% for 23 s).
// It reports the CPU time the whole process spent until every leaf's link
// had ended, and the wall time: with the default QRP budget (the leaves
// are cut off), and with the budget lifted (every patch is applied).
func BenchmarkHostileQRPLeaves(b *testing.B) {
	x, y := bigTables(b, 21)
	first := qrpMessages(b, nil, x)
	there, back := qrpMessages(b, x, y)[0], qrpMessages(b, y, x)[0]
	b.Run("budget", func(b *testing.B) { hostileQRPLeaves(b, testConfig(b), first, there, back) })
	b.Run("no-budget", func(b *testing.B) {
		cfg := testConfig(b)
		cfg.QRPBytesPerMinute, cfg.QRPPatchesPerMinute = 1<<40, 1<<20
		hostileQRPLeaves(b, cfg, first, there, back)
	})
}

func hostileQRPLeaves(b *testing.B, cfg Config, first [][]byte, there, back []byte) {
	const leaves, patches = 4, 1000
	var cpu time.Duration
	for b.Loop() {
		s := startServent(b, cfg)
		var ru0, ru1 syscall.Rusage
		require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru0))
		var wg sync.WaitGroup
		for range leaves {
			p := dialRaw(b, s.Addr())
			code, reason, err := p.tryHandshake(leafConnect)
			require.NoError(b, err)
			require.Equal(b, 200, code, reason)
			wg.Go(func() {
				for _, m := range first {
					_, _ = p.nc.Write(m)
				}
				for i := range patches {
					m := there
					if i%2 == 1 {
						m = back
					}
					if _, err := p.nc.Write(m); err != nil {
						break // cut off
					}
				}
				_ = p.nc.CloseWrite()
				// The link ends when the servent has read everything (or
				// said Bye): then its work for this leaf is done.
				_ = p.nc.SetReadDeadline(time.Now().Add(5 * time.Minute))
				_, _ = io.Copy(io.Discard, p.br)
			})
		}
		wg.Wait()
		require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru1))
		cpu += time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
		s.Close()
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}
