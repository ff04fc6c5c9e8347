package conform

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/cmd/internal/link"
	"github.com/govent/govent/wire"
)

func TestRateLimit(t *testing.T) {
	tests := []struct {
		line    string
		limited bool
	}{
		{"GNUTELLA/0.6 429 Banned for 5m 0s", true}, // gtk-gnutella's first refusal
		{"GNUTELLA/0.6 429 Too frequent connections", true},
		{"HTTP/1.1 429 Too Many Requests", true},
		{"GNUTELLA/0.6 503 You are banned", true},
		{"GNUTELLA/0.6 403 Hammering", true},
		{"HTTP/1.1 503 Throttled, retry later", true},
		{"GNUTELLA/0.6 550 Banned", true},
		{"GNUTELLA/0.6 503 Too many ultra connections (50 max)", false},
		{"GNUTELLA/0.6 503 Bandwidth limit reached", false},
		{"HTTP/1.1 503 Queued (slot 3, ETA: 20s)", false},
		{"GNUTELLA/0.6 409 Already connected", false},
		{"GNUTELLA/0.6 200 OK", false},
		{"HTTP/1.1 206 Partial Content", false},
		{"GNUTELLA OK", false},
	}
	for _, tt := range tests {
		_, got := rateLimit(&wire.Handshake{StartLine: tt.line})
		assert.Equal(t, tt.limited, got, tt.line)
	}
}

func TestPerAddress(t *testing.T) {
	for line, want := range map[string]bool{
		"GNUTELLA/0.6 409 Already connected":                      true, // gtk-gnutella
		"GNUTELLA/0.6 409 Already connected to this GUID":         true,
		"GNUTELLA/0.6 503 Too Many Connections From Your Address": true, // ours
		"HTTP/1.1 503 Too many uploads from your host":            true,
		"GNUTELLA/0.6 503 Full":                                   false,
		"GNUTELLA/0.6 503 Too many ultra connections (50 max)":    false,
		"GNUTELLA/0.6 429 Banned for 5m 0s":                       false, // a ban: rateLimit's
		"GNUTELLA/0.6 200 OK":                                     false,
	} {
		assert.Equal(t, want, perAddress(&wire.Handshake{StartLine: line}), line)
	}
}

// TestSpreadSources: against a loopback target every connection gets an
// address of its own in 127.64.0.0/10, in another /24 than the one before;
// elsewhere connections come from the user's addresses in turn, or from
// the system's choice.
func TestSpreadSources(t *testing.T) {
	block := netip.MustParsePrefix("127.64.0.0/10")
	s := newSources(netip.MustParseAddrPort("127.0.0.1:6346"), nil, 0)
	seen := map[netip.Addr]bool{}
	var prev netip.Addr
	for range 3000 {
		src, waited, err := s.acquire(t.Context())
		require.NoError(t, err)
		assert.Zero(t, waited)
		a := src.addr
		require.True(t, block.Contains(a), "%s", a)
		assert.False(t, seen[a], "%s handed out twice", a)
		seen[a] = true
		b := a.As4()
		assert.NotContains(t, []byte{0, 255}, b[3], "%s", a)
		if prev.IsValid() {
			p := prev.As4()
			assert.NotEqual(t, p[:3], b[:3], "%s and %s share a /24", prev, a)
		}
		prev = a
	}
	assert.Equal(t, 0, s.count())

	// (A name is resolved before: see TestTargetByName.)
	for _, target := range []string{"[::1]:6346", "192.0.2.1:6346", "[::ffff:192.0.2.1]:6346"} {
		s := newSources(netip.MustParseAddrPort(target), nil, 0)
		src, _, err := s.acquire(t.Context())
		require.NoError(t, err)
		assert.False(t, src.addr.IsValid(), "%s: the system picks", target)
		assert.Equal(t, 1, s.count())
	}

	user := []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")}
	s = newSources(netip.MustParseAddrPort("127.0.0.1:6346"), user, 0)
	var got []netip.Addr
	for range 4 {
		src, _, err := s.acquire(t.Context())
		require.NoError(t, err)
		got = append(got, src.addr)
	}
	assert.Equal(t, []netip.Addr{user[0], user[1], user[0], user[1]}, got, "the user's addresses, in turn, even for a loopback target")
}

// TestPace: one connection every pace from each source address, in
// virtual time.
func TestPace(t *testing.T) {
	for _, tt := range []struct {
		sources []netip.Addr
		conns   int
		want    time.Duration
	}{
		{nil, 3, 60 * time.Second},
		{[]netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")}, 5, 60 * time.Second},
		{[]netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")}, 4, 30 * time.Second},
	} {
		t.Run(fmt.Sprintf("%d conns from %d sources", tt.conns, len(tt.sources)), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSources(netip.MustParseAddrPort("192.0.2.1:6346"), tt.sources, 30*time.Second)
				start := time.Now()
				var waited time.Duration
				for range tt.conns {
					_, w, err := s.acquire(context.Background())
					require.NoError(t, err)
					waited += w
				}
				assert.Equal(t, tt.want, time.Since(start))
				assert.Equal(t, tt.want, waited)
			})
		})
	}
}

func TestPlan(t *testing.T) {
	cases, err := Select(Suite(), nil, nil, Both)
	require.NoError(t, err)
	total := 2 // the role check and the search for --query
	for _, c := range cases {
		total += max(c.Conns, 1)
	}
	n, est := Plan(cases, 0, 1)
	assert.Equal(t, total, n)
	assert.Zero(t, est, "no pace, no wait")
	_, est = Plan(cases, 30*time.Second, 0)
	assert.Zero(t, est, "a fresh address per connection never waits")
	_, est = Plan(cases, 30*time.Second, 1)
	assert.Equal(t, time.Duration(total-1)*30*time.Second, est)
	_, est = Plan(cases, 30*time.Second, 4)
	assert.Equal(t, time.Duration((total+3)/4-1)*30*time.Second, est)

	one, err := Select(Suite(), []string{"route/1"}, nil, Both)
	require.NoError(t, err)
	n, _ = Plan(one, 0, 1)
	assert.Equal(t, 2+3, n, "route/1 opens three links")
}

// TestNoSpreadFallback: where only 127.0.0.1 is configured (a network
// namespace, some systems), binding another loopback address fails; the
// suite then connects from the system's choice for the rest of the run.
func TestNoSpreadFallback(t *testing.T) {
	st := &runState{cfg: &Config{Target: "127.0.0.1:1"}, addr: "127.0.0.1:1", src: newSources(netip.MustParseAddrPort("127.0.0.1:1"), nil, 0)}
	var locals []netip.Addr
	open := func(local netip.Addr) (*link.Link, error) {
		locals = append(locals, local)
		if local.IsValid() {
			return nil, fmt.Errorf("link: dial: %w", syscall.EADDRNOTAVAIL)
		}
		return nil, fmt.Errorf("link: dial: %w", syscall.ECONNREFUSED)
	}
	_, err := st.connect(t.Context(), nil, "a case", false, open)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	require.Len(t, locals, 2)
	assert.True(t, locals[0].IsValid())
	assert.False(t, locals[1].IsValid(), "retried from the system's choice")
	assert.False(t, st.src.spreading())
	assert.Contains(t, st.src.goneReason(), "stopped taking TCP connections")
}
