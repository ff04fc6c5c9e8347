package hostcache_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/smallfile"
	"github.com/govent/govent/servent/hostcache"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// maxSource always draws the largest value: the jitter is then exactly a
// quarter of the delay, and a Sample draw picks the last candidate.
type maxSource struct{}

func (maxSource) Uint64() uint64 { return ^uint64(0) }

func TestAddFilters(t *testing.T) {
	for _, tc := range []struct {
		name, addr         string
		strict, permissive error // AllowPrivate/AllowLoopback off, on
	}{
		{"public IPv4", "8.8.8.8:6346", nil, nil},
		{"public IPv6", "[2001:db8::1]:6346", nil, nil},
		{"IPv4-mapped IPv6 is IPv4", "[::ffff:8.8.4.4]:6346", nil, nil},
		{"port 0", "8.8.8.8:0", hostcache.ErrUnusable, hostcache.ErrUnusable},
		{"unspecified IPv4", "0.0.0.0:6346", hostcache.ErrUnusable, hostcache.ErrUnusable},
		{"this network", "0.1.2.3:6346", hostcache.ErrUnusable, hostcache.ErrUnusable},
		{"unspecified IPv6", "[::]:6346", hostcache.ErrUnusable, hostcache.ErrUnusable},
		{"multicast IPv4", "224.0.0.1:6346", hostcache.ErrUnusable, hostcache.ErrUnusable},
		{"multicast IPv6", "[ff02::1]:6346", hostcache.ErrUnusable, hostcache.ErrUnusable},
		{"broadcast", "255.255.255.255:6346", hostcache.ErrUnusable, hostcache.ErrUnusable},
		{"reserved class E", "240.0.0.1:6346", hostcache.ErrUnusable, hostcache.ErrUnusable},
		{"RFC 1918 10/8", "10.1.2.3:6346", hostcache.ErrPrivate, nil},
		{"RFC 1918 172.16/12", "172.31.0.1:6346", hostcache.ErrPrivate, nil},
		{"RFC 1918 192.168/16", "192.168.1.1:6346", hostcache.ErrPrivate, nil},
		{"link-local IPv4", "169.254.1.1:6346", hostcache.ErrPrivate, nil},
		{"link-local IPv6", "[fe80::1]:6346", hostcache.ErrPrivate, nil},
		{"unique local IPv6", "[fd00::1]:6346", hostcache.ErrPrivate, nil},
		{"CGNAT", "100.64.0.1:6346", hostcache.ErrPrivate, nil},
		{"loopback IPv4", "127.0.0.1:6346", hostcache.ErrLoopback, nil},
		{"loopback IPv4 not .1", "127.1.2.3:6346", hostcache.ErrLoopback, nil},
		{"loopback IPv6", "[::1]:6346", hostcache.ErrLoopback, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := ap(tc.addr)
			strict := hostcache.New(hostcache.Config{})
			err := strict.Add(addr, hostcache.SourcePong, false, t0)
			if tc.strict == nil {
				require.NoError(t, err)
				h, ok := strict.Get(addr)
				require.True(t, ok)
				assert.True(t, h.Addr.Addr().Is4() || !h.Addr.Addr().Is4In6(), "stored unmapped")
			} else {
				assert.ErrorIs(t, err, tc.strict)
				assert.Zero(t, strict.Len())
			}
			permissive := hostcache.New(hostcache.Config{AllowPrivate: true, AllowLoopback: true})
			err = permissive.Add(addr, hostcache.SourcePong, false, t0)
			if tc.permissive == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.permissive)
			}
			// The user may configure private and loopback hosts, never
			// unusable ones.
			err = strict.AddConfigured(addr, t0)
			if tc.permissive == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.permissive)
			}
		})
	}
	t.Run("zero address", func(t *testing.T) {
		c := hostcache.New(hostcache.Config{})
		assert.ErrorIs(t, c.Add(netip.AddrPort{}, hostcache.SourcePong, false, t0), hostcache.ErrUnusable)
	})
	t.Run("mapped and plain IPv4 are one host", func(t *testing.T) {
		c := hostcache.New(hostcache.Config{})
		require.NoError(t, c.Add(ap("[::ffff:8.8.4.4]:6346"), hostcache.SourcePong, false, t0))
		require.NoError(t, c.Add(ap("8.8.4.4:6346"), hostcache.SourcePong, false, t0))
		assert.Equal(t, 1, c.Len())
		_, ok := c.Get(ap("8.8.4.4:6346"))
		assert.True(t, ok)
	})
}

