package conform

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent"
)

// ourQuery names the file our servent shares in these tests; the name has
// a space so that http/11 (unencoded names) applies.
const ourQuery = "penny lane"

// startOurs starts our servent on loopback, sharing one file, in mode.
func startOurs(t *testing.T, mode servent.Mode) *servent.Servent {
	t.Helper()
	share := t.TempDir()
	body := bytes.Repeat([]byte("penny lane is in my ears and in my eyes\n"), 100)
	require.NoError(t, os.WriteFile(filepath.Join(share, "Penny Lane.mp3"), body, 0o644))
	s, err := servent.New(servent.Config{
		Listen:          "127.0.0.1:0",
		ShareDir:        share,
		HashBeforeStart: true,
		Mode:            mode,
	})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { s.Close() })
	return s
}

// TestOurServent plays the whole suite against our own servent in both
// roles: every MUST case passes (or skips as not applicable).
func TestOurServent(t *testing.T) {
	for _, mode := range []servent.Mode{servent.ModeUltrapeer, servent.ModeLeaf} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			s := startOurs(t, mode)
			var out strings.Builder
			rep, err := Run(t.Context(), Config{
				Target:   s.Addr().String(),
				Timeout:  3 * time.Second,
				Query:    ourQuery,
				OnResult: func(r Result) { WriteText(&out, r) },
			})
			require.NoError(t, err)
			WriteSummary(&out, rep)
			t.Log("\n" + out.String())
			want := map[servent.Mode]Role{servent.ModeUltrapeer: Ultrapeer, servent.ModeLeaf: Leaf}[mode]
			require.Equal(t, want, rep.TargetRole)
			for _, r := range rep.Results {
				if r.Status == Fail && r.Case.Severity == Must {
					t.Errorf("%s %s: %s", r.Case.ID, r.Case.Title, r.Message)
				}
				// Our servent shares a file and speaks every extension the
				// suite knows: the only cases that skip are the other
				// role's.
				if r.Status == Skip && (r.Case.Role == Both || r.Case.Role == want) {
					t.Errorf("%s skipped: %s", r.Case.ID, r.Message)
				}
				if r.Conns > r.Case.conns() {
					t.Errorf("%s opened %d connections; it declares at most %d", r.Case.ID, r.Conns, r.Case.conns())
				}
			}
		})
	}
}

// TestOurServentOneAddress: from one address our servent's per-address
// limits (two ultrapeer links, three leaves) refuse the cases that need
// more links at once, and now and then one whose previous case's links it
// has not let go yet; those are skipped, saying why, and nothing fails.
func TestOurServentOneAddress(t *testing.T) {
	s := startOurs(t, servent.ModeUltrapeer)
	rep, err := Run(t.Context(), Config{Target: s.Addr().String(), Timeout: 3 * time.Second, Query: ourQuery,
		Sources: []netip.Addr{loopback}})
	require.NoError(t, err)
	perAddr := 0
	for _, r := range rep.Results {
		if r.Status == Fail {
			t.Errorf("%s %s: %s", r.Case.ID, r.Case.Title, r.Message)
		}
		if r.Status == Skip && strings.Contains(r.Message, "limits the connections per address") {
			perAddr++
			assert.Contains(t, r.Message, "--source", r.Case.ID)
		}
	}
	assert.Positive(t, perAddr, "no case met the per-address limits")
	assert.Empty(t, rep.Bans, "a per-address limit is no ban")
	assert.Empty(t, rep.Gone)
}

// names is a Resolver that knows a few names and nothing else.
type names map[string][]netip.Addr

func (n names) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := n[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestTargetByName: a target named by a host name is tested as its
// address would be: looked up once, and on loopback each connection from
// a loopback address of its own, so the per-address limits skip nothing
// (they skipped every case that needs several links at once when only a
// literal loopback address was spread).
func TestTargetByName(t *testing.T) {
	s := startOurs(t, servent.ModeUltrapeer)
	port := s.Addr().Port()
	var start strings.Builder
	rep, err := Run(t.Context(), Config{
		Target:   fmt.Sprintf("servent.test:%d", port),
		Resolver: names{"servent.test": {netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")}},
		Timeout:  3 * time.Second,
		Query:    ourQuery,
		Only:     []string{"handshake", "framing"},
		OnStart:  func(r *Report) { WriteStart(&start, r) },
	})
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("127.0.0.1:%d", port), rep.Address, "the IPv4 address is taken")
	assert.Contains(t, rep.Sources, "a fresh loopback address per connection")
	assert.Contains(t, start.String(), fmt.Sprintf("servent.test:%d at 127.0.0.1:%d (", port, port))
	for _, r := range rep.Results {
		if r.Status == Fail || r.Status == Skip && r.Case.Role != Leaf {
			t.Errorf("%s %s: %s", r.Case.ID, r.Status, r.Message)
		}
	}

	_, err = Run(t.Context(), Config{Target: "nowhere.test:6346", Resolver: names{}})
	require.EqualError(t, err, "conform: lookup nowhere.test: no such host")
	var dnsErr *net.DNSError
	require.ErrorAs(t, err, &dnsErr)
}

// TestResolveTarget: a name is looked up and its first IPv4 address
// taken; a name that leads off this machine gets no loopback spreading.
func TestResolveTarget(t *testing.T) {
	r := names{
		"far.test":  {netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.7")},
		"six.test":  {netip.MustParseAddr("2001:db8::1")},
		"none.test": {},
	}
	for target, want := range map[string]string{
		"far.test:6346":         "192.0.2.7:6346",
		"six.test:6346":         "[2001:db8::1]:6346",
		"192.0.2.9:6346":        "192.0.2.9:6346",
		"[::ffff:127.0.0.1]:10": "127.0.0.1:10",
	} {
		ap, err := resolveTarget(t.Context(), r, target, time.Second)
		require.NoError(t, err, target)
		assert.Equal(t, want, ap.String(), target)
	}
	ap, err := resolveTarget(t.Context(), r, "far.test:6346", time.Second)
	require.NoError(t, err)
	s := newSources(ap, nil, 0)
	assert.Equal(t, "one address (the system's choice)", s.describe())

	_, err = resolveTarget(t.Context(), r, "none.test:6346", time.Second)
	assert.ErrorContains(t, err, "none.test has no address")
	_, err = resolveTarget(t.Context(), r, "far.test:0", time.Second)
	assert.ErrorContains(t, err, "port")
}
