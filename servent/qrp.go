package servent

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
)

// Query routing (gtk-gnutella doc/gnutella/ultrapeer_qrp): a leaf sends its
// ultrapeers a table of the keywords (and urns) of its files, and an
// ultrapeer forwards a Query to a leaf only when the leaf's table matches.
// Between ultrapeers that announce X-Ultrapeer-Query-Routing: 0.1, each
// sends the union of its leaves' tables and its own, and a Query on its last
// hop goes only where that table matches.
const (
	// qrpBits is the size of the tables we build: 65536 slots, as LimeWire
	// and our captures' leaf use.
	qrpBits = 16
	// qrpEntryBits is the patch entry size we send: 4 bits, which every
	// servent reads.
	qrpEntryBits = 4
	// qrpMaxFragment is the most patch bytes in one PATCH message.
	qrpMaxFragment = 4096
)

// qrpState is the servent's side of QRP: our own table, cached by library
// version, and the aggregate an ultrapeer sends its ultrapeer neighbours.
type qrpState struct {
	// changed is signalled (never blocking) when the library changed.
	changed chan struct{}
	// dirty says a leaf's table (or the set of leaves) changed since the
	// aggregate was last sent.
	dirty atomic.Bool

	mu       sync.Mutex
	local    *router.QueryRouteTable // nil until first built
	localVer uint64
	agg      *router.QueryRouteTable // last aggregate sent, nil until first built

	// patches are the last few patches encoded, most recent first: every
	// link that holds the same table from us (none, for a new link) gets
	// the same patch to the next, encoded and compressed once.
	patchMu sync.Mutex
	patches []encodedPatch

	// budgets are the QRP work allowances of the peers' addresses.
	budgets qrpBudgets
}

// encodedPatch is the QRP messages that bring a peer from prev to next.
type encodedPatch struct {
	prev, next *router.QueryRouteTable
	msgs       []wire.QRP
}

// maxCachedPatches bounds the patches kept: the one for new links and the
// last update or two.
const maxCachedPatches = 4

// libraryChanged is the library's OnChange hook: it must not block.
func (s *Servent) libraryChanged() {
	select {
	case s.qrp.changed <- struct{}{}:
	default:
	}
}

// localTable returns the table of our own shared files, rebuilt when the
// library changed. The returned table is never modified.
func (s *Servent) localTable() *router.QueryRouteTable {
	s.qrp.mu.Lock()
	defer s.qrp.mu.Unlock()
	var ver uint64
	if s.lib != nil {
		ver = s.lib.Version()
	}
	if s.qrp.local != nil && ver == s.qrp.localVer {
		return s.qrp.local
	}
	var words []string
	var urns []wire.SHA1
	if s.lib != nil {
		words = s.lib.Keywords()
		for _, f := range s.lib.All() {
			if f.Hashed {
				urns = append(urns, f.SHA1)
			}
		}
	}
	t, err := router.BuildQRT(words, urns, qrpBits)
	if err != nil {
		// Only a bad size fails, and qrpBits is fixed.
		s.log.Warn("building our query route table", zap.Error(err))
		return s.qrp.local
	}
	s.qrp.local, s.qrp.localVer = t, ver
	return t
}

// encodeOurTable encodes a leaf's whole table before any link needs it:
// every ultrapeer we reach gets it, and encoding it in the setup of the
// first link would hold that link's slot while it compresses (140 ms under
// the race detector), long enough for a peer that dials us in turn to find
// us full.
func (s *Servent) encodeOurTable() {
	if !s.IsLeaf() {
		return
	}
	if _, err := s.patchMessages(nil, s.localTable()); err != nil {
		s.log.Warn("encoding our query route table", zap.Error(err))
	}
}

// aggregateTable returns the table we send our ultrapeer neighbours,
// building it when there is none yet (or fresh is set): the union of ours
// and our leaves' tables, from the router.
func (s *Servent) aggregateTable(fresh bool) *router.QueryRouteTable {
	local := s.localTable()
	s.qrp.mu.Lock()
	defer s.qrp.mu.Unlock()
	if s.qrp.agg != nil && !fresh {
		return s.qrp.agg
	}
	t, err := s.router.LeafUnion(qrpBits, local)
	if err != nil {
		s.log.Warn("building the aggregated query route table", zap.Error(err))
		return s.qrp.agg
	}
	s.qrp.agg = t
	return t
}