func TestSelfIsNeverKept(t *testing.T) {
	c := hostcache.New(hostcache.Config{AllowLoopback: true})
	self := ap("127.0.0.1:6346")
	require.NoError(t, c.Add(self, hostcache.SourcePong, true, t0))
	require.NoError(t, c.Add(ap("127.0.0.1:6347"), hostcache.SourcePong, false, t0))
	c.SetSelf(self)
	_, ok := c.Get(self)
	assert.False(t, ok, "SetSelf drops a known host")
	assert.ErrorIs(t, c.Add(self, hostcache.SourceXTry, false, t0), hostcache.ErrSelf)
	assert.ErrorIs(t, c.Add(ap("[::ffff:127.0.0.1]:6346"), hostcache.SourceXTry, false, t0), hostcache.ErrSelf)
	assert.ErrorIs(t, c.AddConfigured(self, t0), hostcache.ErrSelf)
	for range 3 {
		a, ok := c.Next(t0.Add(time.Hour), false)
		if ok {
			assert.NotEqual(t, self, a)
		}
	}
	assert.NotContains(t, c.Sample(10, false), self)
}

func TestAddRefreshesKnownHost(t *testing.T) {
	c := hostcache.New(hostcache.Config{})
	a := ap("8.8.8.8:6346")
	require.NoError(t, c.Add(a, hostcache.SourcePong, true, t0.Add(time.Minute)))
	require.NoError(t, c.Add(a, hostcache.SourceXTry, false, t0))
	h, ok := c.Get(a)
	require.True(t, ok)
	assert.Equal(t, t0.Add(time.Minute), h.LastSeen, "an older sighting does not age the host")
	assert.True(t, h.Ultrapeer, "once an ultrapeer, until forgotten")
	assert.Equal(t, hostcache.SourceXTry, h.Source)

	require.NoError(t, c.AddConfigured(a, t0))
	require.NoError(t, c.Add(a, hostcache.SourcePong, false, t0.Add(time.Hour)))
	h, _ = c.Get(a)
	assert.Equal(t, hostcache.SourceConfig, h.Source, "configured stays configured")
	assert.Equal(t, t0.Add(time.Hour), h.LastSeen)
	assert.Equal(t, 1, c.Len())
}

func TestNextOrder(t *testing.T) {
	c := hostcache.New(hostcache.Config{AllowLoopback: true, AllowPrivate: true})
	configured := ap("192.168.1.5:6346")
	recent, older := ap("8.8.8.1:6346"), ap("8.8.8.2:6346")
	ultra := ap("8.8.8.3:6346")
	require.NoError(t, c.AddConfigured(configured, t0))
	require.NoError(t, c.Add(recent, hostcache.SourcePong, false, t0.Add(2*time.Minute)))
	require.NoError(t, c.Add(older, hostcache.SourcePong, false, t0.Add(time.Minute)))
	require.NoError(t, c.Add(ultra, hostcache.SourceXTryUltrapeers, true, t0))

	drain := func(now time.Time, preferUltrapeers bool) []netip.AddrPort {
		var got []netip.AddrPort
		for {
			a, ok := c.Next(now, preferUltrapeers)
			if !ok {
				return got
			}
			got = append(got, a)
		}
	}
	now := t0.Add(time.Hour)
	assert.Equal(t, []netip.AddrPort{configured, recent, older, ultra}, drain(now, false),
		"configured first, then the most recently seen; each reserved once picked")
	assert.Equal(t, []netip.AddrPort{configured}, drain(now.Add(29*time.Second), false),
		"learned hosts reserved for BackoffMin, the configured one for ConfiguredBackoffMin")
	now = now.Add(30 * time.Second)
	assert.Equal(t, []netip.AddrPort{ultra, recent, older}, drain(now, true),
		"ultrapeers before the others when asked (the configured host was picked again at +29s)")
}

