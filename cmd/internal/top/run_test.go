package top

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/control"
)

// When its context ends (govent top's on SIGINT or SIGTERM) the view is
// left as q leaves it: Run returns nil once it has stopped reading the
// input, so the input may be closed at once. The view used to be killed
// through the program's context, which closed the input under the reader
// still waiting on it: a data race the race detector reports (exit status
// 66 from a -race govent top on SIGTERM), and a terminal torn down while
// it was being read.
func TestRunLeavesWhenContextEnds(t *testing.T) {
	// The race is in a narrow window (the reader waking from the cancel
	// while the input is closed): a round catches a broken Run one time
	// in fifty or so, a hundred nearly always.
	for range 100 {
		runUntilCancelled(t)
	}
}

func runUntilCancelled(t *testing.T) {
	in, keys, err := os.Pipe()
	require.NoError(t, err)
	defer keys.Close()
	view, out, err := os.Pipe()
	require.NoError(t, err)
	defer view.Close()
	go io.Copy(io.Discard, view)
	// A daemon that fails every request: each refresh is one request,
	// the next one asked for an interval after the view took the last.
	asked := make(chan struct{}, 16)
	daemon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case asked <- struct{}{}:
		default:
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer daemon.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, control.NewClient(strings.TrimPrefix(daemon.URL, "http://"), ""), in, out, 5*time.Millisecond)
		out.Close()
	}()

	// Two refreshes: the view is up and running, reading the input.
	<-asked
	<-asked
	cancel()
	assert.NoError(t, <-done, "the context ending is a normal way to leave")
	require.NoError(t, in.Close(), "nothing reads the input once Run has returned")
}

// TestPlainSpacesSamplesEvenly: samples are interval apart (plus the
// fetch's own time), the first too, however long the first fetch takes. The
// wait used to run from before the first fetch: a first fetch of 150 ms
// left 50 ms to the second sample of a 200 ms interval.
func TestPlainSpacesSamplesEvenly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval, fetchTime = 200 * time.Millisecond, time.Millisecond
		calls := 0
		fetch := func(context.Context) (Snapshot, error) {
			calls++
			if calls == 1 {
				time.Sleep(150 * time.Millisecond) // a first connection
			} else {
				time.Sleep(fetchTime)
			}
			return Snapshot{At: time.Now()}, nil
		}
		var out strings.Builder
		require.NoError(t, plain(t.Context(), fetch, &out, interval, 4, true))
		var at []time.Time
		for line := range strings.Lines(out.String()) {
			var s Snapshot
			require.NoError(t, json.Unmarshal([]byte(line), &s))
			at = append(at, s.At)
		}
		require.Len(t, at, 4)
		for i := 1; i < len(at); i++ {
			assert.Equal(t, interval+fetchTime, at[i].Sub(at[i-1]), "gap %d", i)
		}
	})
}
