package httpxfer

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One address cannot hold the whole queue: a PARQ client that polls
// without its ID keeps the one place it has for that file (until its
// early polls lose it, TestPARQEarlyPollLosesPlace) (gtk-gnutella
// finds an entry by ID, else by address and name), and one that asks
// for the file under many names gets at most MaxQueuePerIP places. A
// newcomer from another address is still queued.
func TestPARQOneAddressCannotFillTheQueue(t *testing.T) {
	cfg := UploaderConfig{MaxUploads: 1, MaxQueue: 20, MaxQueuePerIP: 3}
	queueTest(t, cfg, func(l *queueLab) {
		l.hold("10.0.1.1:1")
		var first QueueStatus
		for i := range 30 { // the same file, no ID, a new connection each time
			c := l.dial("10.0.3.1:1")
			resp := c.poll(t, "")
			require.Equal(t, "503 Queued", resp.Status, "poll %d", i)
			q := place(t, resp)
			if i == 0 {
				first = q
			}
			if i < QueueMaxEarly { // then it has polled too early too often, and queues again
				require.Equal(t, first.ID, q.ID, "poll %d: the same place", i)
			}
			require.Equal(t, 1, q.Length, "poll %d: one place", i)
			c.conn.Close()
			synctest.Wait() // its session ends
		}
		assert.Equal(t, 1, l.u.QueueLength())

		var statuses []string
		for i := range 30 { // many names for one file
			c := l.dial("10.0.3.1:1")
			_, err := io.WriteString(c.conn, fmt.Sprintf("GET /get/1/f.bin?n=%d HTTP/1.1\r\nX-Queue: 1.1\r\n\r\n", i))
			require.NoError(t, err)
			resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
			require.NoError(t, err)
			statuses = append(statuses, resp.Status)
			c.conn.Close()
			synctest.Wait() // its session ends
		}
		assert.Equal(t, []string{"503 Queued", "503 Queued"}, statuses[:2])
		assert.Equal(t, "503 Too many queued from your address", statuses[2])
		assert.Equal(t, 3, l.u.QueueLength())

		resp := l.dial("10.0.4.1:1").poll(t, "")
		assert.Equal(t, "503 Queued", resp.Status, "a newcomer from another address")
		assert.Equal(t, 4, place(t, resp).Position)
	})
}

// A client cannot squat an upload slot: holding it on a keep-alive
// connection and asking for one byte every 50 s (inside IdleTimeout, so
// the connection stays, and never a body the slow-reader check could
// judge) is taking under MinUploadRate over SlowUploadTime; while others
// queue, its next request loses the slot and queues at the end, and the
// client waiting gets the slot at its next poll.
func TestUploadSlotSquatterLosesItsSlot(t *testing.T) {
	cfg := UploaderConfig{MaxUploads: 1} // IdleTimeout 60 s, SlowUploadTime 30 s, MinUploadRate 4 KiB/s
	queueTest(t, cfg, func(l *queueLab) {
		squatter := l.dial("10.0.1.1:1")
		var statuses []string
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 12 {
				resp := squatter.get(t, "/get/1/f.bin", "0-0")
				_, _ = io.Copy(io.Discard, resp.Body)
				statuses = append(statuses, resp.Status)
				time.Sleep(50 * time.Second)
			}
		}()
		time.Sleep(time.Second)
		waiter := l.dial("10.0.2.1:1")
		start := time.Now()
		q := place(t, waiter.poll(t, ""))
		var got bool
		for time.Since(start) < 10*time.Minute {
			time.Sleep(q.PollMin)
			_, err := io.WriteString(waiter.conn, "GET /get/1/f.bin HTTP/1.1\r\nRange: bytes=0-0\r\nX-Queue: 1.1\r\nX-Queued: position=1; ID="+q.ID+"\r\n\r\n")
			require.NoError(t, err)
			resp, err := http.ReadResponse(waiter.br, &http.Request{Method: "GET"})
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode == 206 {
				got = true
				break
			}
			q = place(t, resp)
		}
		require.True(t, got, "the waiter never got the slot")
		assert.Less(t, time.Since(start), 2*time.Minute)
		<-done
		assert.Equal(t, "206 Partial Content", statuses[0])
		assert.Contains(t, statuses, "503 Queued", "the squatter lost the slot")
	})
}