func TestBackoff(t *testing.T) {
	a := ap("8.8.8.8:6346")
	backoff := func(t *testing.T, c *hostcache.Cache, steps []time.Duration) {
		t.Helper()
		now := t0
		for i, d := range steps {
			c.Failed(a, now)
			h, ok := c.Get(a)
			require.True(t, ok)
			assert.Equal(t, i+1, h.Failures)
			wait := d - d/4 // maxSource draws the whole quarter
			assert.Equal(t, now.Add(wait), h.NextAttempt, "failure %d", i+1)
			_, ok = c.Next(now.Add(wait-time.Nanosecond), false)
			assert.False(t, ok, "still backing off after failure %d", i+1)
			now = now.Add(wait)
			got, ok := c.Next(now, false)
			require.True(t, ok, "due after failure %d", i+1)
			assert.Equal(t, a, got)
		}
	}
	t.Run("learned: doubles from 30s to 1h, less a quarter of jitter at most", func(t *testing.T) {
		c := hostcache.New(hostcache.Config{Rand: maxSource{}, MaxFailures: 100})
		require.NoError(t, c.Add(a, hostcache.SourcePong, true, t0))
		backoff(t, c, []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute,
			8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour, time.Hour})
	})
	t.Run("configured: doubles from 5s to 45s, for ever", func(t *testing.T) {
		c := hostcache.New(hostcache.Config{Rand: maxSource{}})
		require.NoError(t, c.AddConfigured(a, t0))
		steps := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second}
		for range 100 {
			steps = append(steps, 45*time.Second)
		}
		backoff(t, c, steps)
	})
	t.Run("random jitter stays within a quarter", func(t *testing.T) {
		c := hostcache.New(hostcache.Config{Rand: rand.NewPCG(1, 2), ConfiguredBackoffMin: time.Second, ConfiguredBackoffMax: 8 * time.Second})
		require.NoError(t, c.AddConfigured(a, t0))
		seen := map[time.Duration]bool{}
		for i := range 40 {
			c.Failed(a, t0)
			h, _ := c.Get(a)
			d := min(time.Second<<min(i, 10), 8*time.Second)
			wait := h.NextAttempt.Sub(t0)
			assert.LessOrEqual(t, wait, d)
			assert.GreaterOrEqual(t, wait, d-d/4)
			seen[wait] = true
		}
		assert.Greater(t, len(seen), 10, "the jitter varies")
	})
	t.Run("Connected resets", func(t *testing.T) {
		c := hostcache.New(hostcache.Config{Rand: maxSource{}})
		require.NoError(t, c.Add(a, hostcache.SourcePong, false, t0))
		for range 5 {
			c.Failed(a, t0)
		}
		c.Connected(a, t0.Add(time.Minute))
		h, _ := c.Get(a)
		assert.Zero(t, h.Failures)
		assert.Equal(t, t0.Add(time.Minute), h.LastSeen)
		assert.Equal(t, t0.Add(time.Minute+30*time.Second), h.NextAttempt, "connected: not offered for BackoffMin")
		c.Failed(a, t0.Add(2*time.Minute))
		h, _ = c.Get(a)
		assert.Equal(t, t0.Add(2*time.Minute+30*time.Second-30*time.Second/4), h.NextAttempt, "back to the first step")
	})
	t.Run("learned hosts are forgotten after MaxFailures, configured ones are not", func(t *testing.T) {
		c := hostcache.New(hostcache.Config{MaxFailures: 3})
		b := ap("8.8.4.4:6346")
		require.NoError(t, c.Add(a, hostcache.SourcePong, false, t0))
		require.NoError(t, c.AddConfigured(b, t0))
		for range 3 {
			c.Failed(a, t0)
			c.Failed(b, t0)
		}
		_, ok := c.Get(a)
		assert.False(t, ok)
		h, ok := c.Get(b)
		require.True(t, ok)
		assert.Equal(t, 3, h.Failures)
	})
	t.Run("unknown hosts are ignored", func(t *testing.T) {
		c := hostcache.New(hostcache.Config{})
		c.Failed(a, t0)
		c.Connected(a, t0)
		assert.Zero(t, c.Len())
	})
}

