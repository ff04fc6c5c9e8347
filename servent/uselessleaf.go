package servent

import (
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/wire"
)

// leafUselessGrace is how long a leaf may hold its slot without a query
// route table that routes anything before a newcomer may take it:
// gtk-gnutella's NODE_USELESS_GRACE, 5 minutes.
const leafUselessGrace = 5 * time.Minute

// makeRoomForLeaf is for a leaf that finds the leaf slots full: the leaf
// that has routed nothing for longest (connected leafUselessGrace ago or
// more, with no query route table or an empty one: it shares nothing, so
// no Query reaches it, and it only answers keepalives) gives its slot
// up at once and is told Bye 202, as gtk-gnutella's
// node_remove_useless_leaf makes room for another leaf. Leaves that share
// keep their slots however long they stay, and the newcomer is refused.
func (s *Servent) makeRoomForLeaf() {
	now := time.Now()
	s.mu.Lock()
	if s.leafSlots < s.slotLimit(slotLeaf) {
		s.mu.Unlock()
		return
	}
	var worst *conn
	for _, c := range s.conns {
		if c.slot != slotLeaf || c.closing.Load() || now.Sub(c.started) < leafUselessGrace ||
			worst != nil && !c.started.Before(worst.started) {
			continue
		}
		if t := s.router.QRT(c.id); t == nil || t.Present() == 0 {
			worst = c
		}
	}
	s.mu.Unlock()
	if worst == nil {
		return
	}
	s.log.Info("making room for a leaf", zap.Stringer("peer", worst.peer.remote), zap.Duration("up", now.Sub(worst.started)))
	s.stats.evictedUseless.Add(1)
	worst.freeSlot()
	worst.close(wire.ByeMakingRoom, "Making room for another leaf")
}
