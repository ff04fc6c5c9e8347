package httpxfer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSessionLimits(t *testing.T) {
	t.Run("a newcomer closes the idlest keep-alive without a slot", func(t *testing.T) {
		srv, _, _ := newTestUploader(t, UploaderConfig{MaxSessions: 2, MaxSessionsPerIP: 5})
		a := dialRaw(t, srv.addr)
		a.assertOpen(t)
		waitIdle(t, srv.u, 1)
		b := dialRaw(t, srv.addr)
		b.assertOpen(t)
		waitIdle(t, srv.u, 2)
		c := dialRaw(t, srv.addr)
		c.assertOpen(t) // a, idle longest, made room
		assert.True(t, a.closed(t), "the idlest session was closed")
		b.assertOpen(t)
		st := srv.u.SessionStats()
		assert.Equal(t, 2, st.Open)
		assert.EqualValues(t, 1, st.Evicted)
		assert.Zero(t, st.Refused)
	})
	t.Run("sessions holding an upload slot stay; the newcomer gets 503", func(t *testing.T) {
		srv, _, _ := newTestUploader(t, UploaderConfig{MaxSessions: 1, MaxSessionsPerIP: 5, RetryAfter: 7 * time.Second})
		a := dialRaw(t, srv.addr)
		resp, _ := a.do(t, "GET", "/get/2/penny%20lane.mp3", "Range: bytes=0-0")
		require.Equal(t, 206, resp.StatusCode)
		b := dialRaw(t, srv.addr)
		resp, _ = b.do(t, "HEAD", "/get/2/penny%20lane.mp3")
		assert.Equal(t, 503, resp.StatusCode)
		assert.Equal(t, "7", resp.Header.Get("Retry-After"))
		assert.True(t, b.closed(t))
		assert.ErrorIs(t, <-srv.done, ErrTooManySessions)
		a.assertOpen(t)
		assert.EqualValues(t, 1, srv.u.SessionStats().Refused)
	})
	t.Run("per-address limit", func(t *testing.T) {
		srv, _, _ := newTestUploader(t, UploaderConfig{MaxSessionsPerIP: 1})
		a := dialRaw(t, srv.addr)
		a.assertOpen(t)
		resp, _ := dialRaw(t, srv.addr).do(t, "HEAD", "/get/2/penny%20lane.mp3")
		assert.Equal(t, 503, resp.StatusCode)
		a.assertOpen(t)
	})
}

// waitIdle waits until n sessions wait for their next request. The
// uploader marks a session idle after it has sent its reply, so a client
// that has read the reply may be ahead of that mark: a newcomer dialled
// then would find no idle session to close, or not the one the test means.
func waitIdle(t *testing.T, u *Uploader, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return u.SessionStats().Idle == n }, 10*time.Second, time.Millisecond,
		"waiting for %d idle sessions", n)
}
