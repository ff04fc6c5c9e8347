package httpxfer

import (
	"context"
	"crypto/sha1"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ignoresRangeCutFirst answers every request with 200 and the whole file
// from byte 0. Its first connection hangs up after cut bytes; later ones
// send junk where the downloader has the bytes already, so a downloader
// that kept what it should discard ends with a SHA-1 mismatch.
func ignoresRangeCutFirst(cut int) func(*fakeSource, net.Conn, *http.Request, int) bool {
	return func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(fs.data))
		body := fs.data
		if n == 0 {
			body = body[:cut]
		} else {
			body = append(randomData(cut), fs.data[cut:]...)
		}
		_, _ = conn.Write(append([]byte(head), body...))
		return n > 0
	}
}

// A source that ignores Range serves a file over 1 MiB in one stream.
func TestDownloadRangeIgnoredOneStream(t *testing.T) {
	data := randomData(3<<20 + 99)
	fs := startFake(t, data, ignoresRange)
	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir, Wait: (&waitRecorder{}).wait}) // 1 MiB chunks
	res, err := d.Download(context.Background(), Request{
		Name: "big.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
	})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "big.bin")
	assert.Empty(t, res.Dropped)
	assert.Equal(t, []string{"bytes=0-1048575"}, fs.requestRanges(), "one request, every chunk from its body")
}

// After a cut, the next stream from byte 0 is read and discarded up to
// what the .part lacks; the discarded bytes are never written.
func TestDownloadRangeIgnoredResumes(t *testing.T) {
	data := randomData(3<<20 + 99)
	const cut = 3 << 19 // 1.5 MiB
	fs := startFake(t, data, ignoresRangeCutFirst(cut))
	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir, Wait: (&waitRecorder{}).wait})
	res, err := d.Download(context.Background(), Request{
		Name: "big.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
	})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "big.bin")
	assert.Equal(t, []string{"bytes=0-1048575", "bytes=1572864-2097151"}, fs.requestRanges())
}

// What is discarded is bounded by MaxSkipBytes; past it the source is
// dropped and says why.
func TestDownloadRangeIgnoredSkipBound(t *testing.T) {
	data := randomData(3<<20 + 99)
	const cut = 3 << 19
	fs := startFake(t, data, ignoresRangeCutFirst(cut))
	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir, MaxSkipBytes: 1 << 20, Wait: (&waitRecorder{}).wait})
	res, err := d.Download(context.Background(), Request{
		Name: "big.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
	})
	require.ErrorIs(t, err, ErrNoSources)
	require.Len(t, res.Dropped, 1)
	assert.Equal(t, fs.addr.String()+": 200 to a request from byte 1572864: the source ignores Range, "+
		"and we discard at most 1048576 bytes", res.Dropped[0].String())
	st, err := loadState(dir + "/big.bin.part.state")
	require.NoError(t, err)
	var have int64
	for _, c := range st.Chunks {
		have += c.Have
	}
	assert.Equal(t, int64(cut), have, "the first stream's bytes are kept")
}
