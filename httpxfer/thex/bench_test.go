package thex

import (
	"crypto/sha1"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/cxmcc/tiger"

	"github.com/govent/govent/wire"
)

// BenchmarkHashing compares, on the same 4 MiB in the same run, what THEX
// costs beside the digests it joins: plain SHA-1 (what a download verifies
// today), plain Tiger (the floor for any Tiger tree; ours, and
// github.com/cxmcc/tiger's pure Go that we used before), the streaming
// Builder (an uploader hashing a shared file), Builder and SHA-1 together
// (a file's bitprint), and the Checker a download would write its bytes
// through, in 64 KiB writes as they come off a socket.
func BenchmarkHashing(b *testing.B) {
	data := largeFile(4 << 20)
	tr := treeOf(b, data, GoodDepth(int64(len(data))))
	run := func(name string, f func()) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				f()
			}
		})
	}
	run("SHA1", func() {
		h := sha1.New()
		h.Write(data)
		h.Sum(nil)
	})
	run("Tiger", func() { Tiger(data) })
	run("Tiger-cxmcc", func() {
		h := tiger.New()
		h.Write(data)
		h.Sum(nil)
	})
	run("Leaves", func() { hashLeaves(data) })
	run("Builder", func() {
		bld := NewBuilder()
		bld.Write(data)
		bld.Tree()
	})
	run("Builder+SHA1", func() {
		bld, h := NewBuilder(), sha1.New()
		bld.Write(data)
		h.Write(data)
		bld.Tree()
		h.Sum(nil)
	})
	run("Checker", func() {
		c, err := tr.NewChecker(0)
		if err != nil {
			b.Fatal(err)
		}
		for p := data; len(p) > 0; p = p[min(len(p), 64<<10):] {
			if _, err := c.Write(p[:min(len(p), 64<<10)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecodeDIME(b *testing.B) {
	body := readHex(b, "gtkg-thex-large.hex")
	root := mustTTH(b, "BMH4XVYGGJ4J4WBRSDKYRA4X5RH2N7MGARVWZWQ")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeDIME(body, 5243003, root); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOverhead measures the same ratios as BenchmarkHashing with the
// contenders interleaved inside every iteration, 1 MiB each, each timed
// in the CPU time of its thread (threadCPU; wall time where there is
// none), so that load from the rest of a shared machine, which preempts
// the benchmark, falls on none of them. It reports MB/s of CPU and time
// per byte relative to plain Tiger (tiger/sha1 is how much slower Tiger
// is than SHA-1; tiger/cxmcc how ours compares with
// github.com/cxmcc/tiger's, leaves/cxmcc the same for THEX leaves, ours
// a batch at a time against cxmcc's digest per leaf as we hashed them
// before).
// out keeps the digests the benchmarks compute.
var out = make([]byte, 0, Size)

// hashLeaves hashes the leaves of data's whole blocks as merkle.write
// does, a batch at a time.
func hashLeaves(data []byte) {
	var batch [leafBatch]wire.TTH
	for p := data; len(p) >= BlockSize; {
		hs := batch[:min(len(p)/BlockSize, leafBatch)]
		leaves(hs, p[:len(hs)*BlockSize])
		p = p[len(hs)*BlockSize:]
	}
}

func BenchmarkOverhead(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	data := largeFile(1 << 20)
	tr := treeOf(b, data, GoodDepth(int64(len(data))))
	var tSHA1, tTiger, tCxmcc, tLeaves, tLeavesCxmcc, tBuilder, tChecker time.Duration
	timed := func(d *time.Duration, f func()) {
		t0 := threadCPU()
		f()
		*d += threadCPU() - t0
	}
	cx := tiger.New()
	leafCxmcc := func(block []byte) {
		cx.Reset()
		cx.Write([]byte{0x00})
		cx.Write(block)
		out = cx.Sum(out[:0])
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		timed(&tSHA1, func() { h := sha1.New(); h.Write(data); out = h.Sum(out[:0]) })
		timed(&tTiger, func() { Tiger(data) })
		timed(&tCxmcc, func() { h := tiger.New(); h.Write(data); out = h.Sum(out[:0]) })
		timed(&tLeaves, func() { hashLeaves(data) })
		timed(&tLeavesCxmcc, func() {
			for p := data; len(p) >= BlockSize; p = p[BlockSize:] {
				leafCxmcc(p[:BlockSize])
			}
		})
		timed(&tBuilder, func() { bld := NewBuilder(); bld.Write(data); bld.Tree() })
		timed(&tChecker, func() {
			c, _ := tr.NewChecker(0)
			for p := data; len(p) > 0; p = p[min(len(p), 64<<10):] {
				if _, err := c.Write(p[:min(len(p), 64<<10)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	mbps := func(d time.Duration) float64 { return float64(len(data)) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(tTiger), "tiger-MB/s")
	b.ReportMetric(mbps(tCxmcc), "cxmcc-MB/s")
	b.ReportMetric(mbps(tLeaves), "leaves-MB/s")
	b.ReportMetric(mbps(tLeavesCxmcc), "leaves-cxmcc-MB/s")
	b.ReportMetric(float64(tLeaves)/float64(tLeavesCxmcc), "leaves/cxmcc")
	b.ReportMetric(mbps(tBuilder), "builder-MB/s")
	b.ReportMetric(mbps(tChecker), "checker-MB/s")
	b.ReportMetric(float64(tTiger)/float64(tSHA1), "tiger/sha1")
	b.ReportMetric(float64(tTiger)/float64(tCxmcc), "tiger/cxmcc")
	b.ReportMetric(float64(tBuilder)/float64(tTiger), "builder/tiger")
	b.ReportMetric(float64(tChecker)/float64(tTiger), "checker/tiger")
}

// BenchmarkCompress is the compression function alone, in the CPU time
// of the benchmark's thread per 64-byte block, one message at a time
// (block), two (block2) and three (block3) together, and for the blocks
// of leaves hashed as merkle.write does (prefix, framing and digests
// included), and for inner nodes (parents, one block each): how far
// running Tiger's dependent chains side by side goes on this processor.
func BenchmarkCompress(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	msgs := [3][]byte{largeFile(16 * tigerBlock), largeFile(16*tigerBlock + 1)[1:], largeFile(16*tigerBlock + 2)[2:]}
	data := largeFile(48 * BlockSize)
	level := make([]wire.TTH, 48)
	leaves(level, data)
	above := make([]wire.TTH, 0, len(level)/2)
	var s [3][3]uint64
	var d [5]time.Duration
	timed := func(d *time.Duration, f func()) {
		t0 := threadCPU()
		for range 16 {
			f()
		}
		*d += threadCPU() - t0
	}
	for b.Loop() {
		timed(&d[0], func() { block(&s[0], msgs[0]) })
		timed(&d[1], func() { block2(&s[0], &s[1], msgs[0], msgs[1]) })
		timed(&d[2], func() {
			block3(&s, &[3][3][]byte{{nil, msgs[0], nil}, {nil, msgs[1], nil}, {nil, msgs[2], nil}})
		})
		timed(&d[3], func() { hashLeaves(data) })
		timed(&d[4], func() { above = parents(above[:0], level) })
	}
	perBlock := func(d time.Duration, blocks int) float64 {
		return float64(d.Nanoseconds()) / float64(b.N*16*blocks)
	}
	b.ReportMetric(perBlock(d[0], 16), "ns/block-1")
	b.ReportMetric(perBlock(d[1], 2*16), "ns/block-2")
	b.ReportMetric(perBlock(d[2], 3*16), "ns/block-3")
	b.ReportMetric(perBlock(d[3], 48*17), "ns/leaf-block")
	b.ReportMetric(perBlock(d[3], 48), "ns/leaf")
	b.ReportMetric(perBlock(d[4], 24), "ns/node")
}

// BenchmarkCheckerWrites is the Checker of a download fed in writes of
// the sizes socket reads return (1.5 KiB, odd sizes, 16 and 64 KiB), 4 MiB
// at its good depth (chunks of 128 KiB), in the CPU time of the
// benchmark's thread: ns per leaf and MB/s of CPU.
func BenchmarkCheckerWrites(b *testing.B) {
	data := largeFile(4 << 20)
	tr := treeOf(b, data, GoodDepth(int64(len(data))))
	for _, size := range []int{1536, 4093, 9000, 16 << 10, 64 << 10} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			// Each sub-benchmark runs on a goroutine of its own.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.SetBytes(int64(len(data)))
			var d time.Duration
			for b.Loop() {
				t0 := threadCPU()
				c, err := tr.NewChecker(0)
				if err != nil {
					b.Fatal(err)
				}
				for p := data; len(p) > 0; p = p[min(len(p), size):] {
					if _, err := c.Write(p[:min(len(p), size)]); err != nil {
						b.Fatal(err)
					}
				}
				d += threadCPU() - t0
			}
			b.ReportMetric(float64(d.Nanoseconds())/float64(b.N*len(data)/BlockSize), "ns/leaf")
			b.ReportMetric(float64(len(data))*float64(b.N)/d.Seconds()/1e6, "cpu-MB/s")
		})
	}
}
