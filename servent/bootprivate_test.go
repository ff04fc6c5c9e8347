package servent

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/govent/govent/servent/memnet"
)

// A GWebCache that names only private and loopback hosts, to a servent
// that does not allow them, fails with the reason: how many it skipped,
// and the flag that would take them.
func TestBootstrapSaysPrivateHostsSkipped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		fakeGWebCache(t, n, "198.51.100.50:80",
			netip.MustParseAddrPort("10.0.0.1:6346"), netip.MustParseAddrPort("127.0.0.1:6346"))
		core, logs := observer.New(zapcore.InfoLevel)
		cfg := memConfig(t, n, "203.0.113.2:6346")
		cfg.AllowPrivate = false
		cfg.GWebCaches = []string{"http://198.51.100.50/gwc.php"}
		cfg.Logger = zap.New(core)
		s, err := New(cfg)
		require.NoError(t, err)
		require.NoError(t, s.Start(context.Background()))
		defer s.Close()

		time.Sleep(time.Minute)
		synctest.Wait()
		failed := logs.FilterMessage("host cache failed").All()
		require.NotEmpty(t, failed)
		assert.Equal(t, "no usable host (2 private skipped; --allow-private to use them)", failed[0].ContextMap()["error"])
	})
}
