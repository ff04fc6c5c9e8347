//go:build !linux

package thex

import "time"

var start = time.Now()

// threadCPU is wall time where the thread's CPU time is not at hand.
func threadCPU() time.Duration { return time.Since(start) }
