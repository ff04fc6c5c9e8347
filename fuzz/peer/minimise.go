package peer

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"time"

	"github.com/govent/govent/wire"
)

// minimiser replays findings against the target: to tell a finding from a
// passing slowness, to isolate the case that causes it, and to shrink it
// by removing parts (cases, steps, header lines, descriptors, bytes) while
// the effect still comes back. Every replay starts from a live target:
// restarted by the Restart hook, or waited for.
type minimiser struct {
	exec        *executor
	orc         *oracle
	restart     func(context.Context) error
	recoverWait time.Duration
	// end, when set, is the run's end (--duration): no wait for the
	// target goes past it, whatever recoverWait says.
	end         time.Time
	maxTime     time.Duration
	maxAttempts int
	logf        func(string, ...any)
}

// minimiseBudget bounds one minimisation and remembers its last success.
type minimiseBudget struct {
	deadline   time.Time
	attempts   int
	max        int
	reproduced bool
	answers    []Answer
	// down: the target did not come back for an attempt; no other will
	// fare better, so minimisation stops.
	down bool
}

func (m *minimiser) budget() *minimiseBudget {
	return &minimiseBudget{deadline: time.Now().Add(m.maxTime), max: m.maxAttempts}
}

func (b *minimiseBudget) left() bool {
	return !b.down && b.attempts < b.max && time.Now().Before(b.deadline)
}

// ensureLive returns once the target passes a check (slowness counts as
// live: it answers), restarting it or waiting up to recoverWait.
func (m *minimiser) ensureLive(ctx context.Context) (Health, bool) {
	h := m.orc.check(ctx)
	if h.OK || h.Effect == EffectSlow {
		return h, true
	}
	deadline := time.Now().Add(m.recoverWait)
	if !m.end.IsZero() && m.end.Before(deadline) {
		deadline = m.end
	}
	if m.restart != nil {
		if err := m.restart(ctx); err != nil {
			m.logf("restarting the target: %v", err)
		}
	}
	for ctx.Err() == nil {
		h = m.orc.check(ctx)
		if h.OK || h.Effect == EffectSlow {
			return h, true
		}
		wait := min(250*time.Millisecond, time.Until(deadline))
		if wait <= 0 {
			break
		}
		sleep(ctx, wait)
	}
	return h, false
}

// sameEffect: slowness and unresponsiveness are degrees of one effect.
func sameEffect(got, want Effect) bool {
	if want == "" {
		return got != ""
	}
	timing := func(e Effect) bool { return e == EffectSlow || e == EffectUnresponsive }
	return got == want || timing(got) && timing(want)
}

// replay sends cases in order on fresh connections from a live target and
// runs the control check.
func (m *minimiser) replay(ctx context.Context, cases []Case) (Health, []Answer, bool) {
	if h, ok := m.ensureLive(ctx); !ok {
		return h, nil, false
	}
	answers := make([]Answer, len(cases))
	for i := range cases {
		answers[i] = m.exec.run(ctx, &cases[i])
	}
	return m.orc.settled(ctx), answers, true
}

// reproduces replays cases once and says whether the effect came back.
func (m *minimiser) reproduces(ctx context.Context, cases []Case, effect Effect) (bool, Health) {
	h, _, ran := m.replay(ctx, cases)
	return ran && !h.OK && sameEffect(h.Effect, effect), h
}

// attempt is reproduces within a budget.
func (m *minimiser) attempt(ctx context.Context, b *minimiseBudget, cases []Case, effect Effect) bool {
	if !b.left() || ctx.Err() != nil {
		return false
	}
	b.attempts++
	h, answers, ran := m.replay(ctx, cases)
	b.down = !ran
	ok := ran && !h.OK && sameEffect(h.Effect, effect)
	if ok {
		b.reproduced, b.answers = true, answers
	}
	return ok
}

// isolate finds the cases that cause the effect: most often one alone
// (tried from the last, the closest to the failure), else a subset.
func (m *minimiser) isolate(ctx context.Context, b *minimiseBudget, cases []Case, effect Effect) []Case {
	if len(cases) <= 1 {
		return cases
	}
	for i := len(cases) - 1; i >= 0 && b.left(); i-- {
		one := []Case{cases[i]}
		if m.attempt(ctx, b, one, effect) {
			return one
		}
	}
	return reduce(cases, func(c []Case) bool { return m.attempt(ctx, b, c, effect) })
}

