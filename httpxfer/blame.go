package httpxfer

import (
	"errors"
	"fmt"
	"slices"
)

// nextSuspect returns the untried writer of the fewest chunks (ties: by
// key, for a stable order), and whether it wrote every chunk alone.
func (j *job) nextSuspect(tried map[string]bool) (string, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	count := make(map[string]int)
	for _, c := range j.chunks {
		for _, k := range c.by {
			count[k]++
		}
	}
	best := ""
	for k, n := range count {
		if !tried[k] && (best == "" || n < count[best] || n == count[best] && k < best) {
			best = k
		}
	}
	return best, best != "" && len(count) == 1
}

// forget throws away every chunk that key wrote any byte of.
func (j *job) forget(key string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i := range j.chunks {
		if slices.Contains(j.chunks[i].by, key) {
			j.resetChunkLocked(i)
		}
	}
}

// blame drops the source key as the cause of a SHA-1 mismatch; why is
// how we know ("it wrote every chunk, ...").
func (j *job) blame(key, why string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, s := range j.srcs {
		if s.key == key {
			if s.dropped { // dropped for another reason first: say both
				for i := range j.dropped {
					if j.dropped[i].Source.String() == key {
						j.dropped[i].Err = errors.Join(ErrHashMismatch, j.dropped[i].Err)
					}
				}
				continue
			}
			j.blameLocked(s, fmt.Errorf("%w: %s", ErrHashMismatch, why))
		}
	}
}
