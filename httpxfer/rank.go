package httpxfer

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// Ranking a download's sources by what they do. A source's throughput is
// measured over the bodies it sent us (bytes written / time spent reading
// its bodies); until it sent one, its advertised speed stands in. The
// ranking is, best first: a free upload slot before a place in a queue
// (and a nearer place before a farther one), then the higher throughput
// (measured, else advertised), then a source we dial before one that needs
// a Push, then the order the sources came in. It is taken afresh each time
// a worker asks for a connection slot, so it follows the measurements: the
// best sources waiting get the MaxConns slots, and the endgame (endgame.go)
// moves the last bytes from the slowest to the fastest.

// SourceStats is what a download measured of one of its sources.
type SourceStats struct {
	Source Source
	Bytes  int64   // bytes it wrote into the file
	Rate   float64 // measured throughput in bytes/s; 0 before a body
	// Queue is its last place in the source's upload queue (PARQ);
	// Position 0 when it gave us a slot since.
	Queue   QueueStatus
	Dropped bool
}

// rateLocked is s's throughput in bytes/s: measured over its bodies, else
// advertised (Source.Speed is in kbit/s), else 0.
func (s *srcState) rateLocked(now time.Time) float64 {
	t := s.bodyTime
	if !s.bodyStart.IsZero() {
		t += now.Sub(s.bodyStart)
	}
	if t > 0 && (s.got > 0 || t >= time.Second) {
		return float64(s.got) / t.Seconds()
	}
	return float64(s.src.Speed) * 1000 / 8
}

// measuredLocked reports whether s's rate is measured, not advertised.
func (s *srcState) measuredLocked() bool {
	return s.bodyTime > 0 || !s.bodyStart.IsZero()
}

// compareSources orders two sources best first (see above); order breaks
// ties.
func compareSources(a, b *srcState, now time.Time) int {
	b2i := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	return cmp.Or(
		cmp.Compare(b2i(a.dropped), b2i(b.dropped)),
		cmp.Compare(a.queuePos, b.queuePos),
		cmp.Compare(b.rateLocked(now), a.rateLocked(now)),
		cmp.Compare(b2i(a.src.Push), b2i(b.src.Push)),
		cmp.Compare(a.order, b.order),
	)
}

// rankedLocked returns the download's sources best first.
func (j *job) rankedLocked() []*srcState {
	now := time.Now()
	out := slices.Clone(j.srcs)
	slices.SortStableFunc(out, func(a, b *srcState) int { return compareSources(a, b, now) })
	return out
}

// Stats returns what the download measured of each source, best first.
func (j *job) stats() []SourceStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now()
	var out []SourceStats
	for _, s := range j.rankedLocked() {
		st := SourceStats{Source: s.src, Bytes: s.got, Queue: s.lastQueue, Dropped: s.dropped}
		if s.measuredLocked() {
			st.Rate = s.rateLocked(now)
		}
		out = append(out, st)
	}
	return out
}

// bodyBegins and bodyEnds bracket the time s spends sending a body, over
// which its throughput is measured.
func (j *job) bodyBegins(s *srcState) {
	j.mu.Lock()
	s.bodyStart = time.Now()
	j.mu.Unlock()
}

func (j *job) bodyEnds(s *srcState) {
	j.mu.Lock()
	if !s.bodyStart.IsZero() {
		s.bodyTime += time.Since(s.bodyStart)
		s.bodyStart = time.Time{}
	}
	j.mu.Unlock()
}

// setQueued records s's place in its queue (0: it gave us a slot) for the
// ranking.
func (j *job) setQueued(s *srcState, q QueueStatus) {
	j.mu.Lock()
	s.queuePos = q.Position
	if q.Position > 0 {
		s.lastQueue = q
	} else {
		s.lastQueue.Position = 0
	}
	j.mu.Unlock()
}

// admit waits for one of the round's MaxConns connection slots for s:
// the free slots go to the best-ranked sources asking. It reports false
// when ctx ended first.
func (j *job) admit(ctx context.Context, r *round, s *srcState) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	r.asking[s] = true // already, for a worker that just started
	defer delete(r.asking, s)
	for {
		if free := j.cfg.MaxConns - r.used; free > 0 {
			now := time.Now()
			better := 0
			for o := range r.asking {
				if o != s && compareSources(o, s, now) < 0 {
					better++
				}
			}
			if better < free {
				r.used++
				return true
			}
		}
		freed := r.freed
		j.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
		}
		j.mu.Lock()
		if ctx.Err() != nil {
			return false
		}
	}
}

// leave gives s's slot back. With again, s goes on asking for one (it
// is about to ask, after its exchange is settled): the slot it freed must
// not go to a worse source that happens to ask first.
func (j *job) leave(r *round, s *srcState, again bool) {
	j.mu.Lock()
	r.used--
	if again {
		r.asking[s] = true
	}
	r.freedLocked()
	j.mu.Unlock()
}

// unask takes s out of the workers asking for a slot while it waits for
// something else.
func (j *job) unask(r *round, s *srcState) {
	j.mu.Lock()
	delete(r.asking, s)
	r.freedLocked()
	j.mu.Unlock()
}

// freedLocked wakes the workers waiting for a slot. (Not j.wake: a worker
// that gives its slot back to wait for work must not wake itself.)
func (r *round) freedLocked() {
	close(r.freed)
	r.freed = make(chan struct{})
}
