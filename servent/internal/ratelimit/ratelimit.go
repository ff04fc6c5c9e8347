// Package ratelimit is the one rate-limited logging path: one log line per
// key through per interval and the rest counted, so hostile input is
// logged once, not once per packet. The servent and its control API log
// through it.
package ratelimit

import (
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Logger logs through a limiter. Safe for concurrent use.
type Logger struct {
	log *zap.Logger
	lim *limiter
}

// NewLogger returns a Logger writing to log at most one line per key an
// interval.
func NewLogger(log *zap.Logger, interval time.Duration) *Logger {
	return &Logger{log: log, lim: newLimiter(interval)}
}

// Log logs msg at level unless a line of key went out less than an
// interval ago; a line that follows suppressed ones says how many
// ("suppressed"). A level the logger does not write costs no key.
func (l *Logger) Log(level zapcore.Level, key, msg string, fields ...zap.Field) {
	if !l.log.Core().Enabled(level) {
		return
	}
	ok, suppressed := l.lim.allow(key, time.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		fields = append(fields, zap.Int("suppressed", suppressed))
	}
	if ce := l.log.Check(level, msg); ce != nil {
		ce.Write(fields...)
	}
}

// limiter counts, per key, the lines let through and suppressed. Safe for
// concurrent use.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	last     map[string]time.Time
	dropped  map[string]int
}

// newLimiter returns a limiter that lets one line per key through per
// interval.
func newLimiter(interval time.Duration) *limiter {
	return &limiter{interval: interval, last: map[string]time.Time{}, dropped: map[string]int{}}
}

// allow reports whether a line for key may be logged now, and how many were
// suppressed since the last one.
func (r *limiter) allow(key string, now time.Time) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.last[key]; ok && now.Sub(t) < r.interval {
		r.dropped[key]++
		return false, 0
	}
	if len(r.last) > 1024 {
		// Keys are reasons, some joined with one peer's address
		// (the servent's), so a flood from many addresses
		// would grow the maps without bound: past 1024 keys they
		// start afresh, and a line or two more gets through.
		clear(r.last)
		clear(r.dropped)
	}
	n := r.dropped[key]
	r.last[key] = now
	r.dropped[key] = 0
	return true, n
}
