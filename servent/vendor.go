package servent

import (
	"go.uber.org/zap"

	"github.com/govent/govent/wire"
)

// supportedVendorMessages is what we list in Messages-Supported: the vendor
// messages we act on. We read every vendor message (and HSEP) without error
// but act on none, so the honest list is empty: it still tells the peer we
// speak vendor messages and spares it probing us with ones we would ignore.
var supportedVendorMessages []wire.VendorEntry

// sendMessagesSupported sends Messages-Supported (0000/0 v0) to a peer that
// announced Vendor-Message in its handshake, as gtk-gnutella does first
// thing on a new connection (with GUID zero, TTL 1).
func (s *Servent) sendMessagesSupported(c *conn) {
	if !c.peer.vendorMessages {
		return
	}
	v, err := wire.NewMessagesSupported(supportedVendorMessages)
	if err != nil {
		s.log.Warn("building Messages-Supported", zap.Error(err))
		return
	}
	m := wire.Message{Header: wire.Header{Type: wire.TypeVendor, TTL: 1}, Vendor: v}
	b, err := m.Append(nil)
	if err != nil {
		s.log.Warn("encoding Messages-Supported", zap.Error(err))
		return
	}
	c.enqueue(b, true)
}
