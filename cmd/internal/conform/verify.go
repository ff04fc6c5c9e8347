package conform

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/govent/govent/cmd/internal/link"
	"github.com/govent/govent/wire"
)

// The verifiers. Each reads one link until it sees what it waits for,
// skipping what does not concern it (the target's own Pings, its QRP
// table, vendor messages), and gives up after the run's timeout with a
// Failure that says what was expected and what came instead.

// evidence keeps the last few things a verifier skipped, for its failure.
type evidence []string

func (e *evidence) add(r link.Received) {
	s := link.Summary(r.Msg)
	if r.Err != nil {
		s = "malformed " + s + ": " + r.Err.Error()
	}
	if len(*e) == 3 {
		*e = append((*e)[:0], (*e)[1:]...)
	}
	*e = append(*e, s)
}

func (e evidence) String() string {
	if len(e) == 0 {
		return "nothing else"
	}
	return strings.Join(e, " | ")
}

// gotNothing describes a wait that ended without a match.
func gotNothing(err error, wait time.Duration, seen evidence) string {
	if errors.Is(err, link.ErrTimeout) {
		return fmt.Sprintf("nothing within %s (before that: %s)", wait, seen)
	}
	return fmt.Sprintf("%v (before that: %s)", err, seen)
}

// expect reads l until a descriptor matches and returns it.
func expect(t *T, l *link.Link, what string, match func(*wire.Message) bool) (*wire.Message, error) {
	deadline := time.Now().Add(t.Timeout())
	var seen evidence
	for {
		r, err := l.Next(time.Until(deadline))
		if err != nil {
			return nil, &Failure{Expected: what, Got: gotNothing(err, t.Timeout(), seen)}
		}
		if r.Err == nil && match(r.Msg) {
			return r.Msg, nil
		}
		seen.add(r)
	}
}

// expectNotBefore reads l until the sentinel arrives; a forbidden
// descriptor before it fails the case. Descriptors on one link keep their
// order (and what a servent forwards wrongly is never of lower priority
// than the Query sentinels the cases use), so the sentinel arriving first
// proves the forbidden one was dropped.
func expectNotBefore(t *T, l *link.Link, what string, forbidden, sentinel func(*wire.Message) bool) error {
	deadline := time.Now().Add(t.Timeout())
	var seen evidence
	for {
		r, err := l.Next(time.Until(deadline))
		expected := "no " + bare(what) + " before the sentinel sent after it"
		if err != nil {
			return &Failure{Expected: expected, Got: "no sentinel: " + gotNothing(err, t.Timeout(), seen)}
		}
		if r.Err == nil && forbidden(r.Msg) {
			return &Failure{Expected: expected, Got: link.Summary(r.Msg)}
		}
		if r.Err == nil && sentinel(r.Msg) {
			return nil
		}
		seen.add(r)
	}
}

// bare drops a leading article: "the Push" reads "no Push".
func bare(what string) string {
	for _, a := range []string{"the ", "a ", "an "} {
		if rest, ok := strings.CutPrefix(what, a); ok {
			return rest
		}
	}
	return what
}

// settle is how long Ping checks keep reading after their sentinel: Pings
// are the least urgent class, so a servent may send a Ping queued before
// the sentinel after it.
const settle = 100 * time.Millisecond

// countUntil reads l until the sentinel arrives, then for settle more, and
// counts the descriptors that match count.
func countUntil(t *T, l *link.Link, count, sentinel func(*wire.Message) bool) (int, error) {
	deadline := time.Now().Add(t.Timeout())
	n := 0
	var seen evidence
	for {
		r, err := l.Next(time.Until(deadline))
		if err != nil {
			return n, &Failure{Expected: "the sentinel Query", Got: gotNothing(err, t.Timeout(), seen)}
		}
		if r.Err == nil && count(r.Msg) {
			n++
			continue
		}
		if r.Err == nil && sentinel(r.Msg) {
			break
		}
		seen.add(r)
	}
	return n + countFor(l, settle, count), nil
}

// countFor reads l for d and counts the descriptors that match count.
func countFor(l *link.Link, d time.Duration, count func(*wire.Message) bool) int {
	end := time.Now().Add(d)
	n := 0
	for {
		r, err := l.Next(time.Until(end))
		if err != nil {
			return n
		}
		if r.Err == nil && count(r.Msg) {
			n++
		}
	}
}

// closed is what expectClosed saw: the Bye, if one came, and what came
// after it.
type closed struct {
	bye   *wire.Message
	after []*wire.Message
	// err is how the stream ended: wrapping link.ErrClosed for a clean
	// close, or the read error (a reset).
	err error
}

// expectClosed reads l until the target closes it.
func expectClosed(t *T, l *link.Link, what string) (closed, error) {
	deadline := time.Now().Add(t.Timeout())
	var c closed
	var seen evidence
	for {
		r, err := l.Next(time.Until(deadline))
		if errors.Is(err, link.ErrTimeout) {
			return c, &Failure{Expected: what, Got: fmt.Sprintf("the link still open after %s (last received: %s)", t.Timeout(), seen)}
		}
		if err != nil {
			c.err = err
			return c, nil
		}
		switch {
		case c.bye != nil:
			c.after = append(c.after, r.Msg)
		case r.Err == nil && r.Msg.Header.Type == wire.TypeBye:
			c.bye = r.Msg
		}
		seen.add(r)
	}
}

