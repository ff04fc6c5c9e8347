package httpxfer

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

// BenchmarkTransferMesh downloads one file (256 MiB; GOVENT_BENCH_BYTES
// overrides) from 4 sources on loopback, once with THEX (the tree fetched
// from a source, each chunk verified as it arrives, SHA-1 at the end) and
// once without (SHA-1 only), in the same run, and reports the ratio of
// their throughputs (target 0.9): of the totals, and the median of the
// rounds' ratios (each round runs both modes, the first one in turn).
//
// It also reports the process's CPU time in each mode (uploaders
// included) per MB moved and relative to the plain one,
// thex-cpu/sha1-cpu, and the cores
// it had while each ran: verification costs CPU (Tiger costs several
// times what SHA-1 does per byte), which the verifiers take from cores
// the network leaves idle. When the machine is shared and the process gets
// less than a core, the throughput ratio falls to about the inverse of
// the CPU ratio, whatever the code does.
func BenchmarkTransferMesh(b *testing.B) {
	size := benchBytes(b, 256<<20)
	src := b.TempDir()
	path := filepath.Join(src, "big.bin")
	d := writeRandomFile(b, path, size)
	f, err := os.Open(path)
	require.NoError(b, err)
	tb := thex.NewBuilder()
	_, err = f.WriteTo(tb)
	f.Close()
	require.NoError(b, err)
	lib := &memLibrary{trees: map[wire.TTH]*thex.Tree{}}
	t := tb.Tree()
	lib.trees[t.Root()] = t
	lib.add(File{Index: 1, Name: "big.bin", Size: size, SHA1: d, TTH: t.Root(), HasTTH: true, Path: path})
	var srcs []Source
	for range 4 {
		up := startUploader(b, UploaderConfig{Library: lib})
		srcs = append(srcs, Source{Addr: up.addr})
	}
	b.SetBytes(size)
	var withTree, without, cpuTree, cpuPlain time.Duration
	run := func(thexOn bool, cpu *time.Duration) time.Duration {
		dir := b.TempDir()
		cpu0 := processCPU(b)
		start := time.Now()
		res, err := NewDownloader(DownloaderConfig{Dir: dir}).Download(context.Background(), Request{
			Name: "big.bin", Size: size, SHA1: d, TTH: t.Root(), HasTTH: thexOn, Sources: srcs,
		})
		el := time.Since(start)
		*cpu += processCPU(b) - cpu0
		require.NoError(b, err)
		require.Equal(b, thexOn, res.TreeVerified)
		require.NoError(b, os.Remove(res.Path))
		return el
	}
	// Each round runs both modes, the first one in turn, so that neither
	// always meets the machine warmer or busier; the median of the rounds'
	// ratios beside the ratio of the totals shows a round gone astray.
	var ratios []float64
	for b.Loop() {
		var tt, tp time.Duration
		if len(ratios)%2 == 0 {
			tp = run(false, &cpuPlain)
			tt = run(true, &cpuTree)
		} else {
			tt = run(true, &cpuTree)
			tp = run(false, &cpuPlain)
		}
		withTree += tt
		without += tp
		ratios = append(ratios, tp.Seconds()/tt.Seconds())
	}
	mb := float64(size) * float64(b.N) / 1e6
	mbps := func(d time.Duration) float64 { return mb / d.Seconds() }
	slices.Sort(ratios)
	b.ReportMetric(mbps(withTree), "thex-MB/s")
	b.ReportMetric(mbps(without), "sha1-MB/s")
	b.ReportMetric(mbps(withTree)/mbps(without), "thex/sha1")
	b.ReportMetric((ratios[(len(ratios)-1)/2]+ratios[len(ratios)/2])/2, "thex/sha1-median")
	b.ReportMetric(float64(cpuTree)/float64(cpuPlain), "thex-cpu/sha1-cpu")
	b.ReportMetric(cpuTree.Seconds()*1e3/mb, "thex-cpu-ms/MB")
	b.ReportMetric(cpuPlain.Seconds()*1e3/mb, "sha1-cpu-ms/MB")
	b.ReportMetric(float64(cpuTree)/float64(withTree), "thex-cores")
	b.ReportMetric(float64(cpuPlain)/float64(without), "sha1-cores")
}

// processCPU is the process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
