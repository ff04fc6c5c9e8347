package router

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// runCoarse starts a CoarseClock of tick in the bubble; it stops when the
// test ends.
func runCoarse(t *testing.T, tick time.Duration) *CoarseClock {
	c := NewCoarseClock(tick)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	synctest.Wait()
	return c
}

// TestCoarseClockLag: the coarse time is never ahead of the time and never
// a whole tick behind it, at any moment within a tick.
func TestCoarseClockLag(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const tick = 100 * time.Millisecond
		c := runCoarse(t, tick)
		for _, step := range []time.Duration{0, time.Nanosecond, 37 * time.Millisecond, tick - time.Nanosecond, 1, tick, 3*tick + 1} {
			time.Sleep(step)
			synctest.Wait()
			now, coarse := time.Now(), c.base.Add(time.Duration(c.ns.Load()))
			lag := now.Sub(coarse)
			assert.GreaterOrEqual(t, lag, time.Duration(0), "ahead of the time after %v", step)
			assert.Less(t, lag, tick, "a whole tick behind after %v", step)
		}
	})
}

// TestCoarseClockRouteLifetime: with a CoarseClock as the table clock and
// RouteTTL unset, a route made at any moment within a tick still routes a
// tick before its 10 minutes are up, and never routes a tick after: the
// coarse clock moves a route's end by less than one tick either way.
func TestCoarseClockRouteLifetime(t *testing.T) {
	const tick = DefaultCoarseTick
	for _, offset := range []time.Duration{0, time.Nanosecond, tick / 2, tick - time.Nanosecond} {
		t.Run(offset.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := runCoarse(t, 0)
				r := New(Config{TableClock: c})
				a, b := r.AddPeer(Neighbour), r.AddPeer(Neighbour)
				time.Sleep(offset)
				synctest.Wait()
				query := &wire.Header{GUID: guidN(1), Type: wire.TypeQuery, TTL: 3}
				d, _ := r.Route(a, query, nil, nil, nil)
				require.Equal(t, NotDropped, d.Reason)
				hit := func() DropReason {
					h := &wire.Header{GUID: guidN(1), Type: wire.TypeQueryHit, TTL: 3}
					d, _ := r.Route(b, h, hitPayload(otherServent), nil, nil)
					return d.Reason
				}

				time.Sleep(DefaultRouteTTL - tick)
				synctest.Wait()
				assert.Equal(t, NotDropped, hit(), "a tick before its lifetime is up")
				assert.Equal(t, DropDuplicate, r.Screen(b, query, false), "still a duplicate a tick before")

				time.Sleep(2 * tick)
				synctest.Wait()
				assert.Equal(t, DropNoRoute, hit(), "a tick past its lifetime")
				assert.Equal(t, NotDropped, r.Screen(b, query, false), "no duplicate a tick past")
			})
		})
	}
}