// publicAddr returns distinct public addresses in 11.0.0.0/8.
func publicAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), 6346)
}

func TestBoundsUnderManyAdds(t *testing.T) {
	c := hostcache.New(hostcache.Config{MaxHosts: 1000, MaxUltrapeers: 200})
	configured := ap("8.8.8.8:6346")
	require.NoError(t, c.AddConfigured(configured, t0))
	const adds = 100_000
	for i := range adds {
		require.NoError(t, c.Add(publicAddr(i), hostcache.SourcePong, i%10 == 0, t0.Add(time.Duration(i)*time.Second)))
		if i%997 == 0 {
			require.LessOrEqual(t, c.Len(), 1201)
		}
	}
	hosts := c.Hosts()
	require.Len(t, hosts, 1201, "1000 hosts, 200 ultrapeers, the configured host")
	ultra := 0
	for _, h := range hosts {
		if h.Addr == configured {
			continue
		}
		if h.Ultrapeer {
			ultra++
			// The newest 200 ultrapeers: i = 98000..99990.
			assert.False(t, h.LastSeen.Before(t0.Add((adds-2000)*time.Second)), "old ultrapeer %v kept", h.Addr)
		} else {
			// The newest 1000 others: among the last 1112 adds.
			assert.False(t, h.LastSeen.Before(t0.Add((adds-1112)*time.Second)), "old host %v kept", h.Addr)
		}
	}
	assert.Equal(t, 200, ultra)
	_, ok := c.Get(configured)
	assert.True(t, ok, "configured hosts are never evicted")
}

func TestEvictionTakesTheWorst(t *testing.T) {
	c := hostcache.New(hostcache.Config{MaxHosts: 3})
	a, b, f := publicAddr(1), publicAddr(2), publicAddr(3)
	require.NoError(t, c.Add(a, hostcache.SourcePong, false, t0))
	require.NoError(t, c.Add(b, hostcache.SourcePong, false, t0.Add(time.Second)))
	require.NoError(t, c.Add(f, hostcache.SourcePong, false, t0.Add(2*time.Second)))
	c.Failed(f, t0.Add(3*time.Second))

	require.NoError(t, c.Add(publicAddr(4), hostcache.SourcePong, false, t0.Add(4*time.Second)))
	_, ok := c.Get(f)
	assert.False(t, ok, "a failing host goes before older healthy ones")

	require.NoError(t, c.Add(publicAddr(5), hostcache.SourcePong, false, t0.Add(5*time.Second)))
	_, ok = c.Get(a)
	assert.False(t, ok, "then the one seen longest ago")

	require.NoError(t, c.Add(publicAddr(6), hostcache.SourcePong, false, t0.Add(-time.Hour)))
	_, ok = c.Get(publicAddr(6))
	assert.False(t, ok, "a newcomer older than every kept host is not kept")
	assert.Equal(t, 3, c.Len())
}

func TestAddHeader(t *testing.T) {
	c := hostcache.New(hostcache.Config{})
	n := c.AddHeader(" 8.8.8.8:6346,8.8.4.4:6347 2003-03-25T23:59Z,, garbage ,[2001:db8::1]:6346,10.0.0.1:6346,1.2.3.4:0",
		hostcache.SourceXTryUltrapeers, t0)
	assert.Equal(t, 3, n)
	for _, s := range []string{"8.8.8.8:6346", "8.8.4.4:6347", "[2001:db8::1]:6346"} {
		h, ok := c.Get(ap(s))
		require.True(t, ok, s)
		assert.True(t, h.Ultrapeer, "X-Try-Ultrapeers lists ultrapeers")
		assert.Equal(t, hostcache.SourceXTryUltrapeers, h.Source)
	}
	require.Equal(t, 1, c.AddHeader("9.9.9.9:6346", hostcache.SourceXTry, t0))
	h, _ := c.Get(ap("9.9.9.9:6346"))
	assert.False(t, h.Ultrapeer)

	t.Run("at most 100 entries per header", func(t *testing.T) {
		c := hostcache.New(hostcache.Config{})
		var long []byte
		for i := range 150 {
			long = fmt.Appendf(long, "%v,", publicAddr(i))
		}
		assert.Equal(t, 100, c.AddHeader(string(long), hostcache.SourceXTry, t0))
	})
}

