package conform

import (
	"github.com/govent/govent/cmd/internal/link"
	"github.com/govent/govent/wire"
)

// Framing: the 23-byte descriptor header (Gnutella 0.4 section 3.1, 0.6
// section 2.2.1): payload lengths, unknown types, and the TTL and hops
// rules every routed descriptor passes.

// typeUnassigned is a payload type no servent uses.
const typeUnassigned wire.PayloadType = 0x55

func framingGroup() *Group {
	return &Group{Key: "framing", Title: "Descriptor framing", Cases: []*Case{
		{
			Title:       "every descriptor the target sends parses",
			Desc:        "Connects as an ultrapeer, sends a TTL-1 Ping and decodes everything up to the Pong.",
			Requirement: `The next descriptor header is located exactly Payload Length bytes from the end of this header i.e. there are no gaps or pad bytes in the Gnutella data stream.`,
			Severity:    Must, Spec: Spec{Gnutella04, "3.1"},
			Run: func(t *T) error {
				l, err := t.Ultrapeer()
				if err != nil {
					return err
				}
				if err := l.Send(newPing(1, 0)); err != nil {
					return err
				}
				for n := 0; ; n++ {
					r, err := l.Next(t.Timeout())
					if err != nil {
						return t.Failf("well-formed descriptors up to a Pong", "%v after %d descriptors", err, n)
					}
					if r.Err != nil {
						return t.Failf("well-formed descriptors", "%s: %v", link.Summary(r.Msg), r.Err)
					}
					if r.Msg.Header.Type == wire.TypePong {
						return nil
					}
				}
			},
		},
		{
			Title:       "a descriptor of an unknown type is skipped by its length and the link goes on",
			Desc:        "Sends a descriptor of the unassigned type 0x55 with an 8-byte payload, then a TTL-1 Ping.",
			Requirement: `The Payload Length field is the ONLY reliable way for a servent to find the beginning of the next descriptor in the input stream.`,
			Severity:    Should, Spec: Spec{Gnutella04, "3.1"},
			Run: func(t *T) error {
				l, err := t.Ultrapeer()
				if err != nil {
					return err
				}
				if err := l.Send(unknownType(1)); err != nil {
					return err
				}
				return alive(t, l)
			},
		},
		{
			Title:       "a descriptor of an unknown type is not forwarded",
			Desc:        "On the first of three ultrapeer links, sends type 0x55 with TTL 3, then a sentinel Query; watches the other two.",
			Requirement: `Other Gnutella messages can be used, but if so the servent MUST first make sure that the remote host supports this new message type.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.1"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				return notForwarded(t, "a forwarded type-0x55 descriptor", unknownType(3), isType(typeUnassigned))
			},
		},
		{
			Title:       "a payload length over the target's limit ends the connection",
			Desc:        "Sends a Ping header announcing a 16 MiB payload, and no payload.",
			Requirement: `If a servent becomes out of synch with its input stream, it SHOULD close the connection associated with the stream`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.2.1"},
			Run: func(t *T) error {
				c, err := provokeBye(t)
				if err != nil {
					return err
				}
				if c.bye != nil {
					t.Notef("closed after Bye %d", c.bye.Bye.Code)
				}
				return nil
			},
		},
		{
			Title:       "a stream that ends inside a descriptor does not take the target down",
			Desc:        "Sends a Query header announcing 100 bytes, 10 of them, and half-closes; then connects afresh and pings.",
			Requirement: `If a servent becomes out of synch with its input stream, it SHOULD drop the connection associated with the stream`,
			Severity:    Should, Spec: Spec{Gnutella04, "3.1"},
			Conns: 2,
			Run: func(t *T) error {
				l, err := t.Ultrapeer()
				if err != nil {
					return err
				}
				h := wire.Header{GUID: wire.NewGUID(), Type: wire.TypeQuery, TTL: 1, Length: 100}
				if err := l.SendBytes(append(h.Append(nil), "0123456789"...)); err != nil {
					return err
				}
				_ = l.CloseWrite()
				if _, err := expectClosed(t, l, "the target to close the truncated stream"); err != nil {
					return err
				}
				return freshAlive(t)
			},
		},
		{
			Title:       "a descriptor with TTL 0 and hops 0 is not forwarded",
			Desc:        "On the first of three ultrapeer links, sends a Query with TTL 0 and hops 0, then a sentinel Query; watches the other two.",
			Requirement: `Also, a descriptor where TTL=0 and Hops=0 is invalid. ... When the TTL reaches 0, the descriptor MUST no longer be forwarded.`,
			Severity:    Must, Spec: Spec{Gnutella04, "3.1"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				q := newQuery(randomWord(), 0, 0, false)
				return notForwarded(t, "the TTL-0 Query", q, isGUID(wire.TypeQuery, q.Header.GUID))
			},
		},
		{
			Title: "a Query with TTL+hops of 7 is accepted: the target answers it",
			Desc:  "Connects as an ultrapeer and sends a Query for --query with TTL 4 and hops 3; waits for the QueryHit.",
			Requirement: `All servents MUST consider that TTL+Hops values between 1 and 7 are valid ... ` +
				`Assuming the servent's maximum admissible Query message life is 7 hops, then if TTL + Hops > 7, TTL SHOULD be decreased`,
			Severity: Must, Spec: Spec{Gnutella04, "3.1"},
			// Valid is not "forwarded as it came": a servent whose message
			// life is shorter than 7 hops trims the TTL (framing/8), and may
			// have none left. gtk-gnutella's life is 4 (max_ttl): TTL 4 at
			// hops 3 becomes TTL 1, and it answers but does not forward.
			Run: func(t *T) error {
				if _, err := t.Hit(); err != nil {
					return err
				}
				l, err := t.Ultrapeer()
				if err != nil {
					return err
				}
				q := newQuery(t.cfg.Query, 4, 3, true)
				if err := l.Send(q); err != nil {
					return err
				}
				_, err = expect(t, l, "a QueryHit for the TTL-4, hops-3 Query", isReplyTo(q, wire.TypeQueryHit))
				return err
			},
		},
		{
			Title:       "a Query with TTL+hops above 7 is forwarded with its TTL trimmed",
			Desc:        "On the first of two ultrapeer links, sends a Query with TTL 9 and hops 1; watches the second.",
			Requirement: `Assuming the servent's maximum admissible Query message life is 7 hops, then if TTL + Hops > 7, TTL SHOULD be decreased so that TTL + Hops = 7.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.2.1"}, Role: Ultrapeer,
			Conns: 2,
			Run: func(t *T) error {
				ls, err := t.Ultrapeers(2)
				if err != nil {
					return err
				}
				m, err := relayed(t, ls[0], ls[1], "the TTL-9, hops-1 Query forwarded", newQuery(randomWord(), 9, 1, false))
				if err != nil {
					return err
				}
				if int(m.Header.TTL)+int(m.Header.Hops) > 7 {
					return t.Failf("TTL+hops at most 7 after forwarding", "TTL %d, hops %d", m.Header.TTL, m.Header.Hops)
				}
				t.Notef("forwarded with TTL %d, hops %d", m.Header.TTL, m.Header.Hops)
				return nil
			},
		},
		{
			Title:       "a Query with a TTL above 15 is dropped",
			Desc:        "On the first of three ultrapeer links, sends a Query with TTL 20, then a sentinel Query; watches the other two.",
			Requirement: `Broadcasted messages with very high TTL values (>15) SHOULD be dropped.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.2.1"}, Role: Ultrapeer,
			Conns: 3,
			Departures: []string{"gtk-gnutella 1.2.3: forwards it to every ultrapeer with TTL 19. Its hard TTL limit (hard_ttl_limit 15) " +
				"only clears the broadcast route (src/core/routing.c, forward_message); the Query is then routed by QRP, " +
				"which sends any Query with TTL above 1 to all ultrapeers (src/core/nodes.c, node_parse; src/core/qrp.c, qrt_route_query and qrt_build_query_target)."},
			Run: func(t *T) error {
				q := newQuery(randomWord(), 20, 0, false)
				return notForwarded(t, "the TTL-20 Query", q, isGUID(wire.TypeQuery, q.Header.GUID))
			},
		},
	}}
}

