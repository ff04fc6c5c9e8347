package conform

import (
	"bytes"
	"strings"

	"github.com/govent/govent/cmd/internal/link"
)

// Link compression (gtk-gnutella's compression document, Gnutella 0.6
// appendix 5): deflate negotiated per direction in the handshake.

func deflateGroup() *Group {
	return &Group{Key: "deflate", Title: "Link compression", Cases: []*Case{
		{
			Title:       "a target that answers Content-Encoding: deflate sends a deflate stream",
			Desc:        "Connects with Accept-Encoding: deflate (and sends plain); when the target says Content-Encoding: deflate, inflates its stream and pings.",
			Requirement: `And to accept compression, the other side acknowledges by sending: Content-Encoding: deflate`,
			Severity:    Must, Spec: Spec{Compression, "3"},
			Run: func(t *T) error {
				l, err := t.Dial(link.Options{Ultrapeer: true, AcceptDeflate: true})
				if err != nil {
					return err
				}
				if !l.Inflating {
					return t.Skipf("the target does not compress what it sends (compression is optional)")
				}
				return alive(t, l)
			},
		},
		{
			Title:       "without our Accept-Encoding, the target sends uncompressed",
			Desc:        "Connects without Accept-Encoding and pings, reading the stream as plain descriptors.",
			Requirement: `If a servent, for example, wants to compress the Gnutella messages, it MUST first make sure the remote host of a connection can decompress the stream (during handshake), and otherwise leave the messages uncompressed.`,
			Severity:    Must, Spec: Spec{Gnutella06, "1.4"},
			Run: func(t *T) error {
				l, err := t.Dial(link.Options{Ultrapeer: true})
				if err != nil {
					return err
				}
				if l.Inflating {
					return t.Failf("no Content-Encoding: deflate", "Content-Encoding: deflate though we offered no Accept-Encoding")
				}
				return alive(t, l)
			},
		},
		{
			Title:       "a target that accepts deflate reads our compressed stream and answers uncompressed",
			Desc:        "Connects without Accept-Encoding; when the target offers Accept-Encoding: deflate, says Content-Encoding: deflate, compresses a Ping and reads the plain Pong.",
			Requirement: `This also means that compression settings is asymmetric: a node can send compressed data but receive uncompressed data.`,
			Severity:    Must, Spec: Spec{Compression, "3"},
			Run: func(t *T) error {
				l, err := t.Dial(link.Options{Ultrapeer: true, Deflate: true})
				if err != nil {
					return err
				}
				if !l.Deflating {
					return t.Skipf("the target does not offer Accept-Encoding: deflate")
				}
				return alive(t, l)
			},
		},
		{
			Title:       "Content-Encoding names one encoding",
			Desc:        "Connects with Accept-Encoding: deflate and reads the answer's Content-Encoding.",
			Requirement: `The Content-Encoding MUST contain only one value.`,
			Severity:    Must, Spec: Spec{Compression, "3"},
			Run: func(t *T) error {
				l, err := t.Dial(link.Options{Ultrapeer: true, AcceptDeflate: true})
				if err != nil {
					return err
				}
				vals := l.Answer.Values("Content-Encoding")
				if len(vals) == 0 {
					return t.Skipf("the target sends no Content-Encoding")
				}
				if n := len(strings.Split(strings.Join(vals, ","), ",")); n != 1 {
					return t.Failf("one value", "Content-Encoding: %s", strings.Join(vals, ", "))
				}
				return nil
			},
		},
		{
			Title:       "garbage in our compressed stream ends the link",
			Desc:        "Negotiates our compression as deflate/3 does, pings, then sends 32 bytes that are no deflate data, ended as a sync flush ends.",
			Requirement: `If a servent becomes out of synch with its input stream, it SHOULD close the connection associated with the stream`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.2.1"},
			Run: func(t *T) error {
				l, err := t.Dial(link.Options{Ultrapeer: true, Deflate: true})
				if err != nil {
					return err
				}
				if !l.Deflating {
					return t.Skipf("the target does not offer Accept-Encoding: deflate")
				}
				if err := alive(t, l); err != nil {
					return err
				}
				// 0xFF starts a block of the reserved type 3: no inflater
				// can read it. The garbage ends as a sync flush does, the
				// way every compressed Gnutella stream is cut: an
				// inflater that waits for a whole flushed segment before
				// inflating (Govent's linkzip) must decide then too.
				garbage := append(bytes.Repeat([]byte{0xFF}, 32), 0x00, 0x00, 0xFF, 0xFF)
				if err := l.WriteRaw(garbage); err != nil {
					return nil // already closed
				}
				_, err = expectClosed(t, l, "the target to close the corrupt compressed stream")
				return err
			},
		},
	}}
}