// ourTableFor returns the table c should hold from us: a leaf sends its own
// to its ultrapeers; an ultrapeer sends the aggregate to ultrapeer
// neighbours that route with it. Leaves and plain neighbours get none.
func (s *Servent) ourTableFor(c *conn) *router.QueryRouteTable {
	switch {
	case !c.peer.ultrapeer || c.peer.version04:
		return nil
	case s.IsLeaf():
		return s.localTable()
	case c.kind == router.Neighbour && c.peer.upQRP:
		return s.aggregateTable(false)
	}
	return nil
}

// sendOurQRT sends c the table it should hold, as a patch against what it
// holds already.
func (s *Servent) sendOurQRT(c *conn) {
	if t := s.ourTableFor(c); t != nil {
		// An ultrapeer with neither files nor leaves holds nothing to
		// route on yet: it sends no table (and so gets every Query on
		// its last hop, as before QRP) until it has one. A leaf always
		// sends its table: without one it would get no Query at all.
		s.sendQRT(c, t, !s.IsLeaf())
	}
}

// sendQRT queues the RESET/PATCH messages that bring c from the table it
// holds to next: TTL 1, hops 0, in the control class. With skipEmpty an
// empty table is not sent to a peer that holds none from us.
func (s *Servent) sendQRT(c *conn, next *router.QueryRouteTable, skipEmpty bool) {
	c.qrpMu.Lock()
	defer c.qrpMu.Unlock()
	if c.qrpSent == next || skipEmpty && c.qrpSent == nil && next.Present() == 0 {
		return
	}
	msgs, err := s.patchMessages(c.qrpSent, next)
	if err != nil {
		s.log.Warn("encoding a QRP patch", zap.Error(err))
		return
	}
	var b []byte
	for i := range msgs {
		m := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeQRP, TTL: 1}, QRP: msgs[i]}
		if b, err = m.Append(b[:0]); err != nil || !c.enqueue(b, true) {
			// The peer's copy is now unknown: start over with a RESET.
			c.qrpSent = nil
			return
		}
	}
	c.qrpSent = next
}

// patchMessages returns the messages that bring a peer holding prev (nil:
// nothing) to next, encoded once for every link that needs them.
func (s *Servent) patchMessages(prev, next *router.QueryRouteTable) ([]wire.QRP, error) {
	q := &s.qrp
	q.patchMu.Lock()
	defer q.patchMu.Unlock()
	for _, p := range q.patches {
		if p.prev == prev && p.next == next {
			return p.msgs, nil
		}
	}
	msgs, err := router.PatchMessages(prev, next, qrpEntryBits, true, qrpMaxFragment)
	if err != nil {
		return nil, err
	}
	s.stats.qrpEncoded.Add(1)
	q.patches = append([]encodedPatch{{prev: prev, next: next, msgs: msgs}}, q.patches[:min(len(q.patches), maxCachedPatches-1)]...)
	return msgs, nil
}

// qrpLoop sends patches when our library changes (a leaf at once, an
// ultrapeer with its next aggregate) and, at most every QRPUpdateInterval,
// the ultrapeer's aggregate when a leaf's table changed.
func (s *Servent) qrpLoop() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.QRPUpdateInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.qrp.changed:
			if !s.IsLeaf() {
				s.qrp.dirty.Store(true)
				continue
			}
			s.localTable()
			for _, c := range s.connList() {
				s.sendOurQRT(c)
			}
		case <-tick.C:
			if s.IsLeaf() || !s.qrp.dirty.Swap(false) {
				continue
			}
			s.aggregateTable(true)
			for _, c := range s.connList() {
				s.sendOurQRT(c)
			}
		case <-s.ctx.Done():
			return
		}
	}
}

// connList is a snapshot of the established connections.
func (s *Servent) connList() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		out = append(out, c)
	}
	return out
}