// unknownType is a descriptor of an unassigned type.
func unknownType(ttl uint8) *wire.Message {
	return &wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: typeUnassigned, TTL: ttl},
		Payload: []byte("conform!")}
}

// notForwarded sends m and then a sentinel Query on the first of three
// ultrapeer links, and checks that the other two get the sentinel without
// anything matching forbidden before it.
func notForwarded(t *T, what string, m *wire.Message, forbidden func(*wire.Message) bool) error {
	ls, err := t.Ultrapeers(3)
	if err != nil {
		return err
	}
	return notForwardedOn(t, what, ls[0], m, forbidden, ls[1:]...)
}

// notForwardedOn sends m and a sentinel on from and checks the observers.
func notForwardedOn(t *T, what string, from *link.Link, m *wire.Message, forbidden func(*wire.Message) bool, observers ...*link.Link) error {
	s := sentinel()
	if err := from.Send(m, s); err != nil {
		return err
	}
	for _, o := range observers {
		if err := expectNotBefore(t, o, what, forbidden, isGUID(wire.TypeQuery, s.Header.GUID)); err != nil {
			return err
		}
	}
	return nil
}

// provokeBye sends a header announcing a payload far over any limit and
// reads until the target closes.
func provokeBye(t *T) (closed, error) {
	l, err := t.Ultrapeer()
	if err != nil {
		return closed{}, err
	}
	h := wire.Header{GUID: wire.NewGUID(), Type: wire.TypePing, TTL: 1, Length: 16 << 20}
	if err := l.SendBytes(h.Append(nil)); err != nil {
		return closed{}, err
	}
	return expectClosed(t, l, "the target to close the link after a 16 MiB length")
}
