package main

import (
	"bytes"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

// A relay's event can reach the demo after the hit itself reached n00 (each
// servent reports on its own goroutine): the route waits for every relay
// the hit's hop count says there was, rather than print a path with one
// link missing.
func TestDemoRouteWaitsForALateRelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		d := &demo{w: &out, start: time.Now(), hitc: make(chan struct{}, 1)}
		guid := wire.GUID{1}
		peer := netip.MustParseAddrPort("127.0.0.1:1")
		next := netip.MustParseAddrPort("127.0.0.1:2")
		hit := func(node int, hops uint8, to netip.AddrPort) {
			d.event(node, servent.Event{Kind: servent.EventQueryHit, Peer: peer, To: to, Hops: hops, GUID: guid})
		}
		// n03 answered; n02 and n01 relayed; n00 got it with 3 hops.
		hit(2, 1, next)
		hit(0, 3, netip.AddrPort{})
		go func() {
			time.Sleep(50 * time.Millisecond)
			hit(1, 2, next)
		}()
		d.printRoute(guid, 3, 3)
		assert.Contains(t, out.String(), "reverse path: n03 -> n02 -> n01 -> n00\n")
	})
}

// A relay that never reports does not hold the demo up for long.
func TestDemoRouteGivesUpOnAMissingRelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		d := &demo{w: &out, start: time.Now(), hitc: make(chan struct{}, 1)}
		guid := wire.GUID{1}
		d.event(0, servent.Event{Kind: servent.EventQueryHit, Hops: 2, GUID: guid})
		start := time.Now()
		d.printRoute(guid, 3, 2)
		assert.Equal(t, routeWait, time.Since(start))
		assert.Contains(t, out.String(), "reverse path: n03 -> n00\n")
	})
}
