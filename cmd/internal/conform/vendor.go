package conform

import (
	"github.com/govent/govent/cmd/internal/english"
	"github.com/govent/govent/cmd/internal/link"
	"github.com/govent/govent/wire"
)

// Vendor messages (gtk-gnutella's vendor_msg document, Gnutella 0.4
// sections 3.2.8 and 3.2.9): types 0x31 and 0x32, and Messages-Supported.

// vendorCNFM is the vendor code of the messages the suite makes up.
var vendorCNFM = [4]byte{'C', 'N', 'F', 'M'}

func vendorGroup() *Group {
	return &Group{Key: "vendor", Title: "Vendor messages", Cases: []*Case{
		{
			Title:       "Messages-Supported is read without closing the link",
			Desc:        "Sends Messages-Supported (0000/0v0, TTL 1, hops 0) listing one message, then a TTL-1 Ping.",
			Requirement: `Note that understanding 0x31 messages simply means that you will read the message and not terminate the connection.`,
			Severity:    Must, Spec: Spec{VendorMessage, "3"},
			Run: func(t *T) error {
				v, err := wire.NewMessagesSupported([]wire.VendorEntry{{Vendor: vendorCNFM, Selector: 7, Version: 1}})
				if err != nil {
					return err
				}
				return vendorThenAlive(t, &wire.Message{Header: wire.Header{Type: wire.TypeVendor, TTL: 1}, Vendor: v})
			},
		},
		{
			Title:       "an unknown vendor message is dropped without closing the link",
			Desc:        "Sends vendor message CNFM/7v1 (type 0x31, TTL 1, hops 0), then a TTL-1 Ping.",
			Requirement: `Unknown messages types, or messages sent with something other than TTL=1 and hops=0 MUST be dropped without prejudice.`,
			Severity:    Must, Spec: Spec{VendorMessage, "2"},
			Run: func(t *T) error { return vendorThenAlive(t, cnfm(wire.TypeVendor, 1)) },
		},
		{
			Title:       "an unknown standard vendor message (0x32) is dropped without closing the link",
			Desc:        "Sends CNFM/7v1 as type 0x32 (TTL 1, hops 0), then a TTL-1 Ping.",
			Requirement: `Unknown messages types, or messages sent with something other than TTL=1 and hops=0 MUST be dropped without prejudice.`,
			Severity:    Must, Spec: Spec{VendorMessage, "2"},
			Run: func(t *T) error { return vendorThenAlive(t, cnfm(wire.TypeStdVendor, 1)) },
		},
		{
			Title:       "a vendor message with TTL above 1 is not forwarded",
			Desc:        "On the first of three ultrapeer links, sends CNFM/7v1 with TTL 3, then a sentinel Query; watches the other two.",
			Requirement: `On reception, a non-aware servent MUST NOT blindly forward this descriptor`,
			Severity:    Must, Spec: Spec{Gnutella04, "3.2.8"}, Role: Ultrapeer,
			Conns: 3,
			Run: func(t *T) error {
				m := cnfm(wire.TypeVendor, 3)
				m.Header.GUID = wire.NewGUID()
				return notForwarded(t, "the vendor message", m, isGUID(wire.TypeVendor, m.Header.GUID))
			},
		},
		{
			Title:       "a servent that announces Vendor-Message sends Messages-Supported, with TTL 1 and hops 0",
			Desc:        "Connects as an ultrapeer announcing Vendor-Message: 0.2 and waits for 0000/0v0.",
			Requirement: `Whenever a servent supporting vendor messages meets another servent that has advertised "Vendor-Message" in its handshaking header, it MUST send it a "Messages Supported" message`,
			Severity:    Must, Spec: Spec{VendorMessage, "4"},
			Run: func(t *T) error {
				l, err := t.Ultrapeer()
				if err != nil {
					return err
				}
				if _, ok := l.Answer.Get("Vendor-Message"); !ok {
					return t.Skipf("the target does not announce Vendor-Message")
				}
				m, err := expect(t, l, "Messages-Supported (0000/0v0)", func(m *wire.Message) bool {
					return (m.Header.Type == wire.TypeVendor || m.Header.Type == wire.TypeStdVendor) && m.Vendor.IsMessagesSupported()
				})
				if err != nil {
					return err
				}
				if m.Header.TTL != 1 || m.Header.Hops != 0 {
					return t.Failf("TTL 1, hops 0", "%s", link.Summary(m))
				}
				entries, err := wire.AppendMessagesSupported(nil, m.Vendor.Body)
				if err != nil {
					return t.Failf("a Messages-Supported vector that parses", "%v", err)
				}
				t.Notef("%s supported", english.Count(len(entries), "message", "messages"))
				return nil
			},
		},
	}}
}

// cnfm is a vendor message nobody knows.
func cnfm(typ wire.PayloadType, ttl uint8) *wire.Message {
	return &wire.Message{Header: wire.Header{Type: typ, TTL: ttl},
		Vendor: wire.Vendor{Vendor: vendorCNFM, Selector: 7, Version: 1, Body: []byte("conformance")}}
}

// vendorThenAlive sends m and checks the link still answers a Ping.
func vendorThenAlive(t *T, m *wire.Message) error {
	l, err := t.Ultrapeer()
	if err != nil {
		return err
	}
	if err := l.Send(m); err != nil {
		return err
	}
	return alive(t, l)
}
