package httpxfer

import (
	"bufio"
	"context"
	"crypto/sha1"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// progressLog records Request.Progress calls and notices overlapping ones.
type progressLog struct {
	mu      sync.Mutex
	calls   [][2]int64
	inside  atomic.Int32
	overlap atomic.Bool
}

func (p *progressLog) record(done, total int64) {
	if p.inside.Add(1) > 1 {
		p.overlap.Store(true)
	}
	defer p.inside.Add(-1)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, [2]int64{done, total})
}

// check asserts calls start at first, never go down, all carry total and
// end at last.
func (p *progressLog) check(t *testing.T, first, last, total int64) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	assert.False(t, p.overlap.Load(), "calls overlapped")
	require.GreaterOrEqual(t, len(p.calls), 2, "a call at the start and one at the end")
	assert.Equal(t, first, p.calls[0][0], "first call")
	assert.Equal(t, last, p.calls[len(p.calls)-1][0], "last call")
	for i, c := range p.calls {
		assert.Equal(t, total, c[1], "call %d total", i)
		if i > 0 {
			assert.GreaterOrEqual(t, c[0], p.calls[i-1][0], "call %d went down: %v", i, p.calls)
		}
	}
}

func TestDownloadProgress(t *testing.T) {
	data := randomData(300000)
	fs := startFake(t, data, honest)
	var p progressLog
	res, err := testDownloader(t.TempDir(), &waitRecorder{}).Download(context.Background(), Request{
		Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
		Progress: p.record,
	})
	require.NoError(t, err)
	assert.Equal(t, sha1.Sum(data), [20]byte(res.SHA1))
	p.check(t, 0, 300000, 300000)
}

// A download that dies reports what it got; its resumption starts there.
func TestDownloadProgressResumed(t *testing.T) {
	data := randomData(300000)
	const cut = 150000
	sent := 0
	dying := startFake(t, data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		a, b := askedRange(req, len(fs.data))
		body := fs.data[a : b+1]
		if sent+len(body) >= cut {
			body = body[:cut-sent]
			defer fs.kill()
		}
		sent += len(body)
		head := "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " + strconv.Itoa(a) + "-" + strconv.Itoa(b) + "/300000\r\nContent-Length: " + strconv.Itoa(b-a+1) + "\r\n\r\n"
		_, _ = conn.Write(append([]byte(head), body...))
		return true
	})
	dir := t.TempDir()
	var first progressLog
	req := Request{Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{dying.source()}, Progress: first.record}
	_, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), req)
	require.ErrorIs(t, err, ErrNoSources)
	first.check(t, 0, cut, 300000)

	var second progressLog
	req.Sources = []Source{startFake(t, data, honest).source()}
	req.Progress = second.record
	res, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, int64(cut), res.Resumed)
	second.check(t, cut, 300000, 300000)
}

// A callback that blocks does not hold up the transfer: while it waits,
// the downloader goes on to request the last chunk.
func TestDownloadProgressSlowCallback(t *testing.T) {
	data := randomData(5 * testChunk)
	release := make(chan struct{}) // lets the source answer past the first request
	lastAsked := make(chan struct{})
	var lastOnce sync.Once
	fs := startFake(t, data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		if n > 0 {
			<-release
		}
		if _, b := askedRange(req, len(fs.data)); b == len(fs.data)-1 {
			lastOnce.Do(func() { close(lastAsked) })
		}
		return honest(fs, conn, req, n)
	})
	var blocked atomic.Bool
	var p progressLog
	progress := func(done, total int64) {
		if done > 0 && done < total && blocked.CompareAndSwap(false, true) {
			close(release)
			select {
			case <-lastAsked:
			case <-time.After(10 * time.Second):
				t.Error("the download stalled while the progress callback blocked")
			}
		}
		p.record(done, total)
	}
	_, err := testDownloader(t.TempDir(), &waitRecorder{}).Download(context.Background(), Request{
		Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
		Progress: progress,
	})
	require.NoError(t, err)
	assert.True(t, blocked.Load(), "a call came while the download ran")
	p.check(t, 0, int64(len(data)), int64(len(data)))
}

// A sole source gets the next chunk's request before it sends the current
// body: this source reads both requests first, and would time out the
// download otherwise.
func TestDownloadPipelinesSoleSource(t *testing.T) {
	data := randomData(2 * testChunk)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(conn)
		head := func(a, b int) []byte {
			return []byte("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " + strconv.Itoa(a) + "-" + strconv.Itoa(b) +
				"/" + strconv.Itoa(len(data)) + "\r\nContent-Length: " + strconv.Itoa(b-a+1) + "\r\n\r\n")
		}
		var ranges [2][2]int
		for i := range ranges {
			req, err := http.ReadRequest(br)
			if err != nil {
				served <- fmt.Errorf("request %d: %w", i, err)
				return
			}
			a, b := askedRange(req, len(data))
			ranges[i] = [2]int{a, b}
			if i == 0 {
				_, _ = conn.Write(head(a, b)) // the head, not the body yet
			}
		}
		r0, r1 := ranges[0], ranges[1]
		_, _ = conn.Write(data[r0[0] : r0[1]+1])
		_, _ = conn.Write(append(head(r1[0], r1[1]), data[r1[0]:r1[1]+1]...))
		served <- nil
	}()
	src := Source{Addr: netip.MustParseAddrPort(ln.Addr().String())}
	dl := NewDownloader(DownloaderConfig{Dir: t.TempDir(), ChunkSize: testChunk, MaxFailures: 1, ResponseTimeout: 5 * time.Second})
	res, err := dl.Download(context.Background(), Request{
		Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{src},
	})
	require.NoError(t, <-served)
	require.NoError(t, err)
	assert.Equal(t, sha1.Sum(data), [20]byte(res.SHA1))
}
