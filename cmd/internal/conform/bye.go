package conform

import (
	"bytes"
	"errors"

	"github.com/govent/govent/cmd/internal/link"
	"github.com/govent/govent/wire"
)

// Bye (Gnutella 0.6 section 2.2.9, gtk-gnutella's bye document): ending a
// link with a reason.

func byeGroup() *Group {
	return &Group{Key: "bye", Title: "Bye", Cases: []*Case{
		{
			Title:       "a Bye we send ends the link",
			Desc:        "Connects as an ultrapeer (Bye-Packet: 0.1), sends Bye 200 with TTL 1, hops 0, and waits for the close.",
			Requirement: `A servent receiving a Bye message MUST close he connection immediately.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.9"},
			Run: func(t *T) error {
				_, err := sayBye(t)
				return err
			},
		},
		{
			Title:       "the target does not answer our Bye with its own",
			Desc:        "As bye/1, and looks for a Bye before the close.",
			Requirement: `A Bye packet should not be sent back on the connection before closing, since the remote party already initiated the farewell.`,
			Severity:    Should, Spec: Spec{Bye, "4"},
			Run: func(t *T) error {
				c, err := sayBye(t)
				if err != nil {
					return err
				}
				if c.bye != nil {
					return t.Failf("a close without a Bye back", "%s", link.Summary(c.bye))
				}
				return nil
			},
		},
		{
			Title:       "after its Bye, the target sends nothing more",
			Desc:        "Makes the target say Bye (a Ping header announcing 16 MiB, or if it closes without one, a Ping of 65,535 bytes) and reads to the close.",
			Requirement: `Other data MUST NOT be sent after the Bye message.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.9"},
			Conns: 2,
			Run: func(t *T) error {
				c, err := targetBye(t)
				if err != nil {
					return err
				}
				if len(c.after) > 0 {
					return t.Failf("nothing after the Bye", "%d descriptors, first %s", len(c.after), link.Summary(c.after[0]))
				}
				return nil
			},
		},
		{
			Title:       "the target's Bye has TTL 1 and hops 0",
			Desc:        "Makes the target say Bye as bye/3 does and reads its header.",
			Requirement: `A Bye packet MUST be sent with TTL=1 (to avoid accidental propagation by an unaware servent), and hops=0 (of course).`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.9"},
			Conns: 2,
			Run: func(t *T) error {
				c, err := targetBye(t)
				if err != nil {
					return err
				}
				if h := c.bye.Header; h.TTL != 1 || h.Hops != 0 {
					return t.Failf("TTL 1, hops 0", "TTL %d, hops %d", h.TTL, h.Hops)
				}
				return nil
			},
		},
		{
			Title:       "the target's Bye for our oversized descriptor has a 4xx code",
			Desc:        "Makes the target say Bye as bye/3 does and reads its code.",
			Requirement: `4xx The User did something wrong, as far as the servent is concerned. It can send packets deemed too big (400)`,
			Severity:    Should, Spec: Spec{Bye, "2"},
			Conns: 2,
			Run: func(t *T) error {
				c, err := targetBye(t)
				if err != nil {
					return err
				}
				if code := c.bye.Bye.Code; code < 400 || code > 499 {
					return t.Failf("a 4xx code", "Bye %d %q", code, c.bye.Bye.Reason())
				}
				t.Notef("Bye %d %q", c.bye.Bye.Code, c.bye.Bye.Reason())
				return nil
			},
		},
		{
			Title:       "the target's Bye uses the long form with a Server header",
			Desc:        "Makes the target say Bye as bye/3 does and reads its text.",
			Requirement: `Unless circumstances making that impossible ..., the HTTP-like headers version SHOULD be used, with at least a Server: header, allowing better tracing and debugging.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.2.9"},
			Conns: 2,
			Run: func(t *T) error {
				c, err := targetBye(t)
				if err != nil {
					return err
				}
				for line := range bytes.SplitSeq(c.bye.Bye.Headers(), []byte("\r\n")) {
					if name, _, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Server")) {
						return nil
					}
				}
				return t.Failf("a Server: header line after the reason", "%q", c.bye.Bye.Text)
			},
		},
	}}
}

// sayBye sends a Bye 200 and reads until the target closes.
func sayBye(t *T) (closed, error) {
	l, err := t.Ultrapeer()
	if err != nil {
		return closed{}, err
	}
	bye := &wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeBye, TTL: 1},
		Bye: wire.NewBye(wire.ByeNormal, "Conformance test", "Server: "+link.UserAgent)}
	if err := l.Send(bye); err != nil {
		return closed{}, err
	}
	return expectClosed(t, l, "the target to close the link after our Bye")
}

// bigPing is the payload length of the second way to make a servent say
// Bye: within the 64 KiB frame every servent reads, over gtk-gnutella's
// limit for a Ping (other_messages_kick_size, 40960), which it answers
// with "Bye 400 Too large Ping message" (src/core/nodes.c, node_read).
const bigPing = 65535

// targetBye makes the target close a link with a Bye: a Ping header
// announcing 16 MiB, and when the target closes on that without a Bye (as
// gtk-gnutella does for a frame of 64 KiB or more), a Ping of bigPing
// bytes on a fresh link, followed by a TTL-1 Ping. A target that closes
// without a Bye both times, or takes the big Ping, skips the case.
func targetBye(t *T) (closed, error) {
	c, err := provokeBye(t)
	if err != nil || c.bye != nil {
		return c, err
	}
	l, err := t.Ultrapeer()
	if err != nil {
		return closed{}, err
	}
	h := wire.Header{GUID: wire.NewGUID(), Type: wire.TypePing, TTL: 1, Length: bigPing}
	big := append(h.Append(nil), make([]byte, bigPing)...)
	if err := l.SendBytes(big); err == nil {
		_ = l.Send(newPing(1, 0))
	}
	for {
		r, err := l.Next(t.Timeout())
		switch {
		case errors.Is(err, link.ErrTimeout):
			return closed{}, t.Skipf("the target closed the 16 MiB header without a Bye, and said nothing to a %d-byte Ping", bigPing)
		case err != nil:
			return closed{}, t.Skipf("the target closed without a Bye (after a 16 MiB header, and after a %d-byte Ping)", bigPing)
		case r.Err == nil && r.Msg.Header.Type == wire.TypePong:
			return closed{}, t.Skipf("the target closed the 16 MiB header without a Bye, and took a %d-byte Ping", bigPing)
		case r.Err == nil && r.Msg.Header.Type == wire.TypeBye:
			return readAfterBye(t, l, r.Msg)
		}
	}
}

// readAfterBye reads l to the close after the target's Bye, keeping what
// came after it.
func readAfterBye(t *T, l *link.Link, bye *wire.Message) (closed, error) {
	c := closed{bye: bye}
	for {
		r, err := l.Next(t.Timeout())
		if errors.Is(err, link.ErrTimeout) {
			return c, t.Failf("the close after the Bye", "the link still open %s after it", t.Timeout())
		}
		if err != nil {
			c.err = err
			return c, nil
		}
		c.after = append(c.after, r.Msg)
	}
}
