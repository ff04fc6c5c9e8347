package conform

import (
	"fmt"
	"strings"

	"github.com/govent/govent/cmd/internal/link"
	"github.com/govent/govent/wire"
)

// Push (Gnutella 0.4 sections 3.2.5, 4 and 6; 0.6 sections 2.2.8 and 4.2):
// routing Pushes by servent GUID, and a firewalled servent's GIV.

func pushGroup() *Group {
	return &Group{Key: "push", Title: "Push and GIV", Cases: []*Case{
		{
			Title:       "a Push goes to the link its servent's QueryHit came from, one hop on",
			Desc:        "A sends a Query, B answers with a QueryHit from servent S, then A sends a Push for S (TTL 3); watches B.",
			Requirement: `Push descriptors MUST be routed by Servent Identifier, not by Descriptor Id`,
			Severity:    Must, Spec: Spec{Gnutella04, "4"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				ls, servent, err := pushRoute(t)
				if err != nil {
					return err
				}
				p := newPush(servent, 1, dialledAddr(ls[0].Conn), 3)
				m, err := relayed(t, ls[0], ls[1], "the Push on the QueryHit's link", p)
				if err != nil {
					return err
				}
				return checkHop(m, p)
			},
		},
		{
			Title:       "a Push is not sent to the other links",
			Desc:        "As push/1, then a sentinel Query from A; watches C.",
			Requirement: `Push descriptors MAY ONLY be sent along the same path that carried the incoming QueryHit descriptor.`,
			Severity:    Must, Spec: Spec{Gnutella04, "4"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				ls, servent, err := pushRoute(t)
				if err != nil {
					return err
				}
				p := newPush(servent, 1, dialledAddr(ls[0].Conn), 3)
				return notForwardedOn(t, "the Push off its path", ls[0], p, isPushFor(servent), ls[2])
			},
		},
		{
			Title:       "a Push for a servent the target never saw is dropped",
			Desc:        "On A, sends a Push for a servent GUID no QueryHit named, then a sentinel Query; watches B and C.",
			Requirement: `A servent that receives a Push descriptor with Servent Identifier = n, but has not seen a QueryHit descriptor with Servent Identifier = n SHOULD remove the Push descriptor from the network.`,
			Severity:    Should, Spec: Spec{Gnutella04, "4"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				ls, err := t.Ultrapeers(3)
				if err != nil {
					return err
				}
				servent := wire.NewGUID()
				p := newPush(servent, 1, dialledAddr(ls[0].Conn), 3)
				return notForwardedOn(t, "the Push nobody can route", ls[0], p, isPushFor(servent), ls[1], ls[2])
			},
		},
		{
			Title:       "a Push repeated with the same message ID is dropped",
			Desc:        "As push/1; once B has the Push, A sends it again and a sentinel; watches B.",
			Requirement: `A servent receiving a message with the same Payload Message and Message ID as one it has received before, MUST discard the message.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.7.1"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				ls, servent, err := pushRoute(t)
				if err != nil {
					return err
				}
				p := newPush(servent, 1, dialledAddr(ls[0].Conn), 3)
				if _, err := relayed(t, ls[0], ls[1], "the Push on the QueryHit's link", p); err != nil {
					return err
				}
				return notForwardedOn(t, "the repeated Push", ls[0], p, isGUID(wire.TypePush, p.Header.GUID), ls[1])
			},
		},
		{
			Title:       "a second Push for the same servent with a new message ID is routed too",
			Desc:        "As push/1; once B has the Push, A sends another Push for S with a new GUID; watches B.",
			Requirement: `Push messages MUST only be considered as duplicates if the Message ID in the header is the same.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.8"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				ls, servent, err := pushRoute(t)
				if err != nil {
					return err
				}
				for i := range 2 {
					p := newPush(servent, 1, dialledAddr(ls[0].Conn), 3)
					if _, err := relayed(t, ls[0], ls[1], fmt.Sprintf("Push %d of 2 on the QueryHit's link", i+1), p); err != nil {
						return err
					}
				}
				return nil
			},
		},
		{
			Title:       "a Push for the target makes it connect back and send a GIV with its servent GUID",
			Desc:        "Listens on the address our link to the target comes from and sends it a Push for its own servent GUID (from its QueryHit, or its GUID header) naming that address.",
			Requirement: `The servent that is the target of the Push request ... SHOULD, upon receipt of the Push message, attempt to establish a new TCP/IP connection to the requesting servent`,
			Severity:    Should, Spec: Spec{Gnutella06, "4.2"},
			Run: func(t *T) error {
				_, _, err := pushToTarget(t, false)
				return err
			},
		},
		{
			Title:       "after its GIV, the target serves a GET for any of its files",
			Desc:        "As push/6 with the Push naming another file index than the shared file; on the GIV connection, requests the shared file (urn or /get/) with Range: bytes=0-0.",
			Requirement: `The servent that sent the GIV MUST allow the client to request any file, and not just the one specified in the Push message.`,
			Severity:    Must, Spec: Spec{Gnutella06, "4.2"},
			Run: func(t *T) error {
				cb, hit, err := pushToTarget(t, true)
				if err != nil {
					return err
				}
				rep, err := httpRequest(t, cb, "GET", hitTarget(hit), "Range: bytes=0-0")
				if err != nil {
					return err
				}
				if rep.code != 200 && rep.code != 206 {
					return t.Failf("200 or 206 on the GIV connection", "%q", rep.status)
				}
				return nil
			},
		},
	}}
}

