package httpxfer

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"testing/synctest"

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
