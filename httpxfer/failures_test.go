package httpxfer

import (
	"context"
	"crypto/sha1"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cutEvery promises each range in full, sends at most budget bytes of
// body on a connection and hangs up.
func cutEvery(budget int) func(*fakeSource, net.Conn, *http.Request, int) bool {
	var mu sync.Mutex
	sent := map[net.Conn]int{}
	return func(fs *fakeSource, conn net.Conn, req *http.Request, _ int) bool {
		a, b := askedRange(req, len(fs.data))
		mu.Lock()
		left := budget - sent[conn]
		n := min(b-a+1, left)
		sent[conn] += n
		mu.Unlock()
		head := fmt.Sprintf("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n\r\n", a, b, len(fs.data), b-a+1)
		_, _ = conn.Write(append([]byte(head), fs.data[a:a+n]...))
		return n == b-a+1 && n < left
	}
}

// A source that cuts every connection after some progress is never
// dropped for it: only failures that bring no new bytes count.
func TestDownloadCutsWithProgressDoNotCount(t *testing.T) {
	data := randomData(3<<20 + 17)
	fs := startFake(t, data, cutEvery(100<<10)) // 10 cuts per 1 MiB chunk
	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir, Wait: (&waitRecorder{}).wait}) // MaxFailures 5
	res, err := d.Download(context.Background(), Request{
		Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
	})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "f.bin")
	assert.Empty(t, res.Dropped)
	assert.GreaterOrEqual(t, len(fs.requestRanges()), 31, "a request per 100 KiB")
}

// A source whose cuts bring nothing is still dropped after MaxFailures.
func TestDownloadCutsWithoutProgressCount(t *testing.T) {
	data := randomData(3 * testChunk)
	fs := startFake(t, data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		if n == 0 {
			return honest(fs, conn, req, n)
		}
		a, b := askedRange(req, len(fs.data))
		_, _ = fmt.Fprintf(conn, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n\r\n", a, b, len(fs.data), b-a+1)
		return false
	})
	_, err := testDownloader(t.TempDir(), &waitRecorder{}).Download(context.Background(), Request{ // MaxFailures 2
		Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
	})
	require.ErrorIs(t, err, ErrNoSources)
	assert.Equal(t, 3, len(fs.requestRanges()), "one good chunk, then two empty cuts")
	assert.Contains(t, err.Error(), "2 failures in a row, last: body cut after 0 of 65536 bytes")
}

// Each failure kind reads, per source, as a user can act on it.
func TestDownloadFailureReasons(t *testing.T) {
	const size = 20
	data := randomData(size)
	type behaviour = func(*fakeSource, net.Conn, *http.Request, int) bool
	raw := func(reply string) behaviour {
		return func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
			_, _ = conn.Write([]byte(reply))
			return false
		}
	}
	// Answers every request with the first half of the file.
	firstHalf := func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		reply206(conn, size, 0, 9, fs.data[:10])
		return true
	}
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refusedAddr := refused.Addr().String()
	refused.Close()
	tests := []struct {
		name   string
		bad    behaviour // nil: nothing listens
		noSize bool      // ask the size with HEAD
		want   string
		// the download's error after "f.bin": when not no usable source
		// left and want
		wantErr string
	}{
		{name: "redirect", bad: raw("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/x\r\nContent-Length: 0\r\n\r\n"),
			want: "302 redirect not followed"},
		{name: "206 elsewhere", bad: firstHalf, want: "206 with Content-Range bytes 0-9/20, asked 10-19"},
		{name: "206 for another size", bad: raw("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-19/21\r\nContent-Length: 20\r\n\r\n"),
			want: "206 with Content-Range bytes 0-19/21, file has 20 bytes", wantErr: "sources say the file has 21 bytes, not 20"},
		{name: "206 with a bad Content-Range", bad: raw("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes zero\r\nContent-Length: 20\r\n\r\n"),
			want: `206 with unreadable Content-Range "bytes zero"`},
		{name: "200 for another size", bad: raw("HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\n"),
			want: "200 with Content-Length 19, file has 20 bytes", wantErr: "sources say the file has 19 bytes, not 20"},
		{name: "404", bad: status(404, "Not Found"), want: "404 Not Found"},
		{name: "status without reason, control bytes in it", bad: raw("HTTP/1.1 410 \x1b[31mGone\r\nContent-Length: 0\r\n\r\n"),
			want: "410 [31mGone"},
		{name: "busy", bad: status(503, "Busy"), want: "2 failures in a row, last: 503 Busy, retry after 30s"},
		// Retried after a backoff (noanswer.go), MaxFailures times.
		{name: "connection refused", want: "2 failures in a row, last: connecting: connection refused"},
		{name: "HEAD refused", bad: status(403, "Forbidden"), noSize: true, want: "HEAD: 403 Forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := Source{Addr: netip.MustParseAddrPort(refusedAddr)}
			if tc.bad != nil {
				src = startFake(t, data, tc.bad).source()
			}
			req := Request{Name: "f.bin", Size: size, SHA1: sha1.Sum(data), Sources: []Source{src}}
			if tc.noSize {
				req.Size = 0
			}
			res, err := testDownloader(t.TempDir(), &waitRecorder{}).Download(context.Background(), req)
			require.ErrorIs(t, err, ErrNoSources)
			require.Len(t, res.Dropped, 1)
			assert.Equal(t, src.String()+": "+tc.want, res.Dropped[0].String())
			if tc.wantErr == "" {
				tc.wantErr = "no usable source left: " + src.String() + ": " + tc.want
			}
			assert.Equal(t, `download "f.bin": `+tc.wantErr, err.Error())
		})
	}
}

// With several sources, the error names each one's reason, in the order
// the sources were given.
func TestDownloadFailureReasonsSeveral(t *testing.T) {
	data := randomData(20)
	missing := startFake(t, data, status(404, "Not Found"))
	moved := startFake(t, data, status(301, "Moved Permanently"))
	res, err := testDownloader(t.TempDir(), &waitRecorder{}).Download(context.Background(), Request{
		Name: "f.bin", Size: 20, SHA1: sha1.Sum(data), Sources: []Source{moved.source(), missing.source()},
	})
	require.ErrorIs(t, err, ErrNoSources)
	assert.Len(t, res.Dropped, 2)
	want := "no usable source left: " + moved.addr.String() + ": 301 redirect not followed; " +
		missing.addr.String() + ": 404 Not Found"
	assert.True(t, strings.HasSuffix(err.Error(), want), "%q", err)
}

// A size that every source contradicts is a wrong size, said as such,
// not every source's fault; the .part it started empty is not left.
func TestDownloadWrongSize(t *testing.T) {
	data := randomData(200000)
	a, b := startFake(t, data, honest), startFake(t, data, honest)
	dir := t.TempDir()
	_, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), Request{
		Name: "f.bin", Size: 123, SHA1: sha1.Sum(data), Sources: []Source{a.source(), b.source()},
	})
	require.ErrorIs(t, err, ErrNoSources)
	var se *SizeError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, &SizeError{Size: 123, Sizes: []int64{200000}}, se)
	assert.EqualError(t, err, `download "f.bin": sources say the file has 200000 bytes, not 123`)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "no empty .part, no state")
}
