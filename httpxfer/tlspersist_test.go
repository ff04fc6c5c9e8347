package httpxfer

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/smallfile"
)

// The TLS cache saved and loaded again keeps its facts (takes TLS, failed
// it) and their recency, and the same expiry: an entry is forgotten
// TLSHostsTTL after the last word about it, whether that time passed
// while the servent ran or while it was stopped.
func TestTLSHostsSaveLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tls-hosts.json")
		takes := netip.MustParseAddrPort("192.0.2.1:6346")
		failed := netip.MustParseAddrPort("[2001:db8::1]:6346")
		later := netip.MustParseAddrPort("192.0.2.2:6346")
		h := NewTLSHosts()
		h.Add(takes)
		h.Refuse(failed)
		time.Sleep(time.Hour)
		h.Add(later)
		require.NoError(t, h.Save(path))

		g := NewTLSHosts()
		require.NoError(t, g.Load(path))
		assert.True(t, g.Known(takes))
		assert.False(t, g.WantTLS(failed, true), "the failure is remembered")
		assert.True(t, g.Known(later))
		assert.Equal(t, h.c.Keys(), g.c.Keys(), "least recent first, as saved")

		// Stopped for most of the TTL: the first two are near their end,
		// the later one an hour behind them.
		time.Sleep(TLSHostsTTL - time.Hour - time.Second)
		g = NewTLSHosts()
		require.NoError(t, g.Load(path))
		assert.True(t, g.Known(takes), "12 h less a second: kept")
		assert.False(t, g.WantTLS(failed, true))
		time.Sleep(2 * time.Second)
		assert.False(t, g.Known(takes), "expired in memory")
		assert.True(t, g.WantTLS(failed, true), "the failure expired too: the claim counts again")
		assert.True(t, g.Known(later))

		g = NewTLSHosts()
		require.NoError(t, g.Load(path))
		assert.False(t, g.Known(takes), "older than 12 h at load: forgotten")
		assert.True(t, g.WantTLS(failed, true))
		assert.True(t, g.Known(later))
		assert.Equal(t, 1, g.c.Len())

		// Saving leaves out what expired.
		require.NoError(t, g.Save(path))
		time.Sleep(time.Hour)
		g = NewTLSHosts()
		require.NoError(t, g.Load(path))
		assert.Zero(t, g.c.Len())
	})
}

// What the cache was told since it started is newer than the file's word
// on the same host, and stays.
func TestTLSHostsLoadKeepsNewer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tls-hosts.json")
		a := netip.MustParseAddrPort("192.0.2.1:6346")
		h := NewTLSHosts()
		h.Add(a)
		require.NoError(t, h.Save(path))
		time.Sleep(time.Minute)
		g := NewTLSHosts()
		g.Refuse(a)
		require.NoError(t, g.Load(path))
		assert.False(t, g.WantTLS(a, true), "the newer refusal stands")

		time.Sleep(time.Minute)
		h.Refuse(a)
		require.NoError(t, h.Save(path))
		g = NewTLSHosts()
		g.c.Add(a, tlsHost{at: time.Now().Add(-time.Hour)}) // told an hour ago
		require.NoError(t, g.Load(path))
		assert.False(t, g.WantTLS(a, true), "the file's newer refusal wins")
	})
}

func TestTLSHostsLoadRefuses(t *testing.T) {
	limit := int64(4<<10 + TLSHostsMax*tlsEntryMax)
	for _, tc := range []struct{ name, content string }{
		{"not json", "\x00garbage"},
		{"wrong format", `{"format":2,"hosts":[]}`},
		{"bad address", `{"format":1,"hosts":[{"addr":"192.0.2.1","at":"2000-01-01T00:00:00Z"}]}`},
		{"port 0", `{"format":1,"hosts":[{"addr":"192.0.2.1:0","at":"2000-01-01T00:00:00Z"}]}`},
		{"one byte over the limit", `{"format":1,"hosts":[]}` + strings.Repeat(" ", int(limit)-22)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tls-hosts.json")
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			h := NewTLSHosts()
			err := h.Load(path)
			require.ErrorIs(t, err, ErrTLSHostsFile)
			assert.ErrorContains(t, err, path)
			assert.Zero(t, h.c.Len())
		})
	}
	t.Run("missing", func(t *testing.T) {
		assert.NoError(t, NewTLSHosts().Load(filepath.Join(t.TempDir(), "tls-hosts.json")))
	})
	t.Run("over the limit names it", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tls-hosts.json")
		require.NoError(t, os.WriteFile(path, []byte(`{"format":1,"hosts":[]}`+strings.Repeat(" ", int(limit)-22)), 0o600))
		err := NewTLSHosts().Load(path)
		require.ErrorIs(t, err, smallfile.ErrTooLarge)
		assert.ErrorContains(t, err, fmt.Sprintf("over %d bytes", limit))
	})
	t.Run("dated in the future", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tls-hosts.json")
			at := time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
			require.NoError(t, os.WriteFile(path, []byte(`{"format":1,"hosts":[{"addr":"192.0.2.1:6346","at":"`+at+`"}]}`), 0o600))
			h := NewTLSHosts()
			require.NoError(t, h.Load(path))
			assert.Zero(t, h.c.Len(), "it would never expire")
		})
	})
}

// A full cache of the longest entries saves to a file Load takes back
// whole: TLSHostsMax hosts, the limit never refuses what Save wrote.
func TestTLSHostsFullCacheRoundTrip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tls-hosts.json")
		h := NewTLSHosts()
		for i := range TLSHostsMax + 10 {
			ap := netip.MustParseAddrPort(fmt.Sprintf("[2001:db8:ffff:ffff:ffff:ffff:ffff:%04x]:65535", i))
			if i%2 == 0 {
				h.Refuse(ap)
			} else {
				h.Add(ap)
			}
			time.Sleep(time.Nanosecond * 123456789)
		}
		require.Equal(t, TLSHostsMax, h.c.Len())
		require.NoError(t, h.Save(path))
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Less(t, fi.Size(), int64(TLSHostsMax*tlsEntryMax))
		g := NewTLSHosts()
		require.NoError(t, g.Load(path))
		assert.Equal(t, h.c.Keys(), g.c.Keys())
	})
}

// Save writes the file only when the cache changed since the last Save:
// the servent saves it every ten minutes, and an idle one must not
// rewrite it. A marker put in the file by hand survives a Save of the same
// cache, and is replaced once a host is learnt.
func TestTLSHostsSaveOnlyWhenChanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tls-hosts.json")
		h := NewTLSHosts()
		h.Add(netip.MustParseAddrPort("192.0.2.1:6346"))
		require.NoError(t, h.Save(path))
		require.NoError(t, os.WriteFile(path, []byte("marker"), 0o600))
		require.NoError(t, h.Save(path))
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, "marker", string(b), "nothing changed: nothing written")

		learnt := netip.MustParseAddrPort("192.0.2.2:6346")
		time.Sleep(time.Minute)
		h.Add(learnt)
		require.NoError(t, h.Save(path))
		g := NewTLSHosts()
		require.NoError(t, g.Load(path))
		assert.True(t, g.Known(learnt), "a host learnt is saved")
		assert.Equal(t, h.c.Keys(), g.c.Keys())
	})
}
