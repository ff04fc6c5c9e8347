// Package ratelimit lets one log line per key through per interval and
// counts the rest, so hostile input is logged once, not once per packet.
// The servent and its control API share it.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter is safe for concurrent use.
type Limiter struct {
	mu       sync.Mutex
	interval time.Duration
	last     map[string]time.Time
	dropped  map[string]int
}

// New returns a Limiter that lets one line per key through per interval.
func New(interval time.Duration) *Limiter {
	return &Limiter{interval: interval, last: map[string]time.Time{}, dropped: map[string]int{}}
}

// Allow reports whether a line for key may be logged now, and how many were
// suppressed since the last one.
func (r *Limiter) Allow(key string, now time.Time) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.last[key]; ok && now.Sub(t) < r.interval {
		r.dropped[key]++
		return false, 0
	}
	if len(r.last) > 1024 {
		// Keys are reasons, some joined with one peer's address
		// (servent's logLimited), so a flood from many addresses
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
