package servent

import (
	"net/netip"

	"github.com/govent/govent/wire"
)

// EventKind says what an Event reports.
type EventKind int

const (
	EventConnected    EventKind = iota // a connection was established
	EventDisconnected                  // a connection ended
	EventQuery                         // a Query arrived (Hops, From)
	EventQueryHit                      // a QueryHit was forwarded or delivered to us
	EventPush                          // a Push was handled for us
	// EventReceived reports every descriptor read from a link, before
	// routing: duplicates, descriptors the router drops and malformed
	// ones included (Type, GUID, Hops, Bytes). Tools that measure traffic
	// (govent netsim) count these.
	EventReceived
)

// Event is something the servent did, for tools that show the network at
// work (the demo) or measure it (govent netsim, govent workload). Peer is
// the connection it concerns, named by the address it listens on when it
// said, else by its TCP address.
type Event struct {
	Kind   EventKind
	Peer   netip.AddrPort
	GUID   wire.GUID      // the descriptor's GUID, for queries, hits and EventReceived
	Hops   uint8          // links it travelled from its origin to the reporting servent (1 from a neighbour)
	To     netip.AddrPort // where a hit was forwarded (zero: delivered to us)
	Detail string         // a Query's criteria, a peer's User-Agent, why a connection ended
	// Type and Bytes (header included) describe an EventReceived
	// descriptor.
	Type  wire.PayloadType
	Bytes int
	// Outgoing says we dialled the connection (EventConnected,
	// EventDisconnected).
	Outgoing bool
	// ByeSent and ByeReceived are the Bye codes that ended a connection
	// (EventDisconnected), 0 for none: a link that ended without either
	// was cut (Detail says how, when we know).
	ByeSent, ByeReceived uint16
}

// emit reports an event if anyone listens.
func (s *Servent) emit(e Event) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(e)
	}
}

// observed reports whether building an event is worth it.
func (s *Servent) observed() bool { return s.cfg.OnEvent != nil }
