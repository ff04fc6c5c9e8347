package servent

import (
	"go.uber.org/zap"

	"github.com/govent/govent/wire"
)

// supportedVendorMessages is what we list in Messages-Supported: the vendor
// messages we act on (handleVendor; LIME/11 and LIME/12 arrive over UDP,
// oob.go). Everything else (and HSEP) is read without error and ignored.
var supportedVendorMessages = []wire.VendorEntry{
	{Vendor: wire.VendorLIME, Selector: wire.SelectorPushProxyRequest, Version: 1},
	{Vendor: wire.VendorLIME, Selector: wire.SelectorPushProxyRequest, Version: 2},
	{Vendor: wire.VendorLIME, Selector: wire.SelectorPushProxyAck, Version: 1},
	{Vendor: wire.VendorLIME, Selector: wire.SelectorPushProxyAck, Version: 2},
	{Vendor: wire.VendorGOVT, Selector: wire.SelectorRelayRequest, Version: 1},
	{Vendor: wire.VendorGOVT, Selector: wire.SelectorRelayGrant, Version: 1},
	{Vendor: wire.VendorLIME, Selector: wire.SelectorLimeACK, Version: 3},
	{Vendor: wire.VendorLIME, Selector: wire.SelectorReplyNumber, Version: 3},
	{Vendor: wire.VendorGTKG, Selector: wire.SelectorUDPConnectBack, Version: 1},
}

// handleVendor acts on the link-level vendor messages we support: push
// proxies (pushproxy.go), relay rendezvous (relay.go) and the UDP
// connect-back request (reach.go).
func (s *Servent) handleVendor(c *conn, m *wire.Message) {
	if m.Header.Type != wire.TypeVendor {
		return
	}
	v := &m.Vendor
	switch {
	case v.Vendor == wire.VendorLIME && v.Selector == wire.SelectorPushProxyRequest:
		s.acceptProxyRequest(c, m.Header.GUID)
	case v.Vendor == wire.VendorLIME && v.Selector == wire.SelectorPushProxyAck:
		s.learnOwnProxy(c, v)
	case v.Vendor == wire.VendorGOVT && v.Selector == wire.SelectorRelayRequest:
		s.xfer.relay.request(c, m.Header.GUID, v)
	case v.Vendor == wire.VendorGOVT && v.Selector == wire.SelectorRelayGrant:
		s.xfer.relay.granted(c, m.Header.GUID, v)
	case v.Vendor == wire.VendorGTKG && v.Selector == wire.SelectorUDPConnectBack:
		s.handleConnectBack(c, m)
	}
}

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
