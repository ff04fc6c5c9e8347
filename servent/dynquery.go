package servent

import (
	"bytes"
	"time"

	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
)

// Dynamic querying (gtk-gnutella doc/gnutella/dynamic_query): the router
// sends a leaf's Query to the matching leaves at once and hands back a
// router.DynamicQuery that picks the ultrapeers of each later step and its
// TTL. The servent delivers each step, waits DynamicQueryWait for results
// between steps, and stops when the router says the Query has enough, the
// leaf leaves or the servent stops.

// DynamicQueries is how many dynamic queries are in progress.
func (s *Servent) DynamicQueries() int { return s.router.DynamicQueries() }

// dynamicQuery drives dq, the ultrapeer side of the leaf Query whose payload
// arrived on from, in a goroutine of its own.
func (s *Servent) dynamicQuery(from *conn, dq *router.DynamicQuery, payload []byte) {
	payload = bytes.Clone(payload)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer dq.Finish()
		var buf []byte
		var conns [8]*conn
		send := func(h wire.Header, to []router.PeerID) {
			if len(to) == 0 {
				return
			}
			h.Length = uint32(len(payload))
			buf = append(h.Append(buf[:0]), payload...)
			s.deliver(buf, to, conns[:0])
		}
		h, targets := dq.Probe(nil)
		send(h, targets)
		for s.dqWait(from) {
			var more bool
			if h, targets, more = dq.Next(targets); !more {
				return
			}
			send(h, targets)
		}
	}()
}

// dqWait waits DynamicQueryWait; false when the leaf or the servent went.
func (s *Servent) dqWait(from *conn) bool {
	t := time.NewTimer(s.cfg.DynamicQueryWait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-from.done:
	case <-s.ctx.Done():
	}
	return false
}
