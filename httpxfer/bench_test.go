package httpxfer

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// writeRandomFile writes size random bytes to path and returns the SHA-1.
func writeRandomFile(tb testing.TB, path string, size int64) wire.SHA1 {
	tb.Helper()
	f, err := os.Create(path)
	require.NoError(tb, err)
	defer f.Close()
	h := sha1.New()
	buf := make([]byte, 4<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		_, _ = rand.Read(buf[:n])
		h.Write(buf[:n])
		_, err := f.Write(buf[:n])
		require.NoError(tb, err)
		left -= n
	}
	var d wire.SHA1
	h.Sum(d[:0])
	return d
}

// BenchmarkTransfer moves one file (1 GiB; GOVENT_BENCH_BYTES overrides)
// over loopback from our Uploader to our Downloader, and in the same run
// the same file from net/http.FileServer to the net/http client writing to
// a file (the stand-in for nginx + curl). It reports both rates and
// govent/nethttp. Our side also fsyncs and verifies the SHA-1; the
// baseline does neither.
func BenchmarkTransfer(b *testing.B) {
	size := benchBytes(b, 1<<30)
	src := b.TempDir()
	path := filepath.Join(src, "big.bin")
	d := writeRandomFile(b, path, size)
	lib := &memLibrary{}
	lib.add(File{Index: 1, Name: "big.bin", Size: size, SHA1: d, Path: path})
	up := startUploader(b, UploaderConfig{Library: lib})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	hs := &http.Server{Handler: http.FileServer(http.Dir(src))}
	go func() { _ = hs.Serve(ln) }()
	b.Cleanup(func() { hs.Close() })
	url := "http://" + ln.Addr().String() + "/big.bin"

	b.ReportAllocs()
	b.SetBytes(size)
	var ours, theirs time.Duration
	for b.Loop() {
		dir := b.TempDir()
		start := time.Now()
		res, err := NewDownloader(DownloaderConfig{Dir: dir}).Download(context.Background(), Request{
			Name: "big.bin", Size: size, SHA1: d, Sources: []Source{{Addr: up.addr}},
		})
		ours += time.Since(start)
		require.NoError(b, err)
		require.NoError(b, os.Remove(res.Path))

		start = time.Now()
		resp, err := http.Get(url)
		require.NoError(b, err)
		out, err := os.Create(filepath.Join(dir, "curl.bin"))
		require.NoError(b, err)
		n, err := io.Copy(out, resp.Body)
		resp.Body.Close()
		out.Close()
		theirs += time.Since(start)
		require.NoError(b, err)
		require.Equal(b, size, n)
		require.NoError(b, os.Remove(out.Name()))
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(ours), "govent-MB/s")
	b.ReportMetric(mbps(theirs), "nethttp-MB/s")
	b.ReportMetric(mbps(ours)/mbps(theirs), "govent/nethttp")
}

// 50 downloads of 20 MiB at once from one Uploader all finish and verify.
func TestManyConcurrentDownloads(t *testing.T) {
	const downloads = 50
	size := int64(20 << 20)
	if testing.Short() {
		size = 2 << 20
	}
	src := t.TempDir()
	lib := &memLibrary{}
	// One random block, made distinct per file by its first bytes: cheaper
	// than 1 GiB of fresh randomness, and every file has its own SHA-1.
	data := make([]byte, size)
	_, _ = rand.Read(data)
	for i := range downloads {
		name := "file" + strconv.Itoa(i) + ".bin"
		p := filepath.Join(src, name)
		copy(data, name)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		lib.add(File{Index: uint32(i), Name: name, Size: size, SHA1: sha1.Sum(data), Path: p})
	}
	up := startUploader(t, UploaderConfig{Library: lib, MaxUploads: downloads, MaxUploadsPerIP: downloads})
	dir := t.TempDir()
	dl := NewDownloader(DownloaderConfig{Dir: dir})
	var wg sync.WaitGroup
	errs := make([]error, downloads)
	for i := range downloads {
		f, _ := lib.ByIndex(uint32(i))
		wg.Go(func() {
			res, err := dl.Download(context.Background(), Request{
				Name: f.Name, Size: f.Size, SHA1: f.SHA1, Sources: []Source{{Addr: up.addr}},
			})
			if err == nil && res.SHA1 != f.SHA1 {
				err = ErrHashMismatch
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "download %d", i)
	}
	assert.Len(t, dirNames(t, dir), downloads)
}
