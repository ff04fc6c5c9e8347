package servent

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// Deviations from the specs that `govent conform` found (the case ids
// name the conformance cases that check them end to end).

// TestXMaxTTLAtMostFour: an ultrapeer announcing X-Dynamic-Querying says
// X-Max-TTL of at most 4 (dynamic_query 2.5.3.2.1: "The X-Max-TTL MUST NOT
// exceed 4"), whatever the TTL of its own Queries. Case handshake/4.
func TestXMaxTTLAtMostFour(t *testing.T) {
	vtest(t, func(t *testing.T) {
		s := startServent(t, testConfig(t))
		p := dialRaw(t, s.Addr())
		ans := p.handshake06()
		_, dq := ans.Get("X-Dynamic-Querying")
		require.True(t, dq)
		v, _ := ans.Get("X-Max-TTL")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		require.NoError(t, err, "X-Max-TTL %q", v)
		assert.GreaterOrEqual(t, n, 1)
		assert.LessOrEqual(t, n, 4)
	})
}

// TestAlivePingsAlwaysAnswered: a TTL-1 Ping (hops 0 or 1) probes the link
// and "MUST always be replied to" (0.6 section 2.2.4), so the Ping flood
// throttle does not apply to it, as gtk-gnutella always accepts them. A
// wider Ping right after one is still throttled. Case ping/2.
func TestAlivePingsAlwaysAnswered(t *testing.T) {
	vtest(t, func(t *testing.T) {
		s := startServent(t, testConfig(t))
		p := dialRaw(t, s.Addr())
		p.handshake06()
		isPong := func(m *wire.Message) bool { return m.Header.Type == wire.TypePong }
		for i := range uint32(3) {
			g := guidN(0xA1, i)
			p.send(wire.Message{Header: wire.Header{GUID: g, Type: wire.TypePing, TTL: 1, Hops: uint8(i % 2)}})
			m := p.readUntil("a Pong", isPong)
			assert.Equal(t, g, m.Header.GUID, "alive Ping %d", i)
		}
		// Two wide Pings at once: the second falls within the throttle, and
		// an alive Ping after them is answered first and alone.
		w1, w2, alive := guidN(0xA2, 1), guidN(0xA2, 2), guidN(0xA2, 3)
		for _, g := range []wire.GUID{w1, w2} {
			p.send(wire.Message{Header: wire.Header{GUID: g, Type: wire.TypePing, TTL: 3}})
		}
		p.send(wire.Message{Header: wire.Header{GUID: alive, Type: wire.TypePing, TTL: 1}})
		seen := map[wire.GUID]bool{}
		p.readUntil("the alive Ping's Pong", func(m *wire.Message) bool {
			if isPong(m) {
				seen[m.Header.GUID] = true
			}
			return seen[alive]
		})
		assert.True(t, seen[w1], "the first wide Ping is answered")
		assert.False(t, seen[w2], "the second wide Ping, within a second, is throttled")
		assert.EqualValues(t, 1, s.Stats().PingsThrottled)
	})
}
