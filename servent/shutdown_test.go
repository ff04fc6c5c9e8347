package servent

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/govent/govent/servent/memnet"
)

// byesLogged returns the Byes a servent logged receiving, as code and
// reason.
func byesLogged(logs *observer.ObservedLogs) []string {
	var out []string
	for _, e := range logs.FilterMessage("peer said Bye").All() {
		m := e.ContextMap()
		out = append(out, fmt.Sprint(m["code"], " ", m["reason"]))
	}
	return out
}

// observedPeer is a servent on n whose info logs the test reads.
func observedPeer(t *testing.T, n *memnet.Network, addr string) (*Servent, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := memConfig(t, n, addr)
	cfg.Logger = zap.New(core)
	return startServent(t, cfg), logs
}

// Close says Bye 200 to every peer, and each peer receives and logs it,
// even when the context Start was given was cancelled first (as a signal
// context is, the moment SIGINT arrives): that context bounds Start's own
// work, not the servent's life.
func TestCloseSaysByeAfterStartContextCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s, err := New(memConfig(t, n, "127.0.0.1:6346"))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		require.NoError(t, s.Start(ctx))
		p1, logs1 := observedPeer(t, n, "127.0.0.2:6346")
		p2, logs2 := observedPeer(t, n, "127.0.0.3:6346")
		require.NoError(t, p1.Connect(s.Addr()))
		require.NoError(t, p2.Connect(s.Addr()))
		synctest.Wait()
		require.Len(t, s.Peers(), 2)

		cancel()
		synctest.Wait()
		assert.Len(t, s.Peers(), 2, "cancelling the Start context stops nothing")
		require.NoError(t, s.Close())
		// Close returns once each peer took the Bye and closed in turn.
		assert.Equal(t, []string{"200 Shutting Down"}, byesLogged(logs1))
		assert.Equal(t, []string{"200 Shutting Down"}, byesLogged(logs2))
		synctest.Wait()
		assert.Empty(t, p1.Peers())
		assert.Empty(t, p2.Peers())
		require.NoError(t, s.Close(), "a second Close is harmless")
	})
}
