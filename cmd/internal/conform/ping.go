package conform

import (
	"net"
	"net/netip"

	"github.com/govent/govent/cmd/internal/link"
	"github.com/govent/govent/wire"
)

// Ping and Pong (Gnutella 0.6 sections 2.2.3 and 2.2.4, 0.4 sections 3.2.2
// and 4, gtk-gnutella's ping-pong document on pong caching).

// pingBurst is how many Pings the flood case sends at once.
const pingBurst = 10

func pingGroup() *Group {
	return &Group{Key: "ping", Title: "Ping and Pong", Cases: []*Case{
		{
			Title:       "a TTL-1 Ping is answered with a Pong",
			Desc:        "Connects as an ultrapeer and sends a Ping with TTL 1, hops 0.",
			Requirement: `An incoming Ping message with TTL = 1 and Hops = 0 or 1 is used to probe the remote host of a connection, and MUST always be replied to with a pong having information about the host who received the ping.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.4"},
			Run: func(t *T) error {
				l, err := t.Ultrapeer()
				if err != nil {
					return err
				}
				return alive(t, l)
			},
		},
		{
			Title:       "a second TTL-1 Ping right after the first is answered too",
			Desc:        "Connects as an ultrapeer and sends two TTL-1 Pings at once; waits for a Pong to each.",
			Requirement: `An incoming Ping message with TTL = 1 and Hops = 0 or 1 is used to probe the remote host of a connection, and MUST always be replied to with a pong having information about the host who received the ping.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.4"},
			Run: func(t *T) error {
				l, err := t.Ultrapeer()
				if err != nil {
					return err
				}
				if err := l.Send(newPing(1, 0), newPing(1, 0)); err != nil {
					return err
				}
				// Counted whatever their GUIDs: those are ping/3's business.
				pongs := 0
				_, err = expect(t, l, "two Pongs for two TTL-1 Pings", func(m *wire.Message) bool {
					if m.Header.Type == wire.TypePong {
						pongs++
					}
					return pongs == 2
				})
				return err
			},
		},
		{
			Title:       "the Pong carries the Ping's GUID",
			Desc:        "Connects as an ultrapeer, sends a TTL-1 Ping and reads the first Pong.",
			Requirement: `The Message ID of a Pong message MUST be the Message ID of the Ping message it is sent in reply to.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.3"},
			Run: func(t *T) error {
				_, p, m, err := pingPong(t, 1, 0)
				if err != nil {
					return err
				}
				if m.Header.GUID != p.Header.GUID {
					return t.Failf("the Pong's GUID "+p.Header.GUID.String(), "%s", m.Header.GUID)
				}
				return nil
			},
		},
		{
			Title:       "a Pong's TTL is at least the Ping's hops",
			Desc:        "Connects as an ultrapeer and sends a Ping with TTL 2 and hops 3, as if it came from three hops away.",
			Requirement: `These pongs MUST have the same message ID as the incoming ping, and a TTL no lower than the hops value of the ping.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.4"},
			Run: func(t *T) error {
				_, p, m, err := pingPong(t, 2, 3)
				if err != nil {
					return err
				}
				if m.Header.TTL < p.Header.Hops {
					return t.Failf("a Pong TTL of at least 3", "TTL %d", m.Header.TTL)
				}
				return nil
			},
		},
		{
			Title:       "the target's Pong about itself names an address that can be connected to",
			Desc:        "Connects as an ultrapeer, sends a TTL-1 Ping and reads the Pong's IP and port.",
			Requirement: `When sending a Pong descriptor reporting an IPv4 address to a remote servent, the reported address SHOULD be one that can be safely connected and is accessible to by this servent.`,
			Severity:    Should, Spec: Spec{Gnutella04, "3.2.2.3"},
			Run: func(t *T) error {
				l, _, m, err := pingPong(t, 1, 0)
				if err != nil {
					return err
				}
				ap := m.Pong.AddrPort()
				if !connectable(ap, dialledAddr(l.Conn)) {
					return t.Failf("a connectable IP and port (we reached the target at "+dialledAddr(l.Conn).String()+")", "%s", ap)
				}
				t.Notef("Pong names %s", ap)
				return nil
			},
		},
		{
			Title:       "a Pong for a Ping the target never saw is dropped",
			Desc:        "On the second of three ultrapeer links, sends a Pong with a GUID nobody used, then a sentinel Query; watches the others.",
			Requirement: `A servent that receives a Pong descriptor with Descriptor ID = n, but has not seen a Ping descriptor with Descriptor ID = n SHOULD remove the Pong descriptor from the network`,
			Severity:    Should, Spec: Spec{Gnutella04, "4"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				ls, err := t.Ultrapeers(3)
				if err != nil {
					return err
				}
				pong := &wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePong, TTL: 3},
					Pong: wire.Pong{Port: 6346, Addr: netip.MustParseAddr("192.0.2.9")}}
				return notForwardedOn(t, "the unsolicited Pong", ls[1], pong, isGUID(wire.TypePong, pong.Header.GUID), ls[0], ls[2])
			},
		},
		{
			Title:       "a burst of Pings is not flooded to every neighbour",
			Desc:        "On the first of three ultrapeer links, sends 10 Pings with TTL 3 at once and a sentinel Query; counts the Pings reaching the others.",
			Requirement: `The bandwidth used by Ping and Pong messages SHOULD be minimized. Servents MUST never output very high quantities of Ping and Pong messages.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.4"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				ls, err := t.Ultrapeers(3)
				if err != nil {
					return err
				}
				ours := map[wire.GUID]bool{}
				var msgs []*wire.Message
				for range pingBurst {
					p := newPing(3, 0)
					ours[p.Header.GUID] = true
					msgs = append(msgs, p)
				}
				s := sentinel()
				if err := ls[0].Send(append(msgs, s)...); err != nil {
					return err
				}
				isOurs := func(m *wire.Message) bool { return m.Header.Type == wire.TypePing && ours[m.Header.GUID] }
				for i, o := range ls[1:] {
					n, err := countUntil(t, o, isOurs, isGUID(wire.TypeQuery, s.Header.GUID))
					if err != nil {
						return err
					}
					if n > 2 {
						return t.Failf("at most 2 of 10 Pings forwarded to each neighbour", "%d on link %d", n, i+2)
					}
				}
				return nil
			},
		},
		{
			Title:       "Pings are not forwarded to leaves",
			Desc:        "Opens a leaf link with a QRP table and an ultrapeer link; the ultrapeer sends a TTL-3 Ping and then a Query the leaf's table matches.",
			Requirement: `Ultrapeers shield leaf nodes from virtually all ping and query traffic.`,
			Severity:    Should, Spec: Spec{Ultrapeers, "2"}, Role: Ultrapeer,
			Conns: 2,
			Run: func(t *T) error {
				up, leaf, word, err := leafWithTable(t, false)
				if err != nil {
					return err
				}
				p := newPing(3, 0)
				q := newQuery(word, 3, 0, false)
				if err := up.Send(p, q); err != nil {
					return err
				}
				n, err := countUntil(t, leaf, isGUID(wire.TypePing, p.Header.GUID), isGUID(wire.TypeQuery, q.Header.GUID))
				if err != nil {
					return err
				}
				if n > 0 {
					return t.Failf("no Ping on the leaf link", "the Ping forwarded to the leaf")
				}
				return nil
			},
		},
		{
			Title:       "the target's own Pings carry modern GUIDs",
			Desc:        "Connects as an ultrapeer, sends a TTL-1 Ping and looks at the Pings the target sends up to 100 ms after its Pong.",
			Requirement: `Servents SHOULD store all 1's (0xff) in byte 8 of the GUID. ... Servents SHOULD initially store all 0's in byte 15 of the GUID.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.2.1"},
			Run: func(t *T) error {
				l, err := t.Ultrapeer()
				if err != nil {
					return err
				}
				if err := l.Send(newPing(1, 0)); err != nil {
					return err
				}
				var pings []wire.GUID
				for {
					r, err := l.Next(t.Timeout())
					if err != nil {
						return t.Failf("a Pong", "%v", err)
					}
					if r.Err != nil {
						continue
					}
					if r.Msg.Header.Type == wire.TypePing && r.Msg.Header.Hops == 0 {
						pings = append(pings, r.Msg.Header.GUID)
					}
					if r.Msg.Header.Type == wire.TypePong {
						break
					}
				}
				// A servent sends Pings last of all; give its greeting
				// Ping a moment past the Pong.
				countFor(l, settle, func(m *wire.Message) bool {
					if m.Header.Type == wire.TypePing && m.Header.Hops == 0 {
						pings = append(pings, m.Header.GUID)
					}
					return false
				})
				if len(pings) == 0 {
					return t.Skipf("the target sent no Ping of its own by 100 ms after its Pong")
				}
				for _, g := range pings {
					if !g.IsModern() {
						return t.Failf("byte 8 0xFF and byte 15 0x00", "Ping GUID %s", g)
					}
				}
				return nil
			},
		},
	}}
}

