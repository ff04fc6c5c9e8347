package httpxfer

import (
	"context"
	"os"
	"path/filepath"
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
// their throughputs (target 0.9).
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
	var withTree, without time.Duration
	run := func(thexOn bool) time.Duration {
		dir := b.TempDir()
		start := time.Now()
		res, err := NewDownloader(DownloaderConfig{Dir: dir}).Download(context.Background(), Request{
			Name: "big.bin", Size: size, SHA1: d, TTH: t.Root(), HasTTH: thexOn, Sources: srcs,
		})
		el := time.Since(start)
		require.NoError(b, err)
		require.Equal(b, thexOn, res.TreeVerified)
		require.NoError(b, os.Remove(res.Path))
		return el
	}
	for b.Loop() {
		without += run(false)
		withTree += run(true)
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(withTree), "thex-MB/s")
	b.ReportMetric(mbps(without), "sha1-MB/s")
	b.ReportMetric(mbps(withTree)/mbps(without), "thex/sha1")
}
