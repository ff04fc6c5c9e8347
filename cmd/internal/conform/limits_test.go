package conform

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loopback is the one source address of the runs below that do not
// spread their connections.
var loopback = netip.MustParseAddr("127.0.0.1")

// TestBannedSource: connecting from one address to a servent that bans an
// address after two connections (as gtk-gnutella does), the case that gets
// the 429 and every later one are skipped with the reason, not failed, and
// the suite opens nothing more. A second run finds the address banned:
// the target answers nothing, and the run stops after two silent
// handshakes instead of waiting out every case.
func TestBannedSource(t *testing.T) {
	f := startFake(t, faults{banRepeat: true})
	rep, err := Run(t.Context(), Config{Target: f.addr(), Timeout: 2 * time.Second, Query: ourQuery, Sources: []netip.Addr{loopback}})
	require.NoError(t, err)
	require.Greater(t, len(rep.Results), 10)
	// The role check was connection 1 and handshake/1 connection 2.
	assert.Equal(t, Pass, rep.Results[0].Status, rep.Results[0].Message)
	banned := rep.Results[1]
	assert.Equal(t, "handshake/2", banned.Case.ID)
	assert.Equal(t, Skip, banned.Status)
	assert.Contains(t, banned.Message, `"GNUTELLA/0.6 429 Banned for 5m 0s"`)
	assert.Contains(t, banned.Message, "--pace")
	for _, r := range rep.Results[2:] {
		assert.Equal(t, Skip, r.Status, "%s: %s", r.Case.ID, r.Message)
		assert.Zero(t, r.Conns, "%s connected", r.Case.ID)
		if r.Case.Role != Leaf {
			assert.Contains(t, r.Message, "refuses every address", r.Case.ID)
		}
	}
	require.Len(t, rep.Bans, 1)
	assert.Contains(t, rep.Bans[0], "127.0.0.1")
	assert.Empty(t, rep.Gone)
	_, most := f.addrs()
	assert.Equal(t, fakeBanAfter+1, most, "nothing was opened after the ban")

	rep, err = Run(t.Context(), Config{Target: f.addr(), Timeout: 300 * time.Millisecond, Sources: []netip.Addr{loopback}})
	require.NoError(t, err)
	assert.Equal(t, Both, rep.TargetRole, "the role check got no answer")
	first := rep.Results[0]
	assert.Equal(t, Fail, first.Status, "the second silent handshake is the target's failure to answer")
	for _, r := range rep.Results[1:] {
		assert.Equal(t, Skip, r.Status, "%s: %s", r.Case.ID, r.Message)
		assert.Zero(t, r.Conns, "%s connected", r.Case.ID)
		assert.Contains(t, r.Message, "stopped answering", r.Case.ID)
	}
	assert.Contains(t, rep.Gone, "2 connections in a row got no handshake answer")
	_, most = f.addrs()
	assert.Equal(t, fakeBanAfter+1+silentLimit, most, "two connections, not one per case")
}

// TestTargetGoneMidRun: once the target refuses TCP connections, the case
// that met the refusal fails and the rest are skipped without dialling.
func TestTargetGoneMidRun(t *testing.T) {
	f := startFake(t, faults{})
	rep, err := Run(t.Context(), Config{Target: f.addr(), Timeout: 2 * time.Second, Query: ourQuery,
		OnResult: func(r Result) {
			if r.Case.ID == "handshake/3" {
				f.stop()
			}
		}})
	require.NoError(t, err)
	var after []Result
	for i, r := range rep.Results {
		if r.Case.ID == "handshake/4" {
			after = rep.Results[i:]
		}
	}
	require.NotEmpty(t, after)
	assert.Equal(t, Fail, after[0].Status)
	assert.Contains(t, after[0].Message, "connection refused")
	for _, r := range after[1:] {
		assert.Equal(t, Skip, r.Status, "%s: %s", r.Case.ID, r.Message)
		assert.Zero(t, r.Conns, "%s connected", r.Case.ID)
		assert.Contains(t, r.Message, "stopped taking TCP connections (in handshake/4", r.Case.ID)
	}
	assert.Contains(t, rep.Gone, "stopped taking TCP connections")
}

// TestOneLinkPerAddress: from one address, a servent that takes one link
// per address (gtk-gnutella's "409 Already connected") cannot be tested by
// cases that need several links at once; they are skipped, saying so, and
// the single-link cases still run.
func TestOneLinkPerAddress(t *testing.T) {
	f := startFake(t, faults{onePerAddr: true})
	rep, err := Run(t.Context(), Config{Target: f.addr(), Timeout: 2 * time.Second, Sources: []netip.Addr{loopback},
		Only: []string{"handshake/1", "ping/1", "route/1", "route/5", "push/1"}})
	require.NoError(t, err)
	got := map[string]Result{}
	for _, r := range rep.Results {
		got[r.Case.ID] = r
	}
	assert.Equal(t, Pass, got["handshake/1"].Status)
	assert.Equal(t, Pass, got["ping/1"].Status)
	for _, id := range []string{"route/1", "route/5", "push/1"} {
		assert.Equal(t, Skip, got[id].Status, id)
		assert.Contains(t, got[id].Message, `limits the connections per address ("GNUTELLA/0.6 409 Already connected") and the case needs several at once`, id)
	}
}
