package router

import (
	"strconv"
	"sync/atomic"
)

// DropReason says why a descriptor goes nowhere. Each reason has its own
// counter in Stats.
type DropReason uint8

// Drop reasons, one per routing rule. The names follow gtk-gnutella's drop
// statistics where one exists.
const (
	NotDropped      DropReason = iota
	DropUnknownPeer            // the sender is not a live peer (removed, or never added)
	DropUnknownType            // a payload type the router does not know: skipped, never forwarded
	DropInvalidTTL             // TTL 0 with hops 0: nobody may send that
	DropHardTTL                // hops+TTL above Config.HardMaxTTL
	DropMalformed              // a Push or QueryHit too short to hold its servent GUID
	DropDuplicate              // the same request (GUID, type) was seen recently
	DropNoRoute                // a reply whose request we never saw, or that expired
	DropNoPushRoute            // a Push for a servent we saw no QueryHit from
	DropRouteLost              // the route goes through a peer that is gone
	DropTTLExpired             // a reply or Push that would have to travel on with TTL 0
	DropLeafMode               // we are a leaf: we forward nothing, and it was not for us
	DropFlowControl            // a Query from a peer whose send queue is in flow control (0.6 draft, 3.1)
	NumDropReasons             // number of reasons, for sizing arrays
)

var dropReasonNames = [NumDropReasons]string{
	NotDropped:      "not dropped",
	DropUnknownPeer: "unknown peer",
	DropUnknownType: "unknown message type",
	DropInvalidTTL:  "TTL 0 with hops 0",
	DropHardTTL:     "hard TTL limit reached",
	DropMalformed:   "malformed",
	DropDuplicate:   "duplicate message",
	DropNoRoute:     "no route",
	DropNoPushRoute: "no push route",
	DropRouteLost:   "route lost",
	DropTTLExpired:  "TTL expired",
	DropLeafMode:    "leaf mode",
	DropFlowControl: "sender in flow control",
}

func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropReasonNames[r]
	}
	return "drop reason " + strconv.Itoa(int(r))
}

// Stats is a snapshot of the router's counters.
type Stats struct {
	Forwarded uint64 // descriptors forwarded to at least one peer
	Sent      uint64 // copies handed out for sending (one per target)
	Local     uint64 // descriptors for this servent to handle
	Trimmed   uint64 // floods whose hops+TTL was cut down to Config.MaxTTL
	Exhausted uint64 // floods handled here but sent to no neighbour: their TTL ran out (leaves may still get a Query)
	// Originated counts our own Queries sent through Originate.
	Originated uint64
	// PingsThrottled counts Pings handled here but not answered: their
	// peer's previous one was answered less than PingInterval before.
	PingsThrottled uint64
	// Dropped counts dropped descriptors by reason; Dropped[NotDropped] is 0.
	Dropped [NumDropReasons]uint64
}

// TotalDropped sums the drops over all reasons.
func (s Stats) TotalDropped() uint64 {
	var n uint64
	for _, c := range s.Dropped {
		n += c
	}
	return n
}

// Counter slots in a stripe: the decision counters, then one per drop reason.
const (
	cForwarded = iota
	cSent
	cLocal
	cTrimmed
	cExhausted
	cOriginated
	cPingsThrottled
	cDropped    // first drop reason counter; indexed by cDropped + reason
	numCounters = cDropped + int(NumDropReasons)
)

// statStripe is one copy of the counters. Route picks the stripe by the
// descriptor's GUID hash, like the table shards, so that cores routing
// different descriptors do not fight over one cache line; Stats sums them.
// Drops of descriptors from a live peer are counted on the peer instead
// (dropCounts); the stripes count only those from unknown peers.
type statStripe struct {
	n [numCounters]atomic.Uint64
	_ [cacheLine]byte
}

func (s *statStripe) add(c int, n uint64) { s.n[c].Add(n) }

func sumStats(stripes []statStripe) Stats {
	var out Stats
	for i := range stripes {
		s := &stripes[i]
		out.Forwarded += s.n[cForwarded].Load()
		out.Sent += s.n[cSent].Load()
		out.Local += s.n[cLocal].Load()
		out.Trimmed += s.n[cTrimmed].Load()
		out.Exhausted += s.n[cExhausted].Load()
		out.Originated += s.n[cOriginated].Load()
		out.PingsThrottled += s.n[cPingsThrottled].Load()
		for r := range NumDropReasons {
			out.Dropped[r] += s.n[cDropped+int(r)].Load()
		}
	}
	return out
}

// dropCounts are one peer's drops by reason. A drop is counted once, here,
// with one atomic add on cache lines of their own: only the peer's reader
// writes them, and the cores reading the peer's other fields to route
// Queries do not see them change. Stats adds them up; when the peer goes,
// RemovePeer folds them into Router.retired.
type dropCounts struct {
	_ [cacheLine]byte
	n [NumDropReasons]atomic.Uint64
	// gone is set, before the fold, by RemovePeer. A drop looked up before
	// the removal may be counted after the fold; its counter sees gone and
	// folds it again (see add).
	gone atomic.Bool
	_    [cacheLine]byte
}

// add counts one drop for reason. It reports false when the peer has gone:
// the add comes before the load of gone, and RemovePeer's store of gone
// before its fold (Go's atomics are sequentially consistent), so either
// the fold saw this drop or the caller must fold it.
func (c *dropCounts) add(reason DropReason) bool {
	c.n[reason].Add(1)
	return !c.gone.Load()
}

// total sums the drops over all reasons.
func (c *dropCounts) total() uint64 {
	var n uint64
	for i := range c.n {
		n += c.n[i].Load()
	}
	return n
}

// addTo adds the drops to out, by reason.
func (c *dropCounts) addTo(out *[NumDropReasons]uint64) {
	for i := range c.n {
		out[i] += c.n[i].Load()
	}
}

// moveTo moves the drops to out, by reason, leaving zeros: each drop is
// moved once, however many times moveTo runs.
func (c *dropCounts) moveTo(out *[NumDropReasons]uint64) {
	for i := range c.n {
		out[i] += c.n[i].Swap(0)
	}
}
