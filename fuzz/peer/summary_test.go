package peer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSummaryWarnsOfFullTarget: a run whose cases the target mostly
// refused with 503 (its slots full) says they were wasted and how to
// avoid it; a few such refusals do not.
func TestSummaryWarnsOfFullTarget(t *testing.T) {
	run := func(full, other int) *Summary {
		s := newSummary(Config{Parallel: 16})
		c := &Case{Area: AreaHandshake}
		for range full {
			s.count(c, Answer{Kind: AnswerHandshake, Code: 503, Reason: "Full"})
		}
		for range other {
			s.count(c, Answer{Kind: AnswerHandshake, Code: 200})
		}
		s.finish(time.Second, StopMaxCases)
		return s
	}
	s := run(40, 60)
	require.Len(t, s.Warnings, 1)
	assert.Contains(t, s.Warnings[0], "40 of 100 cases (40%) were refused with a handshake 503")
	assert.Contains(t, s.Warnings[0], "--parallel below the target's free slots (now 16)")
	assert.Empty(t, run(5, 95).Warnings, "5% refused: no warning")
	assert.Empty(t, run(0, 0).Warnings)
}
