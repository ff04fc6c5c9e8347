package httpxfer

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

// BenchmarkTransferMesh downloads one file (256 MiB; GOVENT_BENCH_BYTES
// overrides) from 4 sources on loopback in three modes, in the same run:
// thex, a magnet link's download (the link named the bitprint,
// Request.RootNamed: the tree fetched from a source, each chunk verified
// as it arrives, the tree alone proves the file); thex+sha1, a search
// hit's (the root only the hit vouches for: the tree as in thex, and the
// SHA-1 at the end); sha1, without a tree (SHA-1 only). It reports the
// ratio of the tree modes' throughputs to sha1's (target 0.9): of the
// totals, and for thex the median of the rounds' ratios (each round runs
// every mode, the first one in turn). GOVENT_BENCH_MESH_MODE=sha1, thex
// or thex+sha1 runs that mode alone and reports its throughput and CPU,
// for a profile of it (-test.cpuprofile, perf record).
//
// It also reports the process's CPU time in each mode (uploaders
// included) per MB moved and relative to the plain one,
// thex-cpu/sha1-cpu, and the cores
// it had while each ran: verification costs CPU (Tiger costs several
// times what SHA-1 does per byte), which the verifiers take from cores
// the network leaves idle. When the machine is shared and the process gets
// less than a core, the throughput ratio falls to about the inverse of
// the CPU ratio, whatever the code does. thex-queued-cores and
// sha1-queued-cores (runQueued) tell the two apart when a mode uses fewer
// cores than the machine has: how many of its threads waited for a CPU at
// a time, on average. Near zero, the cores it did not use were idle for
// want of work (a wait in the pipeline); well above, they were taken by
// other processes or the hypervisor (steal is in other-cores).
//
// Rounds differ most when other processes run: other-cores is the CPU
// time the rest of the machine took while the downloads ran, per second
// of them (Linux, from /proc/stat). thex/sha1-quiet is the ratio of the
// totals over the rounds in which neither the thex nor the sha1 download
// had other processes take over quietCores (quiet-rounds of them), which
// a shared machine disturbs least; it keeps both modes of each round it
// keeps. What a
// download leaves behind does not carry into the next round: its last
// commit fsyncs every byte it wrote, and on ext4 without a journal
// mounted with discard (the project's machines) os.Remove, outside the
// timed part, returns once the blocks are freed and discarded; a syncfs
// and a pause between downloads changed no quiet round.
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
	var withTree, withBoth, without, cpuTree, cpuBoth, cpuPlain, others time.Duration
	var queuedTree, queuedBoth, queuedPlain time.Duration // runQueued's, per mode
	seen := true                                          // /proc/stat could be read
	queuedSeen := true                                    // and /proc/self/task/*/schedstat
	// A mode: whether the download has the root, and whether the user
	// named it (the SHA-1 is then not computed).
	type mode struct{ thex, named bool }
	run := func(m mode, cpu, queued *time.Duration) (time.Duration, float64) {
		dir := b.TempDir()
		q0, okq0 := runQueued()
		cpu0 := processCPU(b)
		all0, ok0 := machineCPU()
		start := time.Now()
		res, err := NewDownloader(DownloaderConfig{Dir: dir}).Download(context.Background(), Request{
			Name: "big.bin", Size: size, SHA1: d, TTH: t.Root(), HasTTH: m.thex, RootNamed: m.named, Sources: srcs,
		})
		el := time.Since(start)
		own := processCPU(b) - cpu0
		all1, ok1 := machineCPU()
		q1, okq1 := runQueued()
		*cpu += own
		*queued += q1 - q0
		seen = seen && ok0 && ok1
		queuedSeen = queuedSeen && okq0 && okq1
		other := max(all1-all0-own, 0)
		others += other
		require.NoError(b, err)
		require.Equal(b, m.thex, res.TreeVerified)
		require.Equal(b, m.named, res.SHA1 == (wire.SHA1{}), "SHA-1 computed unless the root was named")
		require.NoError(b, os.Remove(res.Path))
		return el, float64(other) / float64(el)
	}
	// Each round runs every mode, the first one in turn (and the order of
	// the others with it), so that none always meets the machine warmer or
	// busier; the median of the rounds' ratios beside the ratio of the
	// totals shows a round gone astray.
	modes := []mode{{false, false}, {true, true}, {true, false}}
	if only := os.Getenv("GOVENT_BENCH_MESH_MODE"); only != "" {
		i := slices.Index([]string{"sha1", "thex", "thex+sha1"}, only)
		require.GreaterOrEqual(b, i, 0, "GOVENT_BENCH_MESH_MODE is sha1, thex or thex+sha1")
		var took, cpu, queued time.Duration
		for b.Loop() {
			el, _ := run(modes[i], &cpu, &queued)
			took += el
		}
		mb := float64(size) * float64(b.N) / 1e6
		b.ReportMetric(mb/took.Seconds(), only+"-MB/s")
		b.ReportMetric(cpu.Seconds()*1e3/mb, only+"-cpu-ms/MB")
		b.ReportMetric(float64(cpu)/float64(took), only+"-cores")
		return
	}
	var ratios []float64
	var quietTree, quietPlain time.Duration
	quiet := 0
	for b.Loop() {
		var took [3]time.Duration
		var other [3]float64
		for k := range modes {
			i := (len(ratios) + k) % len(modes)
			took[i], other[i] = run(modes[i], []*time.Duration{&cpuPlain, &cpuTree, &cpuBoth}[i],
				[]*time.Duration{&queuedPlain, &queuedTree, &queuedBoth}[i])
		}
		tp, tt, tb := took[0], took[1], took[2]
		without += tp
		withTree += tt
		withBoth += tb
		ratios = append(ratios, tp.Seconds()/tt.Seconds())
		if other[1] < quietCores && other[0] < quietCores {
			quiet++
			quietTree += tt
			quietPlain += tp
		}
	}
	mb := float64(size) * float64(b.N) / 1e6
	mbps := func(d time.Duration) float64 { return mb / d.Seconds() }
	slices.Sort(ratios)
	b.ReportMetric(mbps(withTree), "thex-MB/s")
	b.ReportMetric(mbps(withBoth), "thex+sha1-MB/s")
	b.ReportMetric(mbps(without), "sha1-MB/s")
	b.ReportMetric(mbps(withTree)/mbps(without), "thex/sha1")
	b.ReportMetric(mbps(withBoth)/mbps(without), "thex+sha1/sha1")
	b.ReportMetric((ratios[(len(ratios)-1)/2]+ratios[len(ratios)/2])/2, "thex/sha1-median")
	b.ReportMetric(float64(cpuTree)/float64(cpuPlain), "thex-cpu/sha1-cpu")
	b.ReportMetric(float64(cpuBoth)/float64(cpuPlain), "thex+sha1-cpu/sha1-cpu")
	b.ReportMetric(cpuTree.Seconds()*1e3/mb, "thex-cpu-ms/MB")
	b.ReportMetric(cpuBoth.Seconds()*1e3/mb, "thex+sha1-cpu-ms/MB")
	b.ReportMetric(cpuPlain.Seconds()*1e3/mb, "sha1-cpu-ms/MB")
	b.ReportMetric(float64(cpuTree)/float64(withTree), "thex-cores")
	b.ReportMetric(float64(cpuPlain)/float64(without), "sha1-cores")
	if seen {
		b.ReportMetric(float64(others)/float64(withTree+withBoth+without), "other-cores")
		b.ReportMetric(float64(quiet), "quiet-rounds")
		if quiet > 0 {
			b.ReportMetric(quietPlain.Seconds()/quietTree.Seconds(), "thex/sha1-quiet")
		}
	}
	if queuedSeen {
		b.ReportMetric(float64(queuedTree)/float64(withTree), "thex-queued-cores")
		b.ReportMetric(float64(queuedBoth)/float64(withBoth), "thex+sha1-queued-cores")
		b.ReportMetric(float64(queuedPlain)/float64(without), "sha1-queued-cores")
	}
}

// quietCores: a round is quiet when the rest of the machine took less
// than this many cores during each of its downloads. /proc/stat counts
// in ticks of 10 ms, so a quarter-second download reads a few hundredths
// of a core either way when nothing else runs.
const quietCores = 0.15

// machineCPU is the CPU time every process has had so far (the busy
// columns of /proc/stat's "cpu" line), and whether it could be read.
func machineCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return time.Duration(busy) * (time.Second / 100), true // USER_HZ
}

// runQueued is the time the process's threads have spent so far
// runnable but waiting for a CPU (the second field of each
// /proc/self/task/*/schedstat; Linux with schedstats), and whether it
// could be read. The queued-cores metrics divide it by the downloads'
// time: how many of our threads waited on a run queue at a time, on
// average, behind other processes (or each other). Well above zero, the
// pipeline had work it could not run: the cores it did not use were taken,
// not idle for want of work. Threads that ended took their counts with
// them, but the Go runtime keeps its threads.
func runQueued() (time.Duration, bool) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, false
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", t.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			return 0, false
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, false
		}
		sum += n
	}
	return time.Duration(sum), true
}

// processCPU is the process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
