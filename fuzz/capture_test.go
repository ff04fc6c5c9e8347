package fuzz

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/capture"
)

// truncFeedback records what a layer reports through
// gopacket.DecodeFeedback.
type truncFeedback struct{ truncated bool }

func (f *truncFeedback) SetTruncated() { f.truncated = true }

// FuzzCaptureLayer decodes the Gnutella layer straight through
// DecodeFromBytes (gopacket's parsers recover panics and would hide them)
// and holds it to the framing rules: one header, a payload of exactly its
// length, nothing over MaxPayload, a short input truncated.
func FuzzCaptureLayer(f *testing.F) {
	f.Add(golden(f, "query"), uint32(0))
	f.Add(golden(f, "queryhit"), uint32(100)) // over the limit
	f.Add(golden(f, "pong")[:30], uint32(0))  // cut in the payload
	f.Add(golden(f, "ping-empty"), uint32(1))
	f.Fuzz(func(t *testing.T, data []byte, max uint32) {
		g := capture.Gnutella{MaxPayload: max}
		var df truncFeedback
		err := g.DecodeFromBytes(data, &df)

		limit := max
		if limit == 0 {
			limit = capture.DefaultMaxPayload
		}
		h, herr := wire.ParseHeader(data)
		switch {
		case herr != nil || (h.Length <= limit && len(data) < wire.HeaderLen+int(h.Length)):
			require.ErrorIs(t, err, wire.ErrFrame)
			require.ErrorIs(t, err, wire.ErrTruncated)
			require.True(t, df.truncated, "a short descriptor must set truncated")
			return
		case h.Length > limit:
			require.ErrorIs(t, err, wire.ErrFrame)
			require.ErrorIs(t, err, wire.ErrTooLarge)
			return
		}
		require.NoError(t, err)
		require.False(t, df.truncated)
		n := wire.HeaderLen + int(h.Length)
		require.Equal(t, h, g.Header)
		require.Equal(t, n, g.Len())
		requireBytes(t, data[:wire.HeaderLen], g.LayerContents())
		requireBytes(t, data[wire.HeaderLen:n], g.Payload())
		require.Equal(t, capture.LayerTypeGnutella, g.LayerType())
		if h.Length == 0 {
			require.Equal(t, gopacket.LayerTypeZero, g.NextLayerType())
		} else {
			require.Equal(t, gopacket.LayerTypePayload, g.NextLayerType())
		}
	})
}
