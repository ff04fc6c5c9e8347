package peer

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ReplayConfig is one replay of a reproducer. Zero durations take the Run
// defaults.
type ReplayConfig struct {
	Target                                string
	AnswerTimeout, LiveTimeout, SlowAfter time.Duration
	// RecoverWait is how long to wait for the target to be live before
	// the replay starts (0: it must be live at once).
	RecoverWait time.Duration
	Dial        DialFunc
}

// ReplayResult says what a replay saw.
type ReplayResult struct {
	// Reproduced: after the cases, the control check failed with the
	// recorded effect (any failure, for a journal without one).
	Reproduced bool     `json:"reproduced"`
	Health     Health   `json:"health"`
	Answers    []Answer `json:"answers"`
}

// ErrNotLive is returned when the target fails the control check before
// anything is replayed: the replay would prove nothing.
var ErrNotLive = errors.New("fuzz-peer: target is not live before the replay")

// Replay sends the reproducer's cases to the target in order, each on a
// fresh connection, then runs the control check.
func Replay(ctx context.Context, rep *Reproducer, cfg ReplayConfig) (*ReplayResult, error) {
	if cfg.Target == "" {
		return nil, errors.New("fuzz-peer: no target")
	}
	if cfg.Dial == nil {
		cfg.Dial = TCPDial
	}
	defaultTimeouts(&cfg.AnswerTimeout, &cfg.LiveTimeout, &cfg.SlowAfter)
	httpToo := false
	for i := range rep.Cases {
		httpToo = httpToo || rep.Cases[i].Area == AreaHTTP
	}
	exec := &executor{dial: cfg.Dial, target: cfg.Target, src: newSources(cfg.Target), timeout: cfg.AnswerTimeout}
	m := &minimiser{
		exec:        exec,
		orc:         &oracle{dial: cfg.Dial, target: cfg.Target, live: cfg.LiveTimeout, slow: cfg.SlowAfter, http: httpToo},
		recoverWait: cfg.RecoverWait,
		logf:        func(string, ...any) {},
	}
	if h, ok := m.ensureLive(ctx); !ok {
		return nil, fmt.Errorf("%w: %s %s", ErrNotLive, h.Effect, h.Detail)
	}
	answers := make([]Answer, len(rep.Cases))
	for i := range rep.Cases {
		answers[i] = exec.run(ctx, &rep.Cases[i])
	}
	h := m.orc.settled(ctx)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fuzz-peer: replay: %w", err)
	}
	return &ReplayResult{Reproduced: !h.OK && sameEffect(h.Effect, rep.Effect), Health: h, Answers: answers}, nil
}
