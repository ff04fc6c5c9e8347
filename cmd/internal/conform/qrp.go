package conform

import (
	"errors"
	"fmt"
	"time"

	"github.com/govent/govent/cmd/internal/link"
	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
)

// Query Routing Protocol (the QRP document, Ultrapeer QRP 0.1, Gnutella
// 0.6 section 3.2.2): the tables leaves send their ultrapeers, and the
// tables ultrapeers exchange.

// qrpBits is the size of the tables the suite sends: 65536 slots, as
// LimeWire and Ultrapeer QRP recommend.
const qrpBits = 16

func qrpGroup() *Group {
	return &Group{Key: "qrp", Title: "Query routing tables", Cases: []*Case{
		{
			Title:       "a leaf's RESET and PATCH are accepted and applied",
			Desc:        "Opens an ultrapeer link and a leaf link; the leaf sends a RESET and an uncompressed 4-bit PATCH in 8 fragments for one word; the ultrapeer sends a Query for it.",
			Requirement: `When the "boolean vector" is fully received, it is going to be used as the Query Routing table for that leaf node`,
			Severity:    Must, Spec: Spec{Gnutella06, "3.2.2"}, Role: Ultrapeer,
			Conns: 2,
			Run:   func(t *T) error { return tableApplied(t, false) },
		},
		{
			Title:       "a zlib-compressed patch split over several PATCH messages is applied",
			Desc:        "As qrp/1, with the patch compressed (COMPRESSOR 1) and cut into fragments of 16 bytes.",
			Requirement: `Currently two algorithms are specified: 0x0 for no algorithm or 0x1 for the ZLIB algorithm[9]. All implementations must support these algorithms.`,
			Severity:    Must, Spec: Spec{QRP, "Gnutella Protocol Changes"}, Role: Ultrapeer,
			Conns: 2,
			Run:   func(t *T) error { return tableApplied(t, true) },
		},
		{
			Title:       "a PATCH out of sequence ends the link",
			Desc:        "As a leaf, sends a RESET and then PATCH 2 of a sequence of 8, without PATCH 1.",
			Requirement: `Messages in the sequence must be sent in-order ... If either of these conditions is violated ..., the receiver should close the connection`,
			Severity:    Should, Spec: Spec{QRP, "Gnutella Protocol Changes"}, Role: Ultrapeer,
			Conns: 2,
			Run: func(t *T) error {
				return badSequence(t, func(msgs []wire.QRP) []wire.QRP { return []wire.QRP{msgs[0], msgs[2]} })
			},
		},
		{
			Title:       "a PATCH before any RESET ends the link",
			Desc:        "As a leaf, sends PATCH 1 of a sequence without a RESET before it.",
			Requirement: `A RESET variant must precede any PATCH variants. ... there is no way to recover from a missing message.`,
			Severity:    Should, Spec: Spec{QRP, "Gnutella Protocol Changes"}, Role: Ultrapeer,
			Conns: 2,
			Run: func(t *T) error {
				return badSequence(t, func(msgs []wire.QRP) []wire.QRP { return []wire.QRP{msgs[1]} })
			},
		},
		{
			Title:       "a leaf sends its ultrapeer a query routing table",
			Desc:        "Connects to the leaf as an ultrapeer (X-Query-Routing: 0.2) and reads QRP messages until a sequence is complete.",
			Requirement: `The leaf should drop any Gnutella 0.4 connection it has and send a QRP routing table.`,
			Severity:    Should, Spec: Spec{Ultrapeers, "3.1"}, Role: Leaf,
			Run: func(t *T) error {
				_, _, err := receiveTable(t)
				var bad *badTable
				if errors.As(err, &bad) {
					t.Notef("a table came, but it does not apply (see qrp/6)")
					return nil
				}
				return err
			},
		},
		{
			Title:       "the leaf's table is well formed",
			Desc:        "Reads the leaf's table as qrp/5 does and applies it: RESET first, a power-of-two length, a complete PATCH sequence of the exact size.",
			Requirement: `A RESET variant must precede any PATCH variants. ... For hashing reasons discussed below, TABLE_LENGTH must be a power of two.`,
			Severity:    Must, Spec: Spec{QRP, "Gnutella Protocol Changes"}, Role: Leaf,
			Run: func(t *T) error {
				_, _, err := receiveTable(t)
				var bad *badTable
				if errors.As(err, &bad) {
					return t.Failf("a table that applies", "%v", bad.err)
				}
				if err != nil {
					return t.Skipf("no table arrived (see qrp/5): %v", err)
				}
				return nil
			},
		},
		{
			Title:       "QRP messages travel with TTL 1 and hops 0",
			Desc:        "Reads the leaf's table as qrp/5 does and checks every message's header.",
			Requirement: `Each message has a TTL of 1 and hops value of 0`,
			Severity:    Must, Spec: Spec{QRP, "Gnutella Protocol Changes"}, Role: Leaf,
			Run: func(t *T) error {
				_, msgs, err := receiveTable(t)
				if len(msgs) == 0 {
					return t.Skipf("no QRP message arrived (see qrp/5): %v", err)
				}
				for _, m := range msgs {
					if m.Header.TTL != 1 || m.Header.Hops != 0 {
						return t.Failf("TTL 1, hops 0", "%s", link.Summary(m))
					}
				}
				return nil
			},
		},
		{
			Title:       "the leaf's table holds the words of its files",
			Desc:        "Reads the leaf's table and looks up the words of --query, which name a file it shares.",
			Requirement: `Break all the resource names into individual words. ... Hash each word with a well-known hash function and insert a "present" flag in the corresponding hash table slot.`,
			Severity:    Must, Spec: Spec{Gnutella06, "3.2.2"}, Role: Leaf,
			Run: func(t *T) error {
				if _, err := t.Hit(); err != nil {
					return err
				}
				table, _, err := receiveTable(t)
				if err != nil {
					return t.Skipf("no usable table (see qrp/5, qrp/6): %v", err)
				}
				if !table.MatchText([]byte(t.cfg.Query)) {
					return t.Failf(fmt.Sprintf("the words of %q in the table", t.cfg.Query), "a table without them (%d of %d slots present)", table.Present(), table.Slots())
				}
				return nil
			},
		},
		{
			Title:       "an ultrapeer sends its QRP ultrapeer neighbours a table with its own files' words",
			Desc:        "Connects as an ultrapeer announcing X-Ultrapeer-Query-Routing: 0.1 and reads the target's table; looks up the words of --query.",
			Requirement: `Ultrapeers, however, MUST aggregate the query routing tables for all of their leaves in addition to adding keywords for their own files.`,
			Severity:    Must, Spec: Spec{UltrapeerQRP, "2.1"}, Role: Ultrapeer,
			Run: func(t *T) error {
				if _, err := t.Hit(); err != nil {
					return err
				}
				table, _, err := receiveTableUP(t)
				if err != nil {
					return err
				}
				if !table.MatchText([]byte(t.cfg.Query)) {
					return t.Failf(fmt.Sprintf("the words of %q in the table", t.cfg.Query), "a table without them (%d of %d slots present)", table.Present(), table.Slots())
				}
				return nil
			},
		},
	}}
}

