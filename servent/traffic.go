package servent

import (
	"sync"

	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
)

// retired holds the counters of the links that have closed, so that
// Traffic, like a counter should, never goes down when a peer leaves. The
// links' own counters stay the one record: a closing link's are added in
// here once, as it is unregistered.
type retired struct {
	mu sync.Mutex
	pc PeerCounters
}

func (r *retired) fold(pc PeerCounters) {
	r.mu.Lock()
	r.pc.add(pc)
	r.mu.Unlock()
}

// add sums o into pc.
func (pc *PeerCounters) add(o PeerCounters) {
	if pc.InMessages == nil {
		pc.InMessages = map[wire.PayloadType]uint64{}
		pc.InBytes = map[wire.PayloadType]uint64{}
	}
	for t, n := range o.InMessages {
		pc.InMessages[t] += n
	}
	for t, n := range o.InBytes {
		pc.InBytes[t] += n
	}
	for i := range pc.Out.Class {
		a, b := &pc.Out.Class[i], &o.Out.Class[i]
		a.Enqueued += b.Enqueued
		a.EnqueuedBytes += b.EnqueuedBytes
		a.Sent += b.Sent
		a.SentBytes += b.SentBytes
		for r := range a.Dropped {
			a.Dropped[r] += b.Dropped[r]
		}
	}
	pc.Out.Malformed += o.Out.Malformed
	pc.Out.FlowControlEntries += o.Out.FlowControlEntries
	pc.OutBytes += o.OutBytes
	pc.WireOut += o.WireOut
	pc.Malformed += o.Malformed
	pc.Unrouted += o.Unrouted
}

// Traffic is the traffic of every link since Start, closed ones included,
// by direction and type: the sum of the links' PeerCounters. The queue
// state fields (PendingBytes, PendingMessages, FlowControl) are not sums;
// they are zero.
func (s *Servent) Traffic() PeerCounters {
	var total PeerCounters
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired.mu.Lock()
	total.add(s.retired.pc)
	s.retired.mu.Unlock()
	for _, c := range s.conns {
		total.add(c.counters(c.q.Stats()))
	}
	return total
}

// RoutingTables is how many entries the router's tables hold.
func (s *Servent) RoutingTables() router.TableSizes { return s.router.TableSizes() }
