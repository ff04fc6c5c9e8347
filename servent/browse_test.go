package servent

import (
	"crypto/sha1"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer"
)

func browsedNames(t *testing.T, res *httpxfer.BrowseResult, want map[string]string) {
	t.Helper()
	var names []string
	for _, f := range res.Files {
		names = append(names, f.Name)
		body, ok := want[f.Name]
		require.True(t, ok, f.Name)
		assert.True(t, f.HasSHA1)
		assert.Equal(t, sha1.Sum([]byte(body)), [20]byte(f.SHA1), f.Name)
		assert.EqualValues(t, len(body), f.Size)
	}
	sort.Strings(names)
	assert.Len(t, names, len(want))
}

// One Govent browses another: every shared file, with its urn:sha1, in
// the QueryHits of the stream.
func TestBrowseHostDirect(t *testing.T) {
	files := map[string]string{"let it be.mp3": "let it be", "yesterday.ogg": "all my troubles", "<help>.txt": "&"}
	cfg := testConfig(t)
	cfg.ShareDir = shareDir(t, files)
	host := startServent(t, cfg)
	browser := startServent(t, testConfig(t))

	res, err := browser.Browse(searchCtx(t), httpxfer.Source{Addr: host.Addr()}, httpxfer.BrowseOptions{})
	require.NoError(t, err)
	browsedNames(t, res, files)
	assert.Equal(t, host.GUID(), res.ServentGUID)
	assert.Equal(t, UserAgent, res.Server)
	assert.False(t, res.Push)
}

// A firewalled Govent (no listening port at all) is browsed through a
// Push routed by the middle servent: it connects back with a GIV and
// serves the browse on that connection.
func TestBrowseHostThroughPush(t *testing.T) {
	files := map[string]string{"hidden one.bin": "one", "hidden two.bin": "two two"}
	cfgH := testConfig(t)
	cfgH.NoListen = true
	cfgH.ShareDir = shareDir(t, files)
	host := startServent(t, cfgH)
	middle := startServent(t, testConfig(t))
	browser := startServent(t, testConfig(t))
	require.NoError(t, host.Connect(middle.Addr()))
	require.NoError(t, browser.Connect(middle.Addr()))
	waitFor(t, "middle has both", func() bool { return len(middle.Peers()) == 2 })

	// The Push route is learned from a QueryHit, as for a download.
	sr, err := browser.Search(searchCtx(t), "hidden")
	require.NoError(t, err)
	hits := collect(t, sr, 1, 5*time.Second)
	require.NotEmpty(t, hits)
	require.True(t, hits[0].Push)

	res, err := browser.Browse(searchCtx(t), SourceOf(hits[0]), httpxfer.BrowseOptions{})
	require.NoError(t, err)
	browsedNames(t, res, files)
	assert.Equal(t, host.GUID(), res.ServentGUID)
	assert.True(t, res.Push, "its QueryHits say it is firewalled")
}
