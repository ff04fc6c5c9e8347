package httpxfer

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The upload queue saved at shutdown is there after a restart: those who
// poll with their IDs keep the order they had, a newcomer queues behind
// them although every slot is free, and an entry whose lifetime ended
// while we were down is gone.
func TestPARQQueueSurvivesARestart(t *testing.T) {
	queueTest(t, UploaderConfig{MaxUploads: 1, IdleTimeout: 10 * time.Minute}, func(l *queueLab) {
		l.hold("10.0.1.1:1")
		var qs []QueueStatus
		for _, a := range []string{"10.0.2.1:1", "10.0.2.2:1", "10.0.2.3:1"} {
			qs = append(qs, place(t, l.dial(a).poll(t, "")))
		}
		require.Equal(t, []time.Duration{130 * time.Second, 145 * time.Second, 160 * time.Second},
			[]time.Duration{qs[0].PollMax, qs[1].PollMax, qs[2].PollMax})
		path := filepath.Join(t.TempDir(), "upload-queue.json")
		require.NoError(t, l.u.SaveQueue(path))

		time.Sleep(135 * time.Second) // down: the first one's lifetime ends
		u2 := NewUploader(l.u.cfg)
		require.NoError(t, u2.LoadQueue(path))
		assert.Equal(t, 2, u2.QueueLength())
		dial := func(addr string) *pipeClient {
			c := dialPipe(t, l.ctx, u2, addr)
			l.clients = append(l.clients, c)
			return c
		}
		assert.Equal(t, 3, place(t, dial("10.0.3.1:1").poll(t, "")).Position, "a newcomer does not overtake")
		third := place(t, dial("10.0.2.3:1").poll(t, qs[2].ID))
		assert.Equal(t, QueueStatus{ID: qs[2].ID, Position: 2, Length: 3, PollMin: 45 * time.Second, PollMax: 145 * time.Second}, third)
		resp := dial("10.0.2.2:1").poll(t, qs[1].ID)
		assert.Equal(t, 200, resp.StatusCode, "the head of the queue gets the free slot")
		assert.Equal(t, 2, u2.QueueLength())
	})
}

// LoadQueue takes only what a queue could hold: a bad file loads nothing,
// and entries past their lifetime, dated too far ahead, repeated, or past
// MaxQueue are left out. SaveQueue does not rewrite an unchanged queue.
func TestLoadQueueBounded(t *testing.T) {
	now := time.Now()
	entry := func(id string, expiresIn time.Duration) string {
		return `{"id":"` + id + `","ip":"10.0.0.1","target":"/get/1/f.bin","retry_at":"` +
			now.Add(expiresIn-QueueLifetime).Format(time.RFC3339Nano) + `","expires":"` +
			now.Add(expiresIn).Format(time.RFC3339Nano) + `"}`
	}
	for _, tc := range []struct {
		name string
		file string
		ids  []string // loaded, in order
		bad  bool
	}{
		{"missing", "", nil, false},
		{"not JSON", "{", nil, true},
		{"other format", `{"format":2,"entries":[]}`, nil, true},
		{"bad ID", `{"format":1,"entries":[` + entry("a b", time.Minute) + `]}`, nil, true},
		{"bad address", `{"format":1,"entries":[{"id":"a1","ip":"x","target":"/","retry_at":"2026-01-01T00:00:00Z","expires":"2026-01-01T00:00:00Z"}]}`, nil, true},
		{"expired, far ahead, repeated, too many", `{"format":1,"entries":[` +
			entry("a1", -time.Second) + `,` + entry("a2", time.Minute) + `,` + entry("a3", 24*time.Hour) + `,` +
			entry("a2", 2*time.Minute) + `,` + entry("a4", time.Minute) + `,` + entry("a5", time.Minute) + `]}`,
			[]string{"a2", "a4"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "q.json")
			if tc.file != "" {
				require.NoError(t, os.WriteFile(path, []byte(tc.file), 0o600))
			}
			u := NewUploader(UploaderConfig{MaxQueue: 2})
			err := u.LoadQueue(path)
			if tc.bad {
				require.ErrorIs(t, err, ErrQueueFile)
			} else {
				require.NoError(t, err)
			}
			var ids []string
			for _, e := range u.queue {
				ids = append(ids, e.id)
			}
			assert.Equal(t, tc.ids, ids)
		})
	}
	t.Run("unchanged is not rewritten", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "q.json")
		u := NewUploader(UploaderConfig{})
		require.NoError(t, u.SaveQueue(path))
		require.NoError(t, os.Remove(path))
		require.NoError(t, u.SaveQueue(path))
		_, err := os.Stat(path)
		assert.ErrorIs(t, err, os.ErrNotExist, "the same bytes to the same file: skipped")
	})
}
