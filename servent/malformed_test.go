package servent

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// rawHeader is a descriptor header written by hand (the length is whatever
// the test claims, not the payload's).
func rawHeader(t wire.PayloadType, ttl uint8, length uint32) []byte {
	g := wire.NewGUID()
	b := append([]byte(nil), g[:]...)
	b = append(b, byte(t), ttl, 0)
	return binary.LittleEndian.AppendUint32(b, length)
}

// TestBrokenFrame checks that a stream that cannot be framed gets Bye 400
// and a close at once, and that an oversized length is refused before the
// servent reads (or allocates) the payload: the client sends the header
// only and keeps its side open, so a servent waiting for the payload would
// never answer.
func TestBrokenFrame(t *testing.T) {
	tests := []struct {
		name      string
		send      []byte
		closeSend bool // end our side after sending
		reason    string
	}{
		{name: "payload length of 1 GiB", send: rawHeader(wire.TypeQuery, 1, 1<<30), reason: "Too Large"},
		{name: "payload length one over the limit", send: rawHeader(wire.TypePing, 1, wire.DefaultMaxPayload+1), reason: "Too Large"},
		{name: "stream ends inside a payload", send: append(rawHeader(wire.TypeQuery, 1, 100), make([]byte, 10)...), closeSend: true, reason: "Broken Frame"},
		{name: "stream ends inside a header", send: rawHeader(wire.TypePing, 1, 0)[:10], closeSend: true, reason: "Broken Frame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vtest(t, func(t *testing.T) {
				s := startServent(t, testConfig(t))
				p := dialRaw(t, s.Addr())
				p.handshake06()
				waitFor(t, "registered", func() bool { return len(s.Peers()) == 1 })
				_, err := p.nc.Write(tt.send)
				require.NoError(t, err)
				if tt.closeSend {
					require.NoError(t, p.nc.CloseWrite())
				}
				bye := p.readBye()
				assert.EqualValues(t, 400, bye.Code)
				assert.Equal(t, tt.reason, string(bye.Reason()))
				waitFor(t, "connection gone", func() bool { return len(s.Peers()) == 0 })
			})
		})
	}
}

// TestMalformedDescriptors checks that unparsable payloads are dropped and
// counted while the link stays in step, and that MaxMalformed of them end
// the connection with Bye 400.
func TestMalformedDescriptors(t *testing.T) {
	vtest(t, func(t *testing.T) {
		bad := []struct {
			name string
			t    wire.PayloadType
			n    int // payload bytes, all zero
		}{
			{name: "Pong shorter than its fixed part", t: wire.TypePong, n: 5},
			{name: "Push of 3 bytes", t: wire.TypePush, n: 3},
			{name: "QueryHit of 2 bytes", t: wire.TypeQueryHit, n: 2},
			{name: "Push one byte short", t: wire.TypePush, n: wire.PushFixedLen - 1},
			{name: "Pong one byte short", t: wire.TypePong, n: wire.PongFixedLen - 1},
		}
		cfg := testConfig(t)
		require.Len(t, bad, DefaultMaxMalformed, "the last one must reach the limit")
		s := startServent(t, cfg)
		p := dialRaw(t, s.Addr())
		p.handshake06()
		waitFor(t, "registered", func() bool { return len(s.Peers()) == 1 })

		sendBad := func(i int) {
			b := append(rawHeader(bad[i].t, 1, uint32(bad[i].n)), make([]byte, bad[i].n)...)
			var m wire.Message
			h, _ := wire.ParseHeader(b)
			require.Error(t, m.Decode(h, b[wire.HeaderLen:]), "%s must not parse", bad[i].name)
			_, err := p.nc.Write(b)
			require.NoError(t, err)
		}
		for i := range DefaultMaxMalformed - 1 {
			sendBad(i)
		}
		// Still connected and in step: a Ping after them is answered.
		ping := wire.Message{Header: wire.Header{GUID: guidN('p', 1), Type: wire.TypePing, TTL: 1}}
		p.send(ping)
		pong := p.readUntil("the Pong", func(m *wire.Message) bool {
			return m.Header.Type == wire.TypePong && m.Header.GUID == ping.Header.GUID
		})
		assert.Equal(t, s.Addr(), pong.Pong.AddrPort())
		assert.EqualValues(t, DefaultMaxMalformed-1, s.Stats().Malformed)
		assert.Len(t, s.Peers(), 1)

		sendBad(DefaultMaxMalformed - 1)
		bye := p.readBye()
		assert.EqualValues(t, 400, bye.Code)
		assert.Equal(t, "Malformed Descriptors", string(bye.Reason()))
		assert.EqualValues(t, DefaultMaxMalformed, s.Stats().Malformed)
	})
}
