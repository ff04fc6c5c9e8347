package main

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/govent/govent/servent"
	"github.com/govent/govent/servent/memnet"
)

// A get or search that has held its leaf slot for 5 minutes sharing
// nothing gives it up to a newcomer leaf (Bye 202, gtk-gnutella's
// node_remove_useless_leaf). Its --peer is then retried as run retries
// one, so that a long get gets its link back, to route its Pushes and
// re-search by hash, once a slot is free again; without that it went on
// alone, and every re-search failed for want of a neighbour.
func TestClientRejoinsAfterMakingRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		config := func(addr string) servent.Config {
			return servent.Config{
				Network: n.Host(netip.MustParseAddr(addr)), Listen: addr + ":6346",
				AllowPrivate: true, NoUDP: true, NoBootstrap: true, HashBeforeStart: true,
				HandshakeTimeout: 5 * time.Second, Logger: zap.NewNop(),
			}
		}
		cfg := config("127.0.0.1")
		cfg.Mode, cfg.MaxLeaves = servent.ModeUltrapeer, 1
		cfg.ShareDir = t.TempDir()
		up, err := servent.New(cfg)
		require.NoError(t, err)
		require.NoError(t, up.Start(t.Context()))
		defer up.Close()

		client, err := startClient(t.Context(), []string{"127.0.0.1:6346"}, config("127.0.0.2"))
		require.NoError(t, err)
		defer client.Close()
		require.Len(t, client.Peers(), 1)

		time.Sleep(5*time.Minute + time.Second)
		ncfg := config("127.0.0.3")
		ncfg.Mode = servent.ModeLeaf
		newcomer, err := servent.New(ncfg)
		require.NoError(t, err)
		require.NoError(t, newcomer.Start(t.Context()))
		defer newcomer.Close()
		require.NoError(t, newcomer.Connect(up.Addr()), "the client made room")
		synctest.Wait()
		require.Empty(t, client.Peers(), "told Bye 202")

		newcomer.Close() // its slot is free again
		time.Sleep(time.Minute)
		synctest.Wait()
		if assert.Len(t, client.Peers(), 1, "the client joined its peer again") {
			ctx, cancel := context.WithCancel(t.Context())
			_, err := client.Search(ctx, "anything")
			assert.NoError(t, err, "and searches through it")
			cancel()
		}
	})
}