// shrink removes what the effect does not need: cases, then in each case
// whole steps, then header lines and descriptors, then runs of bytes.
func (m *minimiser) shrink(ctx context.Context, b *minimiseBudget, cases []Case, effect Effect) []Case {
	cur := make([]Case, len(cases))
	for i := range cases {
		cur[i] = cases[i].clone()
	}
	if !m.attempt(ctx, b, cur, effect) {
		return cur // it does not come back: keep it whole
	}
	cur = reduce(cur, func(c []Case) bool { return m.attempt(ctx, b, c, effect) })
	try := func() bool { return m.attempt(ctx, b, cur, effect) }
	for ci := range cur {
		c := &cur[ci]
		// Sends go, waits stay: without its wait a case sends its bytes
		// before the target answered the handshake, and whether it still
		// reproduces then depends on who is scheduled first.
		orig := c.Steps
		kept := reduce(sendIndexes(orig), func(idx []int) bool {
			c.Steps = withSends(orig, idx)
			return try()
		})
		c.Steps = withSends(orig, kept)
		for si := range c.Steps {
			if c.Steps[si].Send == nil {
				continue
			}
			shrinkSend(&c.Steps[si], try, splitUnits)
			shrinkSend(&c.Steps[si], try, splitBytes)
		}
	}
	// A shrunk form that held once by luck of scheduling is no reproducer.
	if b.down {
		return cur
	}
	if ok, _ := m.reproduces(ctx, cur, effect); !ok {
		m.logf("the minimised form did not reproduce again: keeping the whole one")
		b.reproduced, _ = m.reproduces(ctx, cases, effect)
		return cases
	}
	return cur
}

// sendIndexes lists the steps that send.
func sendIndexes(steps []Step) []int {
	var idx []int
	for i, s := range steps {
		if s.Send != nil {
			idx = append(idx, i)
		}
	}
	return idx
}

// withSends keeps every wait and the sends listed in keep.
func withSends(steps []Step, keep []int) []Step {
	out := make([]Step, 0, len(steps))
	for i, s := range steps {
		if s.Send == nil || slices.Contains(keep, i) {
			out = append(out, s)
		}
	}
	return out
}

// shrinkSend reduces one send step over the units split gives.
func shrinkSend(s *Step, try func() bool, split func([]byte) [][]byte) {
	orig := s.Send
	units := split(orig)
	if len(units) < 2 {
		return
	}
	kept := reduce(units, func(u [][]byte) bool {
		s.Send = bytes.Join(u, nil)
		return try()
	})
	s.Send = bytes.Join(kept, nil)
	if len(s.Send) == 0 {
		s.Send = orig
	}
}

// reduce removes chunks of units, halving the chunk size down to one unit,
// keeping each removal after which test still holds. Bounded: at most
// about 2·len(units) tests, fewer when test stops saying yes (a spent
// budget).
func reduce[T any](units []T, test func([]T) bool) []T {
	for chunk := len(units) / 2; chunk >= 1; chunk /= 2 {
		for start := 0; start < len(units); {
			end := min(start+chunk, len(units))
			cand := make([]T, 0, len(units)-(end-start))
			cand = append(append(cand, units[:start]...), units[end:]...)
			if len(cand) > 0 && test(cand) {
				units = cand
				continue
			}
			start = end
		}
	}
	return units
}

// splitUnits cuts a send into the parts a protocol reader sees: the lines
// of a leading handshake block or HTTP head, then whole descriptors framed
// by their header lengths; what does not frame stays one unit.
func splitUnits(b []byte) [][]byte {
	var units [][]byte
	if end := headEnd(b); end > 0 {
		for len(b) > 0 && end > 0 {
			i := bytes.IndexByte(b[:end], '\n')
			if i < 0 {
				i = end - 1
			}
			units = append(units, b[:i+1])
			b, end = b[i+1:], end-(i+1)
		}
	}
	for len(b) >= wire.HeaderLen {
		n := wire.HeaderLen + int(binary.LittleEndian.Uint32(b[19:23]))
		if n > len(b) || n < wire.HeaderLen {
			break
		}
		units = append(units, b[:n])
		b = b[n:]
	}
	if len(b) > 0 {
		units = append(units, b)
	}
	return units
}

// headEnd returns the length of a leading text block ending in an empty
// line (CRLF CRLF or LF LF), or 0.
func headEnd(b []byte) int {
	if len(b) == 0 || b[0] < 0x20 || b[0] > 0x7E {
		return 0
	}
	crlf := bytes.Index(b, []byte("\r\n\r\n"))
	lf := bytes.Index(b, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf+2 <= lf):
		return crlf + 4
	case lf >= 0:
		return lf + 2
	}
	return 0
}

// splitBytes cuts a send into 64 runs of bytes (or single bytes when it is
// shorter), for the last, blind pass.
func splitBytes(b []byte) [][]byte {
	size := max(1, (len(b)+63)/64)
	var units [][]byte
	for len(b) > 0 {
		n := min(size, len(b))
		units = append(units, b[:n])
		b = b[n:]
	}
	return units
}