func TestSample(t *testing.T) {
	c := hostcache.New(hostcache.Config{Rand: rand.NewPCG(3, 4)})
	var all, ultras []netip.AddrPort
	for i := range 10 {
		a := publicAddr(i)
		require.NoError(t, c.Add(a, hostcache.SourcePong, i < 4, t0))
		all = append(all, a)
		if i < 4 {
			ultras = append(ultras, a)
		}
	}
	failing := publicAddr(99)
	require.NoError(t, c.Add(failing, hostcache.SourcePong, true, t0))
	c.Failed(failing, t0)
	private := ap("192.168.1.1:6346")
	require.NoError(t, c.AddConfigured(private, t0))

	assert.Nil(t, c.Sample(0, false))
	assert.ElementsMatch(t, all, c.Sample(100, false), "every healthy host once; no failing, no private")
	assert.ElementsMatch(t, ultras, c.Sample(100, true))

	drawn := map[netip.AddrPort]int{}
	for range 200 {
		s := c.Sample(3, false)
		require.Len(t, s, 3)
		assert.Len(t, map[netip.AddrPort]bool{s[0]: true, s[1]: true, s[2]: true}, 3, "no duplicates")
		for _, a := range s {
			drawn[a]++
		}
	}
	assert.Len(t, drawn, 10, "every host gets handed out")

	// The same source gives the same samples.
	mk := func() *hostcache.Cache {
		c := hostcache.New(hostcache.Config{Rand: maxSource{}})
		for _, a := range all {
			require.NoError(t, c.Add(a, hostcache.SourcePong, false, t0))
		}
		return c
	}
	assert.Equal(t, mk().Sample(4, false), mk().Sample(4, false))
	assert.Equal(t, []netip.AddrPort{publicAddr(9), publicAddr(0), publicAddr(1), publicAddr(2)}, mk().Sample(4, false),
		"drawing the last candidate each time, in address order")
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	c := hostcache.New(hostcache.Config{DataDir: dir, AllowLoopback: true, Rand: maxSource{}})
	require.NoError(t, c.Add(ap("8.8.8.8:6346"), hostcache.SourcePong, false, t0))
	require.NoError(t, c.Add(ap("[2001:db8::1]:6346"), hostcache.SourceXTryUltrapeers, true, t0.Add(time.Minute)))
	require.NoError(t, c.Add(ap("127.0.0.1:7000"), hostcache.SourceXTry, false, t0.Add(2*time.Minute)))
	require.NoError(t, c.AddConfigured(ap("192.168.0.9:6346"), t0))
	c.Failed(ap("8.8.8.8:6346"), t0)
	require.NoError(t, c.Save())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")

	t.Run("round trip", func(t *testing.T) {
		d := hostcache.New(hostcache.Config{DataDir: dir, AllowLoopback: true, AllowPrivate: true})
		require.NoError(t, d.Load())
		assert.Equal(t, c.Hosts(), d.Hosts())
	})
	t.Run("the current policy applies to saved hosts", func(t *testing.T) {
		d := hostcache.New(hostcache.Config{DataDir: dir})
		require.NoError(t, d.Load())
		var got []netip.AddrPort
		for _, h := range d.Hosts() {
			got = append(got, h.Addr)
		}
		assert.Equal(t, []netip.AddrPort{ap("[2001:db8::1]:6346"), ap("8.8.8.8:6346")}, got,
			"loopback and once-configured private hosts dropped")
	})
	t.Run("no data directory", func(t *testing.T) {
		d := hostcache.New(hostcache.Config{})
		require.NoError(t, d.Add(ap("8.8.8.8:6346"), hostcache.SourcePong, false, t0))
		assert.NoError(t, d.Save())
		assert.NoError(t, d.Load())
	})
	t.Run("missing file", func(t *testing.T) {
		d := hostcache.New(hostcache.Config{DataDir: t.TempDir()})
		assert.NoError(t, d.Load())
		assert.Zero(t, d.Len())
	})
}

