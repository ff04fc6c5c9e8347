package servent

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// TestTrafficSurvivesDisconnect: the servent-wide traffic counts a link's
// descriptors while it is up and keeps them once it has gone, so that
// /metrics counters never go down when a peer leaves.
func TestTrafficSurvivesDisconnect(t *testing.T) {
	s := startServent(t, testConfig(t))
	for i := range 2 {
		p := dialRaw(t, s.Addr())
		p.handshake06()
		for n := range 3 {
			p.send(queryMsg(guidN(byte(i), uint32(n)), 1, "penguin"))
		}
		waitFor(t, "the Queries counted", func() bool { return s.Traffic().InMessages[wire.TypeQuery] == uint64(3*(i+1)) })
		live := s.Traffic()
		p.nc.Close()
		waitFor(t, "the link gone", func() bool { return len(s.Peers()) == 0 })
		after := s.Traffic()
		assert.Equal(t, live.InMessages[wire.TypeQuery], after.InMessages[wire.TypeQuery], "a closed link's Queries stay counted")
		assert.GreaterOrEqual(t, after.InBytes[wire.TypeQuery], live.InBytes[wire.TypeQuery])
		require.GreaterOrEqual(t, after.OutBytes, live.OutBytes)
	}
}
