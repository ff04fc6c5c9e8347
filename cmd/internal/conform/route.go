package conform

import (
	"bytes"

	"github.com/govent/govent/cmd/internal/link"
	"github.com/govent/govent/wire"
)

// Query routing (Gnutella 0.6 section 2.2.7, 0.4 section 4, Ultrapeer QRP
// 0.1 sections 2.3 and 2.4): how Queries spread and how QueryHits come
// back. Most cases open three ultrapeer links A, B and C: they send on one
// and watch the others.

func routeGroup() *Group {
	return &Group{Key: "route", Title: "Query and QueryHit routing", Cases: []*Case{
		{
			Title:       "a Query is forwarded to every other ultrapeer",
			Desc:        "On A, sends a Query with TTL 3; watches B and C.",
			Requirement: `A servent SHOULD forward incoming Query messages to all of its directly connected servents, except the one that delivered the incoming Query.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.2.7.1"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				_, _, _, err := queryAcross(t, 2)
				return err
			},
		},
		{
			Title:       "a forwarded Query has its TTL decremented and its hops incremented",
			Desc:        "On A, sends a Query with TTL 3 and hops 0; reads it on B.",
			Requirement: `A servent MUST decrement a message header's TTL field, and increment its Hops field, before it forwards the message to any directly connected servent.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.7.1"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				_, q, got, err := queryAcross(t, 1)
				if err != nil {
					return err
				}
				return checkHop(got[0], q)
			},
		},
		{
			Title:       "a forwarded Query keeps its GUID and its payload, GGEP and urn extensions included",
			Desc:        "On A, sends a Query carrying a urn:sha1 block and a GGEP block with an extension nobody knows; compares the bytes on B.",
			Requirement: `all servents MUST pass on GGEP extension blocks inside Gnutella messages.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.3"}, Role: Ultrapeer,
			Conns: 2,
			Run: func(t *T) error {
				ls, err := t.Ultrapeers(2)
				if err != nil {
					return err
				}
				q := newQuery(randomWord(), 3, 0, false)
				ext, err := wire.NewGGEPExtension("CNF", []byte("conformance"), false, false)
				if err != nil {
					return err
				}
				var d wire.SHA1
				copy(d[:], "conformance-suite-20")
				urn := wire.NewSHA1Block(d)
				urn.Sep = true
				q.Query.Ext = wire.ExtArea{Blocks: []wire.ExtBlock{urn, {Kind: wire.ExtGGEP, GGEP: wire.GGEP{Extensions: []wire.GGEPExtension{ext}}}}}
				sent, err := q.Append(nil)
				if err != nil {
					return err
				}
				m, err := relayed(t, ls[0], ls[1], "the Query forwarded", q)
				if err != nil {
					return err
				}
				if !bytes.Equal(m.Payload, sent[wire.HeaderLen:]) {
					return t.Failf("the payload byte for byte: "+link.Summary(q), "%s", link.Summary(m))
				}
				return nil
			},
		},
		{
			Title:       "a Query is not sent back to the link it came from",
			Desc:        "On A, sends a Query; once B has it, B sends a sentinel Query; watches A.",
			Requirement: `A servent SHOULD forward incoming Query messages to all of its directly connected servents, except the one that delivered the incoming Query.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.2.7.1"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				ls, q, _, err := queryAcross(t, 1)
				if err != nil {
					return err
				}
				s := sentinel()
				if err := ls[1].Send(s); err != nil {
					return err
				}
				return expectNotBefore(t, ls[0], "our own Query back", isGUID(wire.TypeQuery, q.Header.GUID), isGUID(wire.TypeQuery, s.Header.GUID))
			},
		},
		{
			Title:       "a duplicate Query from the same link is dropped",
			Desc:        "On A, sends a Query; once B has it, A sends it again and a sentinel; watches B.",
			Requirement: `A servent receiving a message with the same Payload Message and Message ID as one it has received before, MUST discard the message.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.7.1"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				ls, q, _, err := queryAcross(t, 1)
				if err != nil {
					return err
				}
				return notForwardedOn(t, "the duplicate Query", ls[0], q, isGUID(wire.TypeQuery, q.Header.GUID), ls[1])
			},
		},
		{
			Title:       "a duplicate Query arriving on another link is dropped",
			Desc:        "On A, sends a Query; once B and C have it, B sends the copy it got back, then a sentinel; watches A and C.",
			Requirement: `A servent receiving a message with the same Payload Message and Message ID as one it has received before, MUST discard the message.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.7.1"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				ls, q, _, err := queryAcross(t, 2)
				if err != nil {
					return err
				}
				dup := *q
				dup.Header.TTL, dup.Header.Hops = forwarded(q.Header)
				return notForwardedOn(t, "the Query that came back round", ls[1], &dup, isGUID(wire.TypeQuery, q.Header.GUID), ls[0], ls[2])
			},
		},
		{
			Title:       "a Query that arrives with TTL 1 is not forwarded to ultrapeers",
			Desc:        "On A, sends a Query with TTL 1, then a sentinel; watches B and C.",
			Requirement: `If, after decrementing the header's TTL field, the TTL field is found to be zero, the message MUST NOT be forwarded along any connection.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.7.1"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				q := newQuery(randomWord(), 1, 0, false)
				return notForwarded(t, "the TTL-1 Query", q, isGUID(wire.TypeQuery, q.Header.GUID))
			},
		},
		{
			Title:       "a QueryHit goes back on the link its Query came from, one hop on",
			Desc:        "On A, sends a Query; B answers it with a QueryHit (TTL 3); watches A.",
			Requirement: `QueryHit messages MUST only be sent along the same path that carried the incoming Query message.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.7.1"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				ls, q, _, err := queryAcross(t, 1)
				if err != nil {
					return err
				}
				qh := newHit(q, wire.NewGUID(), 3)
				m, err := relayed(t, ls[1], ls[0], "the QueryHit on the Query's link", qh)
				if err != nil {
					return err
				}
				return checkHop(m, qh)
			},
		},
		{
			Title:       "a QueryHit is not sent to the other links",
			Desc:        "As route/8; then B sends a sentinel Query; watches C.",
			Requirement: `QueryHit messages MUST only be sent along the same path that carried the incoming Query message.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.7.1"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				ls, q, _, err := queryAcross(t, 2)
				if err != nil {
					return err
				}
				qh := newHit(q, wire.NewGUID(), 3)
				return notForwardedOn(t, "the QueryHit off its path", ls[1], qh, isReplyTo(q, wire.TypeQueryHit), ls[2])
			},
		},
		{
			Title:       "a QueryHit for a Query the target never saw is dropped",
			Desc:        "On B, sends a QueryHit with a GUID nobody used, then a sentinel Query; watches A and C.",
			Requirement: `A servent that receives a QueryHit message with Message ID = n, but has not seen a Query message with Message ID = n SHOULD remove the QueryHit message from the network.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.2.7.1"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				ls, err := t.Ultrapeers(3)
				if err != nil {
					return err
				}
				qh := newHit(newQuery("", 1, 0, false), wire.NewGUID(), 3)
				return notForwardedOn(t, "the unsolicited QueryHit", ls[1], qh, isGUID(wire.TypeQueryHit, qh.Header.GUID), ls[0], ls[2])
			},
		},
		{
			Title:       "a Query goes to a leaf only when the leaf's QRP table matches it",
			Desc:        "Opens an ultrapeer link and a leaf link with a QRP table for one word; the ultrapeer sends a Query for another word, then one for the table's word; watches the leaf.",
			Requirement: `if an Ultrapeer receives a query, it MUST forward that query only to leaves with hits in their routing tables`,
			Severity:    Must, Spec: Spec{UltrapeerQRP, "2.4"}, Role: Ultrapeer,
			Conns: 2,
			Run: func(t *T) error {
				up, leaf, word, err := leafWithTable(t, false)
				if err != nil {
					return err
				}
				miss, hit := newQuery(randomWord(), 3, 0, false), newQuery(word, 3, 0, false)
				if err := up.Send(miss, hit); err != nil {
					return err
				}
				return expectNotBefore(t, leaf, "the Query its table does not match", isGUID(wire.TypeQuery, miss.Header.GUID), isGUID(wire.TypeQuery, hit.Header.GUID))
			},
		},
		{
			Title:       "a leaf gets a matching Query even when it arrives with TTL 1",
			Desc:        "Opens an ultrapeer link and a leaf link with a QRP table; the ultrapeer sends a TTL-1 Query for the table's word; reads it on the leaf link with hops 1 and TTL 0 (or 1).",
			Requirement: `For example, if an Ultrapeer receives a query with TTL=1, the Ultrapeer then decrements the TTL to 0, but still forwards that query to its leaves.`,
			Severity:    Must, Spec: Spec{UltrapeerQRP, "2.4"}, Role: Ultrapeer,
			Conns: 2,
			// The TTL the leaf sees is the document's example, not its
			// rule: gtk-gnutella never sends a descriptor with TTL 0 and
			// raises it to 1 for the leaf ("we can never send out a TTL=0
			// message", src/core/qrp.c, qrt_route_query). Either way the
			// leaf does not forward it.
			Run: func(t *T) error {
				up, leaf, word, err := leafWithTable(t, false)
				if err != nil {
					return err
				}
				q := newQuery(word, 1, 0, false)
				m, err := relayed(t, up, leaf, "the TTL-1 Query on the leaf link", q)
				if err != nil {
					return err
				}
				if m.Header.Hops != 1 || m.Header.TTL > 1 {
					return t.Failf("hops 1 and TTL 0 (or 1: a TTL of 0 is never sent)", "TTL %d, hops %d", m.Header.TTL, m.Header.Hops)
				}
				return nil
			},
		},
		{
			Title:       "on its last hop, a Query goes to an ultrapeer only when that ultrapeer's table matches",
			Desc:        "Opens ultrapeer links A and B; B (X-Ultrapeer-Query-Routing: 0.1) sends a table for one word; A sends TTL-2 Queries for another word, then for the table's word; watches B.",
			Requirement: `If the query is on the last hop, however, the Ultrapeer MUST check the query routing table for a given Ultrapeer before forwarding it on. It then MUST forward the query if there is a hit in the table, and it MUST NOT forward the query if there is not a hit.`,
			Severity:    Must, Spec: Spec{UltrapeerQRP, "2.3"}, Role: Ultrapeer,
			Conns: 2,
			Run: func(t *T) error {
				a, err := t.Ultrapeer()
				if err != nil {
					return err
				}
				b, err := t.Ultrapeer(upQRP)
				if err != nil {
					return err
				}
				ls := []*link.Link{a, b}
				if err := t.Sync(ls...); err != nil {
					return err
				}
				if v, _ := b.Answer.Get("X-Ultrapeer-Query-Routing"); v == "" {
					return t.Skipf("the target does not announce X-Ultrapeer-Query-Routing")
				}
				word := randomWord()
				msgs, err := tableMessages([]string{word}, true, 4096)
				if err != nil {
					return err
				}
				if err := sendQRP(ls[1], msgs); err != nil {
					return err
				}
				if err := alive(t, ls[1]); err != nil {
					return err
				}
				miss, hit := newQuery(randomWord(), 2, 0, false), newQuery(word, 2, 0, false)
				if err := ls[0].Send(miss, hit); err != nil {
					return err
				}
				return expectNotBefore(t, ls[1], "the last-hop Query its table does not match", isGUID(wire.TypeQuery, miss.Header.GUID), isGUID(wire.TypeQuery, hit.Header.GUID))
			},
		},
		{
			Title:       "on its last hop, a Query goes to an ultrapeer without Ultrapeer QRP as usual",
			Desc:        "Opens ultrapeer links A and B, neither with X-Ultrapeer-Query-Routing; A sends a TTL-2 Query; watches B.",
			Requirement: `If the Ultrapeer potentially receiving the query does not support Ultrapeer query routing, then the query also MUST be forwarded just as it normally would in traditional Gnutella.`,
			Severity:    Must, Spec: Spec{UltrapeerQRP, "2.3"}, Role: Ultrapeer,
			Conns: 2,
			Run: func(t *T) error {
				a, err := t.Ultrapeer()
				if err != nil {
					return err
				}
				b, err := t.Ultrapeer()
				if err != nil {
					return err
				}
				if err := t.Sync(a, b); err != nil {
					return err
				}
				_, err = relayed(t, a, b, "the last-hop Query forwarded", newQuery(randomWord(), 2, 0, false))
				return err
			},
		},
		{
			Title:       "a leaf does not relay Queries between its ultrapeers",
			Desc:        "Opens two ultrapeer links to the leaf; the first sends a TTL-3 Query and a Ping; after the Pong, reads the second for 100 ms.",
			Requirement: `An ultrapeer only forwards a query to a leaf if it believes the leaf can answer it, and leaves never relay queries between ultrapeers.`,
			Severity:    Must, Spec: Spec{Gnutella06, "3.2.1"}, Role: Leaf,
			Conns: 2,
			Run: func(t *T) error {
				ls, err := t.Ultrapeers(2)
				if err != nil {
					return err
				}
				q := newQuery(randomWord(), 3, 0, false)
				if err := ls[0].Send(q); err != nil {
					return err
				}
				// The leaf reads the first link in order: its Pong means
				// the Query was handled, and anything it forwarded is queued.
				if err := alive(t, ls[0]); err != nil {
					return err
				}
				if n := countFor(ls[1], settle, isGUID(wire.TypeQuery, q.Header.GUID)); n > 0 {
					return t.Failf("no Query relayed to the other ultrapeer", "the Query on the second link")
				}
				return nil
			},
		},
	}}
}

// queryAcross opens three ultrapeer links, sends a fresh TTL-3 Query on
// the first and waits until the next n links have it (so the target has
// routed it). It returns the links, the Query and the copies that arrived.
func queryAcross(t *T, n int) ([]*link.Link, *wire.Message, []*wire.Message, error) {
	ls, err := t.Ultrapeers(3)
	if err != nil {
		return nil, nil, nil, err
	}
	q := newQuery(randomWord(), 3, 0, false)
	if err := ls[0].Send(q); err != nil {
		return nil, nil, nil, err
	}
	var got []*wire.Message
	for _, o := range ls[1 : 1+n] {
		m, err := expect(t, o, "the Query forwarded to each other ultrapeer", isGUID(wire.TypeQuery, q.Header.GUID))
		if err != nil {
			return nil, nil, nil, err
		}
		got = append(got, m)
	}
	return ls, q, got, nil
}