func TestLoadCorrupt(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"not json", "\x00\x01garbage"},
		{"truncated", `{"format":1,"hosts":[{"addr":"8.8.8.8:6346"`},
		{"wrong format", `{"format":2,"hosts":[]}`},
		{"bad address", `{"format":1,"hosts":[{"addr":"8.8.8.8","source":"pong"}]}`},
		{"unknown source", `{"format":1,"hosts":[{"addr":"8.8.8.8:6346","source":"rumour"}]}`},
		{"negative failures", `{"format":1,"hosts":[{"addr":"8.8.8.8:6346","source":"pong","failures":-1}]}`},
		{"bad time", `{"format":1,"hosts":[{"addr":"8.8.8.8:6346","source":"pong","last_seen":"yesterday"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, hostcache.HostFile), []byte(tc.content), 0o644))
			c := hostcache.New(hostcache.Config{DataDir: dir})
			assert.ErrorIs(t, c.Load(), hostcache.ErrCorrupt)
			assert.Zero(t, c.Len(), "nothing is loaded from a corrupt file")
		})
	}
	t.Run("valid entries of a good file load", func(t *testing.T) {
		dir := t.TempDir()
		content := `{"format":1,"hosts":[{"addr":"8.8.8.8:6346","source":"pong","last_seen":"2026-11-22T10:00:00Z","failures":2}]}`
		require.NoError(t, os.WriteFile(filepath.Join(dir, hostcache.HostFile), []byte(content), 0o644))
		c := hostcache.New(hostcache.Config{DataDir: dir})
		require.NoError(t, c.Load())
		h, ok := c.Get(ap("8.8.8.8:6346"))
		require.True(t, ok)
		assert.Equal(t, 2, h.Failures)
		assert.Equal(t, t0, h.LastSeen)
	})
}

// TestLoadBounded: Load reads a host file of at most FileLimit bytes (what
// full pools and the configured hosts make, with room to spare) and
// refuses a larger one as corrupt, loading nothing, before reading more
// than the limit: a huge or endless file in the data directory does not
// take the memory.
func TestLoadBounded(t *testing.T) {
	cfg := hostcache.Config{MaxHosts: 10, MaxUltrapeers: 10}
	entry := `{"addr":"8.8.8.8:6346","source":"pong","last_seen":"2026-11-22T10:00:00Z"}`
	write := func(t *testing.T, size int64) string {
		dir := t.TempDir()
		head := `{"format":1,"hosts":[` + entry + `]}`
		body := head + strings.Repeat(" ", int(size)-len(head)) // JSON takes trailing blanks
		require.NoError(t, os.WriteFile(filepath.Join(dir, hostcache.HostFile), []byte(body), 0o644))
		return dir
	}
	limit := hostcache.New(cfg).FileLimit()
	assert.Equal(t, int64(64<<10+20*hostcache.HostEntryMax), limit)

	t.Run("exactly at the limit", func(t *testing.T) {
		cfg := cfg
		cfg.DataDir = write(t, limit)
		c := hostcache.New(cfg)
		require.NoError(t, c.Load())
		assert.Equal(t, 1, c.Len())
	})
	t.Run("one byte over", func(t *testing.T) {
		cfg := cfg
		cfg.DataDir = write(t, limit+1)
		c := hostcache.New(cfg)
		err := c.Load()
		require.ErrorIs(t, err, hostcache.ErrCorrupt)
		require.ErrorIs(t, err, smallfile.ErrTooLarge)
		assert.ErrorContains(t, err, filepath.Join(cfg.DataDir, hostcache.HostFile)+": over "+strconv.FormatInt(limit, 10)+" bytes")
		assert.Zero(t, c.Len(), "nothing is loaded from an oversized file")
	})
	t.Run("endless", func(t *testing.T) {
		if _, err := os.Stat("/dev/zero"); err != nil {
			t.Skip("no /dev/zero here")
		}
		cfg := cfg
		cfg.DataDir = t.TempDir()
		require.NoError(t, os.Symlink("/dev/zero", filepath.Join(cfg.DataDir, hostcache.HostFile)))
		assert.ErrorIs(t, hostcache.New(cfg).Load(), smallfile.ErrTooLarge)
	})
	t.Run("configured hosts widen it", func(t *testing.T) {
		c := hostcache.New(cfg)
		require.NoError(t, c.AddConfigured(ap("8.8.4.4:6346"), t0))
		assert.Equal(t, limit+hostcache.HostEntryMax, c.FileLimit())
	})
	t.Run("what Save writes fits", func(t *testing.T) {
		// Full pools of the longest entries Save writes take less than
		// HostEntryMax each: Load never refuses what Save wrote.
		cfg := cfg
		cfg.DataDir = t.TempDir()
		c := hostcache.New(cfg)
		late := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.FixedZone("", -(11*3600+59*60)))
		for i := range 20 {
			a := netip.MustParseAddrPort(fmt.Sprintf("[2001:db8:ffff:ffff:ffff:ffff:ffff:%x]:65535", 0xff00+i))
			require.NoError(t, c.Add(a, hostcache.SourceXTryUltrapeers, i%2 == 0, late))
			for range 5 {
				c.Failed(a, late)
			}
		}
		require.Equal(t, 20, c.Len())
		require.NoError(t, c.Save())
		fi, err := os.Stat(filepath.Join(cfg.DataDir, hostcache.HostFile))
		require.NoError(t, err)
		assert.Less(t, fi.Size(), int64(20*hostcache.HostEntryMax))
		d := hostcache.New(cfg)
		require.NoError(t, d.Load())
		assert.Equal(t, 20, d.Len())
	})
}

func TestSourceString(t *testing.T) {
	assert.Equal(t, "config", hostcache.SourceConfig.String())
	assert.Equal(t, "pong", hostcache.SourcePong.String())
	assert.Equal(t, "x-try", hostcache.SourceXTry.String())
	assert.Equal(t, "x-try-ultrapeers", hostcache.SourceXTryUltrapeers.String())
	assert.Equal(t, "source(9)", hostcache.Source(9).String())
}

// Save writes the file only when the cache changed since the last Save:
// the servent saves every minute, and an idle one must not rewrite it. A
// marker put in the file by hand survives a Save of the same cache, and
// is replaced once a host is learnt or fails.
func TestSaveOnlyWhenChanged(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, hostcache.HostFile)
	c := hostcache.New(hostcache.Config{DataDir: dir})
	require.NoError(t, c.Add(ap("8.8.8.8:6346"), hostcache.SourcePong, false, t0))
	require.NoError(t, c.Save())
	mark := func() {
		t.Helper()
		require.NoError(t, os.WriteFile(name, []byte("marker"), 0o600))
	}
	marked := func() bool {
		t.Helper()
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		return string(b) == "marker"
	}
	loaded := func() []hostcache.Host {
		t.Helper()
		d := hostcache.New(hostcache.Config{DataDir: dir})
		require.NoError(t, d.Load())
		return d.Hosts()
	}

	mark()
	require.NoError(t, c.Save())
	assert.True(t, marked(), "nothing changed: nothing written")

	require.NoError(t, c.Add(ap("8.8.4.4:6346"), hostcache.SourcePong, false, t0))
	require.NoError(t, c.Save())
	assert.Equal(t, c.Hosts(), loaded(), "a host learnt is saved")

	mark()
	c.Failed(ap("8.8.8.8:6346"), t0.Add(time.Minute))
	require.NoError(t, c.Save())
	assert.Equal(t, c.Hosts(), loaded(), "a failure is saved")
}
