package httpxfer

import (
	"context"
	"crypto/sha1"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// neverAnswer reads the request and says nothing until the downloader
// hangs up.
func neverAnswer(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
	_ = conn.SetDeadline(time.Time{})
	_, _ = io.Copy(io.Discard, conn)
	return false
}

// A source that takes the connection and never answers (a paused
// servent), asked for the size (HEAD) or for a range (GET), in virtual
// time: the user is told within StallTimeout that we wait for it, each
// try is given up after AnswerTimeout, the next one comes after a backoff
// (2 s, doubling), and the source is dropped after MaxFailures tries:
// 5 × 30 s + 2+4+8+16 s = 180 s with the defaults.
func TestDownloadSourceNeverAnswers(t *testing.T) {
	for _, probe := range []bool{true, false} {
		name := "GET"
		if probe {
			name = "HEAD"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				data := randomData(1000)
				var mu sync.Mutex
				var asked []time.Time
				fs := newPipeFake(t, "127.0.0.1:7001", data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
					mu.Lock()
					asked = append(asked, time.Now())
					mu.Unlock()
					return neverAnswer(fs, conn, req, n)
				})
				defer fs.stop()
				d := NewDownloader(DownloaderConfig{Dir: t.TempDir(), Dialer: newPipeDialer(fs)})
				start := time.Now()
				var told []time.Duration
				var busy []time.Duration
				req := Request{
					Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
					Waiting: func(src Source, waited time.Duration) {
						assert.Equal(t, fs.source(), src)
						told = append(told, time.Since(start))
					},
					Busy: func(src Source, status string, wait time.Duration) {
						assert.True(t, strings.HasPrefix(status, "no answer in 30s"), status)
						busy = append(busy, wait)
					},
				}
				if probe {
					req.Size = 0
				}
				_, err := d.Download(context.Background(), req)
				require.ErrorIs(t, err, ErrNoSources)
				assert.Contains(t, err.Error(), "5 failures in a row, last: ")
				assert.Contains(t, err.Error(), "no answer in 30s")
				assert.Equal(t, 180*time.Second, time.Since(start).Round(time.Second))
				require.NotEmpty(t, told)
				assert.Equal(t, 5*time.Second, told[0], "said within seconds")
				assert.Len(t, told, 5, "once per try")
				assert.Equal(t, []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}, busy)
				mu.Lock()
				defer mu.Unlock()
				require.Len(t, asked, 5)
				for i := 1; i < len(asked); i++ {
					gap := asked[i].Sub(asked[i-1])
					assert.Equal(t, 30*time.Second+(time.Second<<i), gap, "try %d", i)
				}
			})
		})
	}
}

// A source whose port refuses (a servent being restarted) is tried again
// after a backoff, as a busy one is, and dropped only after MaxFailures
// refusals: 2+4+8+16 = 30 s with the defaults; one that comes back within
// that time delivers.
func TestDownloadRefusedSourceBacksOff(t *testing.T) {
	for _, back := range []bool{false, true} {
		name := "stays away"
		if back {
			name = "comes back"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				data := randomData(1000)
				fs := newPipeFake(t, "127.0.0.1:7001", data, honest)
				fs.kill()
				dialer := newPipeDialer(fs)
				dir := t.TempDir()
				d := NewDownloader(DownloaderConfig{Dir: dir, Dialer: dialer})
				start := time.Now()
				var waits []time.Duration
				req := Request{
					Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
					Busy: func(src Source, status string, wait time.Duration) {
						assert.Contains(t, status, "connection refused")
						waits = append(waits, wait)
						if back && len(waits) == 3 {
							good := newPipeFake(t, "127.0.0.1:7001", data, honest)
							t.Cleanup(good.stop)
							dialer[good.addr] = good
						}
					},
				}
				res, err := d.Download(context.Background(), req)
				if back {
					require.NoError(t, err)
					assertFinished(t, dir, res, data, "f.bin")
					assert.Equal(t, 14*time.Second, time.Since(start), "after 2+4+8 s")
					return
				}
				require.ErrorIs(t, err, ErrNoSources)
				assert.Contains(t, err.Error(), "5 failures in a row, last: connecting: pipe to 127.0.0.1:7001: connection refused")
				assert.Equal(t, 30*time.Second, time.Since(start))
				assert.Equal(t, []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}, waits)
			})
		})
	}
}