// tableMessages encodes a table for words as a RESET and PATCHes.
func tableMessages(words []string, compress bool, fragment int) ([]wire.QRP, error) {
	table, err := router.BuildQRT(words, nil, qrpBits)
	if err != nil {
		return nil, err
	}
	return router.PatchMessages(nil, table, 4, compress, fragment)
}

// sendQRP sends QRP payloads as TTL-1 descriptors.
func sendQRP(l *link.Link, msgs []wire.QRP) error {
	out := make([]*wire.Message, len(msgs))
	for i := range msgs {
		out[i] = &wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeQRP, TTL: 1}, QRP: msgs[i]}
	}
	return l.Send(out...)
}

// leafWithTable opens an ultrapeer link and a leaf link whose QRP table
// holds one fresh word, and waits until the target has read the table (a
// Ping after it on the leaf link is answered).
func leafWithTable(t *T, compress bool) (up, leaf *link.Link, word string, err error) {
	if up, err = t.Ultrapeer(); err != nil {
		return nil, nil, "", err
	}
	if leaf, err = t.Leaf(); err != nil {
		return nil, nil, "", err
	}
	word = randomWord()
	fragment := 4096
	if compress {
		fragment = 16
	}
	msgs, err := tableMessages([]string{word}, compress, fragment)
	if err != nil {
		return nil, nil, "", err
	}
	if compress && len(msgs) < 3 {
		return nil, nil, "", fmt.Errorf("conform: the compressed patch came out in %d messages, want a RESET and at least 2 PATCHes", len(msgs))
	}
	if err := sendQRP(leaf, msgs); err != nil {
		return nil, nil, "", err
	}
	if err := alive(t, leaf); err != nil {
		return nil, nil, "", err
	}
	return up, leaf, word, nil
}

