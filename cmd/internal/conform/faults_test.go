package conform

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFaultyServent plays the whole suite against the fake: sound, it
// fails nothing; with one fault switched on, exactly the cases about that
// fault fail. This is how we know each of them can fail.
func TestFaultyServent(t *testing.T) {
	tests := []struct {
		name string
		sw   faults
		fail []string
	}{
		{name: "sound"},
		{name: "forwards duplicates", sw: faults{forwardDuplicates: true},
			fail: []string{"route/5", "route/6", "push/4"}},
		// Without a decrement, TTL arithmetic is wrong everywhere it is
		// checked: trimming, the TTL-1 rule, each forwarded header, and the
		// last-hop rule (a TTL-2 Query never reaches its last hop). Not
		// route/12: a TTL-1 Query reaching a leaf with TTL 1 is what
		// gtk-gnutella sends too (it never sends TTL 0).
		{name: "does not decrement TTL", sw: faults{keepTTL: true},
			fail: []string{"framing/8", "route/2", "route/7", "route/8", "route/13", "push/1"}},
		{name: "answers a Ping with a new GUID", sw: faults{newPongGUID: true},
			fail: []string{"ping/3"}},
		{name: "routes a QueryHit to every link", sw: faults{hitsEverywhere: true},
			fail: []string{"route/9"}},
		{name: "ignores QRP", sw: faults{ignoreQRP: true},
			fail: []string{"route/11", "route/13"}},
		// Per-address limits are no faults: the suite, connecting from a
		// fresh loopback address each time, never trips them.
		{name: "bans an address after two connections", sw: faults{banRepeat: true}},
		{name: "takes one link per address", sw: faults{onePerAddr: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, tt.sw)
			rep, err := Run(t.Context(), Config{Target: f.addr(), Timeout: 2 * time.Second, Query: ourQuery})
			require.NoError(t, err)
			var failed []string
			for _, r := range rep.Results {
				if r.Status == Fail {
					failed = append(failed, r.Case.ID)
					t.Logf("%s: %s", r.Case.ID, r.Message)
				}
			}
			assert.Equal(t, tt.fail, failed)
			// Every connection came from an address of its own.
			addrs, most := f.addrs()
			assert.Equal(t, 1, most, "connections from one address (of %d)", addrs)
			for _, r := range rep.Results {
				assert.LessOrEqual(t, r.Conns, r.Case.conns(), "%s opened more connections than it declares", r.Case.ID)
			}
			// The fake shares a file, so the cases that need one ran.
			for _, r := range rep.Results {
				if r.Status == Skip {
					assert.True(t, slices.Contains(fakeSkips, r.Case.ID), "%s skipped: %s", r.Case.ID, r.Message)
				}
			}
			t.Logf("%d cases in %s", len(rep.Results), rep.Elapsed)
		})
	}
}

// fakeSkips are the cases that do not apply to the fake: it is an
// ultrapeer, does not compress, sends no Ping of its own, does not
// announce dynamic querying, and its file name needs no URL-encoding.
var fakeSkips = []string{
	"handshake/4", "handshake/12", "ping/9", "route/15",
	"qrp/5", "qrp/6", "qrp/7", "qrp/8",
	"deflate/1", "deflate/3", "deflate/4", "deflate/5", "http/11",
}
