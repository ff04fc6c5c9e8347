package httpxfer

import (
	"context"
	"crypto/sha1"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rebuilding answers its first busy HEADs the way a starting gtk-gnutella
// does (503 "Library being rebuilt", with retry as the Retry-After header,
// none if empty), then tells the size and serves ranges.
func rebuilding(busy int, retry string) func(*fakeSource, net.Conn, *http.Request, int) bool {
	heads := 0
	return func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		if req.Method != "HEAD" {
			return honest(fs, conn, req, n)
		}
		if heads++; heads <= busy {
			extra := ""
			if retry != "" {
				extra = "Retry-After: " + retry + "\r\n"
			}
			_, _ = fmt.Fprintf(conn, "HTTP/1.1 503 Library being rebuilt\r\nServer: gtk-gnutella/1.2.3\r\n%sContent-Length: 0\r\n\r\n", extra)
			return false
		}
		_, _ = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(fs.data))
		return true
	}
}

// The size check HEAD waits out a 503 as the GET path does, instead of
// giving up on the source, and tells Request.Busy each wait.
func TestDownloadHeadBusyIsRetried(t *testing.T) {
	tests := []struct {
		name  string
		busy  int
		retry string
		waits []time.Duration
	}{
		{"503 without Retry-After, twice", 2, "", []time.Duration{30 * time.Second, 30 * time.Second}},
		{"503 with Retry-After", 1, "12", []time.Duration{12 * time.Second}},
		{"503 with Retry-After under the floor", 1, "2", []time.Duration{minPoll}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := randomData(3*testChunk + 5)
			fs := startFake(t, data, rebuilding(tc.busy, tc.retry))
			dir := t.TempDir()
			w := &waitRecorder{}
			d := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: testChunk, Wait: w.wait}) // MaxFailures 5
			var told, want []string
			for _, d := range tc.waits {
				want = append(want, fmt.Sprintf("%s: 503 Library being rebuilt, wait %v", fs.source(), d))
			}
			res, err := d.Download(context.Background(), Request{
				Name: "f.bin", SHA1: sha1.Sum(data), Sources: []Source{fs.source()}, // no size: HEAD
				Busy: func(src Source, status string, wait time.Duration) {
					told = append(told, fmt.Sprintf("%s: %s, wait %v", src, status, wait))
				},
			})
			require.NoError(t, err)
			assertFinished(t, dir, res, data, "f.bin")
			assert.Equal(t, tc.waits, w.recorded())
			assert.Equal(t, want, told, "Busy tells each wait")
			assert.Empty(t, res.Dropped)
		})
	}
}

// A source that stays busy is given up after MaxFailures HEADs, and the
// next one tells the size; a 404 drops a source at once.
func TestDownloadHeadGivesUp(t *testing.T) {
	data := randomData(1000)
	busy := startFake(t, data, rebuilding(100, "1"))
	missing := startFake(t, data, status(404, "Not Found"))
	good := startFake(t, data, rebuilding(0, ""))
	dir := t.TempDir()
	w := &waitRecorder{}
	res, err := testDownloader(dir, w).Download(context.Background(), Request{ // MaxFailures 2
		Name: "f.bin", SHA1: sha1.Sum(data), Sources: []Source{busy.source(), missing.source(), good.source()},
	})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "f.bin")
	assert.Empty(t, w.recorded(), "good answered in the first pass: nothing to wait for")
	require.Len(t, res.Dropped, 1)
	assert.Equal(t, missing.addr.String()+": HEAD: 404 Not Found", res.Dropped[0].String())

	// Alone, the busy source is asked MaxFailures times, then dropped.
	_, err = testDownloader(t.TempDir(), w).Download(context.Background(), Request{
		Name: "f.bin", SHA1: sha1.Sum(data), Sources: []Source{busy.source()},
	})
	require.ErrorIs(t, err, ErrNoSources)
	assert.Contains(t, err.Error(), busy.addr.String()+": 2 failures in a row, last: HEAD: 503 Library being rebuilt, retry after 10s")
}
