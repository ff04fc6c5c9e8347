package servent

import (
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
)

// rateLimiter lets one log line per key through per interval and counts the
// rest, so hostile input is logged once, not once per packet.
type rateLimiter struct {
	mu       sync.Mutex
	interval time.Duration
	last     map[string]time.Time
	dropped  map[string]int
}

func newRateLimiter(interval time.Duration) *rateLimiter {
	return &rateLimiter{interval: interval, last: map[string]time.Time{}, dropped: map[string]int{}}
}

// allow reports whether a line for key may be logged now, and how many were
// suppressed since the last one.
func (r *rateLimiter) allow(key string, now time.Time) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.last[key]; ok && now.Sub(t) < r.interval {
		r.dropped[key]++
		return false, 0
	}
	if len(r.last) > 1024 {
		// Keys come from a fixed set of reasons; this only guards
		// against a bug turning them into per-peer strings.
		clear(r.last)
		clear(r.dropped)
	}
	n := r.dropped[key]
	r.last[key] = now
	r.dropped[key] = 0
	return true, n
}

// rateLog logs bad input from a peer at most once a second per reason.
func (s *Servent) rateLog(reason string, nc net.Conn, err error) {
	ok, suppressed := s.limiter.allow(reason, time.Now())
	if !ok {
		return
	}
	fields := []zap.Field{zap.String("remote", nc.RemoteAddr().String()), zap.Error(err)}
	if suppressed > 0 {
		fields = append(fields, zap.Int("suppressed", suppressed))
	}
	s.log.Info(reason, fields...)
}
