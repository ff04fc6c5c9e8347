package httpxfer

import (
	"context"
	"time"
)

// reporter calls Request.Progress as bytes arrive, at most every
// ProgressInterval.
func (j *job) reporter(ctx context.Context) {
	for {
		select {
		case <-j.moved:
		case <-ctx.Done():
			return
		}
		j.report(false)
		t := time.NewTimer(ProgressInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// report calls Request.Progress with the bytes in the .part; unless
// always, only when they changed since the last call. Never called
// concurrently: by run outside rounds and by the reporter within one.
func (j *job) report(always bool) {
	if j.req.Progress == nil {
		return
	}
	j.mu.Lock()
	done := j.have
	changed := done != j.reported
	j.reported = done
	j.mu.Unlock()
	if always || changed {
		j.req.Progress(done, j.size)
	}
}
