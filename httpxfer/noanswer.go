package httpxfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// A try that got no answer at all (the connection was refused, or no
// response head came within AnswerTimeout: a paused or overloaded
// servent that still accepts) is counted as a failure like any other, but
// the next try waits a backoff: 2 s, doubling with each such failure in a
// row, at most MaxRetryAfter. With the defaults (5 failures, 30 s) a
// source that never answers is dropped after 5 × 30 s + 2+4+8+16 s =
// 3 min, one that refuses after 30 s. Meanwhile Request.Busy says so, and
// Request.Waiting says it after StallTimeout of each silent try.
const noAnswerBackoff = 2 * time.Second

// noAnswerErr is the error of a try that got no answer.
func noAnswerErr(format string, a ...any) error {
	return &sourceError{action: actRetry, noAnswer: true, err: fmt.Errorf(format, a...)}
}

// backoffLocked is the wait before the next try of s after a failure
// that got no answer (se.noAnswer), counted in s.failures; 0 for any
// other. j.mu is held.
func (j *job) backoffLocked(s *srcState, se *sourceError) time.Duration {
	if se == nil || !se.noAnswer || s.failures < 1 {
		return 0
	}
	return min(noAnswerBackoff<<min(s.failures-1, 16), j.cfg.MaxRetryAfter)
}

// dial connects to s. A refusal is a try without answer; other failures
// (a firewalled source the Dialer finds no way to push to, say) are
// retried at once as before, and soon drop the source. Hearsay (an
// X-Alt, the mesh) that we never reached is dropped on its first failed
// connection, giving its place in the download (add) to the next source
// heard of, instead of holding it through the backoff.
func (j *job) dial(ctx context.Context, s *srcState) (*clientConn, error) {
	conn, err := j.cfg.Dialer.DialSource(ctx, s.src)
	j.mu.Lock()
	unreached := s.heard && !s.reached
	s.reached = s.reached || err == nil
	j.mu.Unlock()
	if err != nil && unreached && ctx.Err() == nil {
		return nil, dropErr("connecting: %w", err)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil, noAnswerErr("connecting: %w", err)
	}
	if errors.Is(err, ErrUnreachable) {
		return nil, dropErr("connecting: %w", err)
	}
	if err != nil {
		return nil, retryErr("connecting: %w", err)
	}
	return newClientConn(conn), nil
}

// awaitAnswer runs read, which waits for a response head from s with
// a deadline of AnswerTimeout. After StallTimeout without one it tells
// Request.Waiting (never after awaitAnswer returned); a head that does not
// come in time is a try without answer, any other error a retry.
func (j *job) awaitAnswer(ctx context.Context, s *srcState, read func() (*response, error)) (*response, error) {
	var mu sync.Mutex
	done := false
	t := time.AfterFunc(j.cfg.StallTimeout, func() {
		mu.Lock()
		defer mu.Unlock()
		if !done && j.req.Waiting != nil {
			j.queueMu.Lock()
			defer j.queueMu.Unlock()
			j.req.Waiting(s.src, j.cfg.StallTimeout)
		}
	})
	resp, err := read()
	mu.Lock()
	done = true
	mu.Unlock()
	t.Stop()
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
		return nil, noAnswerErr("no answer in %v", j.cfg.AnswerTimeout)
	}
	if err != nil {
		return nil, retryErr("%w", err)
	}
	return resp, nil
}
