package httpxfer

import (
	"context"
	"crypto/sha1"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// paced is a source's first connection in virtual time: it promises the
// range, then sends step bytes every every, pausing for pause once after
// pauseAt bytes, until stopAt bytes (or the range) are out. Then it goes
// silent until the downloader hangs up, and it records when. Later
// connections are served at once.
type paced struct {
	step, pauseAt, stopAt int
	every, pause          time.Duration
	trickle               int // after stopAt, this many bytes every second

	silentAt, redialAt time.Time
}

func (p *paced) behave(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
	_ = conn.SetDeadline(time.Time{})
	if n > 0 {
		if p.redialAt.IsZero() {
			p.redialAt = time.Now()
		}
		return honest(fs, conn, req, n)
	}
	a, b := askedRange(req, len(fs.data))
	_, _ = fmt.Fprintf(conn, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n\r\n", a, b, len(fs.data), b-a+1)
	off, paused := a, false
	for off <= b && off-a < p.stopAt {
		if !paused && off-a >= p.pauseAt {
			paused = true
			time.Sleep(p.pause)
		}
		k := min(p.step, b+1-off)
		if _, err := conn.Write(fs.data[off : off+k]); err != nil {
			return false
		}
		off += k
		time.Sleep(p.every)
	}
	p.silentAt = time.Now()
	for p.trickle > 0 && off+p.trickle <= b {
		if _, err := conn.Write(fs.data[off : off+p.trickle]); err != nil {
			return false
		}
		off += p.trickle
		time.Sleep(time.Second)
	}
	_, _ = io.Copy(io.Discard, conn) // until the downloader hangs up
	return false
}

func runPaced(t *testing.T, size int, p *paced) (Result, error) {
	data := randomData(size)
	fs := newPipeFake(t, "127.0.0.1:7001", data, p.behave)
	defer fs.stop()
	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir, Dialer: newPipeDialer(fs)}) // defaults: 5 s stall floor, 60 s cap
	res, err := d.Download(context.Background(), Request{
		Name: "f.bin", Size: int64(size), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
	})
	if err == nil {
		assertFinished(t, dir, res, data, "f.bin")
	}
	return res, err
}

// A source at 100 KiB/s that goes silent is given up after the floor of a
// few seconds, not after a long flat timeout; its bytes stay.
func TestDownloadStallFastSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &paced{step: 10 << 10, every: 100 * time.Millisecond, pauseAt: 1 << 30, stopAt: 200 << 10}
		res, err := runPaced(t, 1<<20, p)
		require.NoError(t, err)
		assert.Empty(t, res.Dropped)
		gap := p.redialAt.Sub(p.silentAt)
		assert.GreaterOrEqual(t, gap, 5*time.Second)
		assert.LessOrEqual(t, gap, 6500*time.Millisecond, "the floor, plus at most a quarter of it")
	})
}

// A source at 2 KiB/s may pause for 20 s: its stall bound fits its rate
// (64 KiB worth, 32 s), so it is not hung up on.
func TestDownloadStallSlowSourcePauses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &paced{step: 512, every: 250 * time.Millisecond, pauseAt: 32 << 10, pause: 20 * time.Second, stopAt: 1 << 30}
		start := time.Now()
		res, err := runPaced(t, 96<<10, p)
		require.NoError(t, err)
		assert.Empty(t, res.Dropped)
		assert.True(t, p.redialAt.IsZero(), "one connection did it all")
		assert.GreaterOrEqual(t, time.Since(start), 68*time.Second, "48 s of body and the pause")
	})
}

// A source that trickles far below its rate (100 B/s after 100 KiB/s)
// brings less than the least a window must, and is given up as a stall.
func TestDownloadStallTrickle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &paced{step: 10 << 10, every: 100 * time.Millisecond, pauseAt: 1 << 30, stopAt: 200 << 10, trickle: 100}
		_, err := runPaced(t, 1<<20, p)
		require.NoError(t, err)
		gap := p.redialAt.Sub(p.silentAt)
		assert.GreaterOrEqual(t, gap, 5*time.Second)
		assert.LessOrEqual(t, gap, 6500*time.Millisecond, "the floor, plus at most a quarter of it")
	})
}

func TestStallWindow(t *testing.T) {
	const floor, ceiling = 5 * time.Second, 60 * time.Second
	tests := []struct {
		rate float64 // bytes/s; 0: not measured yet
		want time.Duration
	}{
		{0, floor},
		{10 << 20, floor},
		{2 << 10, 32 * time.Second},
		{100, ceiling},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, stallWindow(tc.rate, floor, ceiling), "rate %v", tc.rate)
	}
}
