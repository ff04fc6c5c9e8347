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
)

// Event is something the servent did, for tools that show the network at
// work (the demo). Peer is the connection it concerns.
type Event struct {
	Kind   EventKind
	Peer   netip.AddrPort
	GUID   wire.GUID      // the descriptor's GUID, for queries and hits
	Hops   uint8          // links it travelled from its origin to the reporting servent (1 from a neighbour)
	To     netip.AddrPort // where a hit was forwarded (zero: delivered to us)
	Detail string
	// For EventDisconnected: the Bye code we sent and the one we got
	// (0: none); Detail is then the error that ended the link, if any.
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