// relayed sends m on from and returns its copy arriving on to.
func relayed(t *T, from, to *link.Link, what string, m *wire.Message) (*wire.Message, error) {
	if err := from.Send(m); err != nil {
		return nil, err
	}
	return expect(t, to, what, isGUID(m.Header.Type, m.Header.GUID))
}

// alive sends a TTL-1 Ping on l and waits for a Pong (whatever its GUID:
// the GUID is ping/2's business, and liveness should not fail for it).
func alive(t *T, l *link.Link) error {
	if err := l.Send(newPing(1, 0)); err != nil {
		return fmt.Errorf("sending a TTL-1 Ping: %w", err)
	}
	_, err := expect(t, l, "a Pong to a TTL-1 Ping (the link still works)", isType(wire.TypePong))
	return err
}

// freshAlive proves the target still serves: a new connection handshakes
// and answers a Ping.
func freshAlive(t *T) error {
	l, err := t.Ultrapeer()
	if err != nil {
		return &Failure{Expected: "a fresh connection to be accepted afterwards", Got: err.Error()}
	}
	return alive(t, l)
}

// Matchers.

func isType(typ wire.PayloadType) func(*wire.Message) bool {
	return func(m *wire.Message) bool { return m.Header.Type == typ }
}

func isGUID(typ wire.PayloadType, g wire.GUID) func(*wire.Message) bool {
	return func(m *wire.Message) bool { return m.Header.Type == typ && m.Header.GUID == g }
}

func isReplyTo(req *wire.Message, typ wire.PayloadType) func(*wire.Message) bool {
	return isGUID(typ, req.Header.GUID)
}

// isPushFor matches a Push naming servent.
func isPushFor(servent wire.GUID) func(*wire.Message) bool {
	return func(m *wire.Message) bool { return m.Header.Type == wire.TypePush && m.Push.ServentGUID == servent }
}

// Descriptors the cases send.

func newPing(ttl, hops uint8) *wire.Message {
	return &wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePing, TTL: ttl, Hops: hops}}
}

// newQuery builds a Query for text; withURN asks for urns on the results
// (the HUGE generic "urn:" extension). Its flags claim nothing beyond the
// 0.6 marker: a querier that says it reads GGEP "H" gets its hashes there
// (gtk-gnutella then sends bitprints in "H" instead of urn:sha1 text), and
// the suite reads urns only.
func newQuery(text string, ttl, hops uint8, withURN bool) *wire.Message {
	q := wire.Query{Criteria: []byte(text)}
	q.SetFlags(0)
	if withURN {
		q.Ext = wire.ExtArea{Blocks: []wire.ExtBlock{{Kind: wire.ExtURN, Data: []byte("urn:")}}}
	}
	return &wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeQuery, TTL: ttl, Hops: hops}, Query: q}
}

// randomWord is a keyword no servent shares.
func randomWord() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "cnf" + hex.EncodeToString(b[:])
}

// sentinel is a fresh Query for a word nobody has, that every ultrapeer
// forwards to its ultrapeer neighbours (TTL 3, so not on its last hop).
func sentinel() *wire.Message { return newQuery(randomWord(), 3, 0, false) }

// newHit builds a QueryHit answering query with one result, from servent.
// Its address is in TEST-NET-1 (RFC 5737) and its push flag set: nobody
// should or could dial it.
func newHit(query *wire.Message, servent wire.GUID, ttl uint8) *wire.Message {
	qh := wire.QueryHit{
		Port: 6346, Addr: netip.MustParseAddr("192.0.2.7"), Speed: 1000,
		Results: []wire.Result{{Index: 1, Size: 1234, Name: []byte(randomWord() + ".txt"),
			Ext: wire.ExtArea{Terminated: true}}},
		HasQHD: true, QHD: wire.QHD{Vendor: [4]byte{'C', 'N', 'F', 'M'}}, ServentGUID: servent,
	}
	qh.QHD.SetPush(true)
	return &wire.Message{Header: wire.Header{GUID: query.Header.GUID, Type: wire.TypeQueryHit, TTL: ttl}, QueryHit: qh}
}

// newPush asks servent to push file index to addr.
func newPush(servent wire.GUID, index uint32, addr netip.AddrPort, ttl uint8) *wire.Message {
	return &wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePush, TTL: ttl},
		Push: wire.Push{ServentGUID: servent, Index: index, Addr: addr.Addr().Unmap(), Port: addr.Port()}}
}

// forwarded returns the header a descriptor sent with h should have after
// one hop.
func forwarded(h wire.Header) (ttl, hops uint8) { return h.TTL - 1, h.Hops + 1 }

// checkHop fails unless m arrived with TTL and hops one hop on from sent.
func checkHop(m *wire.Message, sent *wire.Message) error {
	ttl, hops := forwarded(sent.Header)
	if m.Header.TTL != ttl || m.Header.Hops != hops {
		return &Failure{Expected: fmt.Sprintf("TTL %d and hops %d (sent with TTL %d, hops %d)", ttl, hops, sent.Header.TTL, sent.Header.Hops),
			Got: fmt.Sprintf("TTL %d, hops %d", m.Header.TTL, m.Header.Hops)}
	}
	return nil
}