// handleQRP applies a RESET or PATCH that c sent. A leaf keeps no tables:
// it routes nothing. A table we cannot apply (among them one larger than
// its contents justify), and a peer over its QRP budget, end the connection
// with Bye 413, as gtk-gnutella does for bad tables.
func (s *Servent) handleQRP(c *conn, m *wire.Message) error {
	if s.IsLeaf() {
		return nil
	}
	if c.qrpRecv == nil {
		c.qrpRecv = router.NewQRTReceiver(0)
	}
	if m.QRP.Variant == wire.QRPPatch {
		work := c.qrpRecv.Work(&m.QRP)
		if !s.qrp.budgets.take(c.peer.remote.Addr(), time.Now(), work, s.cfg.QRPBytesPerMinute, s.cfg.QRPPatchesPerMinute) {
			s.stats.qrpOverBudget.Add(1)
			err := fmt.Errorf("QRP over budget (%d patch bytes, %d PATCHes a minute)",
				s.cfg.QRPBytesPerMinute, s.cfg.QRPPatchesPerMinute)
			s.rateLog("QRP over budget", c.nc, err)
			s.router.SetQRT(c.id, nil)
			c.close(wire.ByeBadQRP, "QRP Updates Over Budget")
			return err
		}
	}
	t, err := c.qrpRecv.Handle(&m.QRP)
	if err != nil {
		s.stats.qrpRejected.Add(1)
		s.rateLog("bad QRP table", c.nc, err)
		s.router.SetQRT(c.id, nil)
		reason := "Bad QRP Table"
		if errors.Is(err, router.ErrQRPUnjustified) {
			reason = "QRP Table Larger Than Its Contents"
		}
		c.close(wire.ByeBadQRP, reason)
		return err
	}
	s.router.SetQRT(c.id, c.qrpRecv.Table())
	if t != nil && c.kind == router.Leaf {
		s.qrp.dirty.Store(true)
	}
	return nil
}

// qrpBudget is an allowance of QRP work: two token buckets, of patch bytes
// inflated and applied and of PATCH messages, each refilled at its rate per
// minute up to one minute's worth. A table of 2^21 slots costs its patch
// size (2 MiB at 8-bit entries) however small its PATCH on the wire.
type qrpBudget struct {
	last           time.Time
	bytes, patches float64 // what is left
}

// qrpBudgets are the allowances of the peers' addresses: the links from one
// address share one, and it outlives them, so that hanging up and dialling
// again buys a hostile leaf nothing. An allowance left alone for a minute
// is full again, as good as none: those are forgotten.
type qrpBudgets struct {
	mu     sync.Mutex
	byAddr map[netip.Addr]*qrpBudget
}

// maxQRPBudgets bounds the addresses remembered; past it (a flood from
// many addresses) some get a fresh allowance early.
const maxQRPBudgets = 4096

// take spends work bytes and one PATCH of a's allowance, and reports
// whether it held them.
func (q *qrpBudgets) take(a netip.Addr, now time.Time, work, bytesPerMinute, patchesPerMinute int) bool {
	k := addrKey(a)
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.byAddr[k]
	if b == nil {
		if len(q.byAddr) >= maxQRPBudgets {
			q.forgetLocked(now)
		}
		if q.byAddr == nil {
			q.byAddr = map[netip.Addr]*qrpBudget{}
		}
		b = &qrpBudget{last: now, bytes: float64(bytesPerMinute), patches: float64(patchesPerMinute)}
		q.byAddr[k] = b
	}
	minutes := now.Sub(b.last).Minutes()
	b.bytes = min(b.bytes+minutes*float64(bytesPerMinute), float64(bytesPerMinute))
	b.patches = min(b.patches+minutes*float64(patchesPerMinute), float64(patchesPerMinute))
	b.last = now
	if b.bytes < float64(work) || b.patches < 1 {
		return false
	}
	b.bytes -= float64(work)
	b.patches--
	return true
}

// forgetLocked drops the allowances full again, and if that is not enough
// any others until there is room.
func (q *qrpBudgets) forgetLocked(now time.Time) {
	for k, b := range q.byAddr {
		if now.Sub(b.last) >= time.Minute {
			delete(q.byAddr, k)
		}
	}
	for k := range q.byAddr {
		if len(q.byAddr) < maxQRPBudgets {
			break
		}
		delete(q.byAddr, k)
	}
}
