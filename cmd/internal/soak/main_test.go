package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/govent/govent/servent"
)

func TestDropReason(t *testing.T) {
	for _, tc := range []struct {
		e    servent.Event
		want string
	}{
		{servent.Event{ByeSent: 405}, "keepalive (Bye 405)"},
		{servent.Event{ByeReceived: 405}, "keepalive (Bye 405)"},
		{servent.Event{ByeReceived: 406}, "keepalive (Bye 406)"},
		{servent.Event{ByeSent: 200}, "sent Bye 200"},
		{servent.Event{ByeReceived: 502}, "received Bye 502"},
		{servent.Event{}, "closed without Bye"},
		{servent.Event{Detail: "read tcp 127.0.1.1:6346->127.0.1.2:40000: read: connection reset by peer"}, "reset"},
		{servent.Event{Detail: "write: i/o timeout"}, "timeout"},
	} {
		assert.Equal(t, tc.want, dropReason(tc.e))
	}
}

// The end of a run is judged against its start scaled by the links: more
// links may hold more, a leak of one goroutine or descriptor per churned
// node may not.
func TestGrownTooMuch(t *testing.T) {
	start := usage{nodes: 50, linkEnds: 300, goroutines: 1100, fds: 350, heap: 270 << 20}
	assert.Empty(t, grownTooMuch(start, start))
	more := usage{nodes: 50, linkEnds: 330, goroutines: 1210, fds: 385, heap: 297 << 20}
	assert.Empty(t, grownTooMuch(start, more), "10% more links, 10% more of everything")
	leak := start
	leak.goroutines += 600
	leak.fds += 600
	assert.Len(t, grownTooMuch(start, leak), 2)
	heap := start
	heap.heap += 200 << 20
	assert.Len(t, grownTooMuch(start, heap), 1)
}