// pingPong sends a Ping with ttl and hops on a fresh ultrapeer link and
// returns the first Pong that comes back, whatever its GUID.
func pingPong(t *T, ttl, hops uint8) (*link.Link, *wire.Message, *wire.Message, error) {
	l, err := t.Ultrapeer()
	if err != nil {
		return nil, nil, nil, err
	}
	p := newPing(ttl, hops)
	if err := l.Send(p); err != nil {
		return nil, nil, nil, err
	}
	m, err := expect(t, l, "a Pong", isType(wire.TypePong))
	return l, p, m, err
}

// dialledAddr is the target's address as we reached it.
func dialledAddr(nc net.Conn) netip.AddrPort {
	ta, _ := nc.RemoteAddr().(*net.TCPAddr)
	if ta == nil {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// connectable reports whether ap is an address a peer that reached the
// target at via could connect to: a unicast IPv4 address and a port, and
// not a private or loopback one when the target is on a public address.
func connectable(ap, via netip.AddrPort) bool {
	a := ap.Addr()
	if ap.Port() == 0 || !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	public := func(x netip.Addr) bool { return !x.IsPrivate() && !x.IsLoopback() && !x.IsLinkLocalUnicast() }
	if via.IsValid() && public(via.Addr()) && !public(a) {
		return false
	}
	return true
}