// tableApplied checks that a Query for the word of a leaf's table reaches
// the leaf.
func tableApplied(t *T, compress bool) error {
	up, leaf, word, err := leafWithTable(t, compress)
	if err != nil {
		return err
	}
	_, err = relayed(t, up, leaf, "the Query for the table's word on the leaf link", newQuery(word, 3, 0, false))
	return err
}

// badSequence sends, as a leaf, the QRP messages pick chooses from a valid
// table, and expects the target to close the link.
func badSequence(t *T, pick func([]wire.QRP) []wire.QRP) error {
	if _, err := t.Ultrapeer(); err != nil {
		return err
	}
	leaf, err := t.Leaf()
	if err != nil {
		return err
	}
	msgs, err := tableMessages([]string{randomWord()}, false, 4096)
	if err != nil {
		return err
	}
	if len(msgs) < 3 {
		return fmt.Errorf("conform: the patch came out in %d messages, want at least 3", len(msgs))
	}
	if err := sendQRP(leaf, pick(msgs)); err != nil {
		return err
	}
	c, err := expectClosed(t, leaf, "the target to close the link after a broken PATCH sequence")
	if err == nil && c.bye != nil {
		t.Notef("Bye %d %q", c.bye.Bye.Code, c.bye.Bye.Reason())
	}
	return err
}

// badTable is a table that arrived but does not apply.
type badTable struct{ err error }

func (e *badTable) Error() string { return "conform: bad QRP table: " + e.err.Error() }

// receiveTable connects to a leaf as its ultrapeer and reads QRP messages
// until a table is complete.
func receiveTable(t *T) (*router.QueryRouteTable, []*wire.Message, error) {
	l, err := t.Ultrapeer()
	if err != nil {
		return nil, nil, err
	}
	return readTable(t, l)
}

// upQRP announces Ultrapeer QRP in a CONNECT.
var upQRP = wire.HandshakeHeader{Name: "X-Ultrapeer-Query-Routing", Value: "0.1"}

// receiveTableUP does the same with an ultrapeer that routes by QRP.
func receiveTableUP(t *T) (*router.QueryRouteTable, []*wire.Message, error) {
	l, err := t.Ultrapeer(upQRP)
	if err != nil {
		return nil, nil, err
	}
	if v, _ := l.Answer.Get("X-Ultrapeer-Query-Routing"); v == "" {
		return nil, nil, t.Skipf("the target does not announce X-Ultrapeer-Query-Routing")
	}
	return readTable(t, l)
}

func readTable(t *T, l *link.Link) (*router.QueryRouteTable, []*wire.Message, error) {
	recv := router.NewQRTReceiver(0)
	var msgs []*wire.Message
	deadline := time.Now().Add(t.Timeout())
	for {
		r, err := l.Next(time.Until(deadline))
		if err != nil {
			return nil, msgs, &Failure{Expected: "a complete QRP table (RESET, then PATCH n/n)",
				Got: fmt.Sprintf("%d QRP messages, then %v", len(msgs), err)}
		}
		if r.Err != nil && r.Msg.Header.Type == wire.TypeQRP {
			return nil, msgs, &badTable{err: r.Err}
		}
		if r.Err != nil || r.Msg.Header.Type != wire.TypeQRP {
			continue
		}
		msgs = append(msgs, r.Msg)
		table, err := recv.Handle(&r.Msg.QRP)
		if err != nil {
			return nil, msgs, &badTable{err: err}
		}
		if table != nil {
			return table, msgs, nil
		}
	}
}
