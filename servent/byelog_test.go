package servent

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/govent/govent/wire"
)

// A Bye's reason is the peer's text: logged clipped, not its 60 KiB.
func TestHugeByeReasonIsLoggedClipped(t *testing.T) {
	cfg, logs := observedConfig(t)
	s := startServent(t, cfg)
	p := dialRaw(t, s.Addr())
	p.handshake06()
	p.send(wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeBye, TTL: 1},
		Bye: wire.NewBye(400, strings.Repeat("A", 60000))})
	p.expectClosed()
	e := waitLog(t, logs, "peer said Bye")
	reason, _ := e.ContextMap()["reason"].(string)
	assert.LessOrEqual(t, len(reason), 100, "logged %d bytes of reason", len(reason))
	assert.True(t, strings.HasPrefix(reason, "AAAA"), reason)
}
