package httpxfer

import (
	"context"
	"crypto/sha1"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A source that answers 503 with no wait we can use, or an absurd one,
// is polled no sooner than minPoll and no later than the configured
// bounds: a broken or hostile uploader must not turn us into a flooder
// (87,681 requests in 12 s, before), nor park us for days.
func TestBusyAndQueuedPollsArePaced(t *testing.T) {
	const busy = 4 // 503s before the source serves
	tests := []struct {
		name string
		head string // the 503's status line and headers
		keep bool   // the source keeps the connection for the next poll
		gap  time.Duration
	}{
		{"PARQ without Retry-After", "503 Queued\r\nX-Queued: position=1,length=1,ID=abc", true, minPoll},
		{"PARQ with Retry-After 0", "503 Queued\r\nRetry-After: 0\r\nX-Queued: position=1; ID=abc; lifetime=5", true, minPoll},
		{"legacy X-Queue without pollMin", "503 Queued\r\nX-Queue: position=1, length=1", true, minPoll},
		{"legacy X-Queue with pollMin 0", "503 Queued\r\nX-Queue: position=1, length=1, pollMin=0, pollMax=0", true, minPoll},
		{"plain 503 with Retry-After 0", "503 Busy\r\nRetry-After: 0", false, minPoll},
		{"plain 503 without Retry-After", "503 Busy", false, 30 * time.Second},
		{"PARQ with an absurd Retry-After", "503 Queued\r\nRetry-After: 99999999999\r\nX-Queued: position=1; ID=abc", true, 20 * time.Minute},
		{"PARQ with a day's Retry-After", "503 Queued\r\nRetry-After: 86400\r\nX-Queued: position=1; ID=abc", true, 20 * time.Minute},
		{"legacy X-Queue with an absurd pollMin", "503 Queued\r\nX-Queue: position=1, pollMin=999999999999", true, 20 * time.Minute},
		{"plain 503 with an absurd Retry-After", "503 Busy\r\nRetry-After: 99999999999", false, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				data := randomData(1000)
				var mu sync.Mutex
				var at []time.Time
				behave := func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
					mu.Lock()
					at = append(at, time.Now())
					mu.Unlock()
					if n < busy {
						_, _ = fmt.Fprintf(conn, "HTTP/1.1 %s\r\nContent-Length: 0\r\n\r\n", tt.head)
						return tt.keep
					}
					return honest(fs, conn, req, n)
				}
				fs := newPipeFake(t, "127.0.0.1:7010", data, behave)
				fs.idle = time.Hour // kept connections wait for the poll
				defer fs.stop()
				d := NewDownloader(DownloaderConfig{Dir: t.TempDir(), Dialer: newPipeDialer(fs)})
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
				defer cancel()
				var told []string // what Queued and Busy say, as the CLI shows it
				res, err := d.Download(ctx, Request{
					Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
					Queued: func(_ Source, q QueueStatus) { told = append(told, fmt.Sprintf("queued, poll in %v", q.PollMin)) },
					Busy: func(_ Source, status string, wait time.Duration) {
						told = append(told, fmt.Sprintf("%s, wait %v", status, wait))
					},
				})
				require.NoError(t, err)
				assert.Empty(t, res.Dropped)
				mu.Lock()
				defer mu.Unlock()
				require.Len(t, at, busy+1, "each 503 polled once, then the file")
				want := fmt.Sprintf("queued, poll in %v", tt.gap)
				if !tt.keep {
					want = fmt.Sprintf("503 Busy, wait %v", tt.gap)
				}
				assert.Equal(t, []string{want, want, want, want}, told, "the wait we take, each time")
				for i := 1; i < len(at); i++ {
					assert.Equal(t, tt.gap, at[i].Sub(at[i-1]), "wait before request %d", i)
				}
			})
		})
	}
}