// pushRoute opens A, B and C, sends a Query on A, answers it on B with a
// QueryHit from a fresh servent GUID, and waits until the hit reaches A:
// the target now knows B as the way to that servent.
func pushRoute(t *T) ([]*link.Link, wire.GUID, error) {
	ls, q, _, err := queryAcross(t, 2)
	if err != nil {
		return nil, wire.GUID{}, err
	}
	servent := wire.NewGUID()
	if err := ls[1].Send(newHit(q, servent, 3)); err != nil {
		return nil, wire.GUID{}, err
	}
	if _, err := expect(t, ls[0], "the QueryHit on the Query's link", isReplyTo(q, wire.TypeQueryHit)); err != nil {
		return nil, wire.GUID{}, err
	}
	return ls, servent, nil
}

// pushToTarget sends the target a Push for itself naming our listener and
// returns the connection it opens, after checking its GIV. With needFile
// the shared file must be known, and the Push names another index.
func pushToTarget(t *T, needFile bool) (*link.Link, *Hit, error) {
	hit, herr := t.Hit()
	if needFile && herr != nil {
		return nil, nil, herr
	}
	l, err := t.Ultrapeer()
	if err != nil {
		return nil, nil, err
	}
	var servent wire.GUID
	index := uint32(0)
	switch {
	case hit != nil:
		servent, index = hit.ServentGUID, hit.Index+1
	default:
		v, _ := l.Answer.Get("GUID")
		g, err := wire.ParseGUID(strings.TrimSpace(v))
		if err != nil {
			return nil, nil, t.Skipf("the target's servent GUID is unknown: no QueryHit for --query and no GUID header")
		}
		servent = g
	}
	ln, err := t.ListenBeside(l)
	if err != nil {
		return nil, nil, err
	}
	if err := l.Send(newPush(servent, index, ln.Addr(), 1)); err != nil {
		return nil, nil, err
	}
	cb, err := ln.Accept(t.Timeout())
	if err != nil {
		return nil, nil, t.Failf("a connection to "+ln.Addr().String()+" after the Push", "%v", err)
	}
	t.keepCallback(cb)
	giv, err := cb.ReadGIV()
	if err != nil {
		return nil, nil, t.Failf(`"GIV <index>:<servent GUID>/<name>\n\n"`, "%v", err)
	}
	if giv.ServentGUID != servent {
		return nil, nil, t.Failf("a GIV for servent "+servent.String(), "GIV for %s", giv.ServentGUID)
	}
	t.Notef("GIV %d:%s/%s", giv.Index, giv.ServentGUID, giv.Name)
	return cb, hit, nil
}
