package router

import (
	"context"
	"sync/atomic"
	"time"
)

// DefaultCoarseTick is how often a CoarseClock reads the time. Routes live
// DefaultRouteTTL (10 minutes), so a table clock up to a tenth of a second
// behind makes a route live at most that much longer or shorter than its
// lifetime: one part in 6,000, invisible to any reply.
const DefaultCoarseTick = 100 * time.Millisecond

// CoarseClock is the time read from memory, as gtk-gnutella's tm_now: Run
// stores the time every tick, and the router reads the last time stored.
// It is for Config.TableClock, read for every descriptor: on some virtual
// machines time.Now costs 60-270 ns, more than the rest of a duplicate's
// drop.
//
// Its time lags by less than one tick while Run gets the CPU when its
// ticker fires; on a machine too loaded for that, by the delay too. Before
// Run starts and after it returns, it stays at the last time stored.
type CoarseClock struct {
	base time.Time // its time counts from here, on the monotonic clock
	tick time.Duration
	ns   atomic.Int64 // the last time stored, in ns since base
}

// NewCoarseClock returns a clock that reads the time every tick (zero:
// DefaultCoarseTick) once Run is started. Its time is now until then.
func NewCoarseClock(tick time.Duration) *CoarseClock {
	if tick <= 0 {
		tick = DefaultCoarseTick
	}
	return &CoarseClock{base: time.Now(), tick: tick}
}

// Run stores the time every tick until ctx is done.
func (c *CoarseClock) Run(ctx context.Context) {
	t := time.NewTicker(c.tick)
	defer t.Stop()
	c.ns.Store(int64(time.Since(c.base)))
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.ns.Store(int64(time.Since(c.base)))
		}
	}
}
