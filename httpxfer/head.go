package httpxfer

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// probeSize asks the sources for the size with HEAD; the first answer
// wins. A 503 is waited out as on the GET path, after Retry-After or
// DefaultRetryAfter (gtk-gnutella answers "503 Library being rebuilt",
// without Retry-After, for a second or two after it starts), and a failed
// connection is tried again, until MaxFailures in a row; any other answer
// drops the source. Meanwhile the other sources are asked.
func (j *job) probeSize(ctx context.Context) error {
	wait := make(map[*srcState]time.Duration) // before the source's next HEAD
	for {
		next := time.Duration(-1) // the shortest wait; -1: no source left
		for _, s := range j.srcs {
			if s.dropped {
				continue
			}
			if d := wait[s]; d > 0 {
				next = minWait(next, d)
				continue
			}
			size, err := j.head(ctx, s)
			if err == nil {
				j.mu.Lock()
				s.failures = 0
				j.mu.Unlock()
				j.size = size
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			err = fmt.Errorf("HEAD: %w", err)
			var se *sourceError
			j.mu.Lock()
			dropped := false
			if errors.As(err, &se) && se.action == actDrop {
				j.dropLocked(s, err)
				dropped = true
			} else {
				dropped = j.countFailureLocked(s, err, false)
			}
			j.mu.Unlock()
			if !dropped {
				wait[s] = 0
				if se != nil {
					j.mu.Lock()
					wait[s] = max(se.delay, j.backoffLocked(s, se))
					j.mu.Unlock()
					j.busy(s, se, wait[s])
				}
				next = minWait(next, wait[s])
			}
		}
		if next < 0 {
			return j.noSources()
		}
		if next > 0 {
			if err := j.cfg.Wait(ctx, next); err != nil {
				return err
			}
			for s := range wait {
				wait[s] = max(wait[s]-next, 0)
			}
		}
	}
}

func minWait(a, b time.Duration) time.Duration {
	if a < 0 {
		return b
	}
	return min(a, b)
}

// head asks s for the file's size.
func (j *job) head(ctx context.Context, s *srcState) (int64, error) {
	c, err := j.dial(ctx, s)
	if err != nil {
		return 0, err
	}
	defer c.close()
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Now()) })
	defer stop()
	resp, err := j.awaitAnswer(ctx, s, func() (*response, error) {
		return c.roundTrip("HEAD", j.target(s.src), hostOf(s.src), j.cfg.UserAgent, nil, j.cfg.AnswerTimeout)
	})
	if err != nil {
		return 0, err
	}
	if resp.status != 200 {
		_, err := j.checkReply(resp, 0, 0)
		return 0, err
	}
	if resp.length < 0 {
		return 0, dropErr("200 without Content-Length")
	}
	return resp.length, nil
}
