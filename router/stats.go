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
	// n holds the counts, and goneBit in each once RemovePeer has folded
	// it: a drop looked up before the removal and counted after finds the
	// bit in what its add returns, and folds the count again.
	n [NumDropReasons]atomic.Uint64
	_ [cacheLine]byte
}

// goneBit marks a counter whose peer has gone.
const goneBit = 1 << 63

// add counts one drop for reason. It reports false when the peer has gone
// and its counters were folded, so the caller must fold this drop. Each
// counter is folded by a swap, atomic with the adds to it: a drop is
// either in the fold or finds goneBit set.
func (c *dropCounts) add(reason DropReason) bool {
	return c.n[reason].Add(1)&goneBit == 0
}

// total sums the drops over all reasons.
func (c *dropCounts) total() uint64 {
	var n uint64
	for i := range c.n {
		n += c.n[i].Load() &^ goneBit
	}
	return n
}

// addTo adds the drops to out, by reason.
func (c *dropCounts) addTo(out *[NumDropReasons]uint64) {
	for i := range c.n {
		out[i] += c.n[i].Load() &^ goneBit
	}
}

// fold moves the drops to out, by reason, leaving each counter at zero with
// goneBit set: each drop is moved once, however many times fold runs.
func (c *dropCounts) fold(out *[NumDropReasons]uint64) {
	for i := range c.n {
		out[i] += c.n[i].Swap(goneBit) &^ goneBit
	}
}
