package servent

import (
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/servent/sendq"
)

// overlay is a set of connected servents; node 0 searches.
type overlay struct {
	nodes []*Servent
	edges [][2]int
}

// buildOverlay starts n servents, node 0 with the given TTL, the others
// sharing files[i], and connects each edge (a dials b). It returns once
// every link is up at both ends.
func buildOverlay(t *testing.T, n int, ttl uint8, edges [][2]int, files map[int]string) *overlay {
	t.Helper()
	o := &overlay{edges: edges}
	for i := range n {
		cfg := testConfig(t)
		if i == 0 {
			cfg.DefaultTTL = ttl
		}
		if name, ok := files[i]; ok {
			cfg.ShareDir = shareDir(t, map[string]string{name: "bytes of " + name})
		}
		o.nodes = append(o.nodes, startServent(t, cfg))
	}
	degree := make([]int, n)
	for _, e := range edges {
		require.NoError(t, o.nodes[e[0]].Connect(o.nodes[e[1]].Addr()), "edge %v", e)
		degree[e[0]]++
		degree[e[1]]++
	}
	waitFor(t, "every link up at both ends", func() bool {
		for i, s := range o.nodes {
			if len(s.Peers()) != degree[i] {
				return false
			}
		}
		return true
	})
	return o
}

// queriesSent is how many Queries s queued for its neighbours.
func queriesSent(s *Servent) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for _, c := range s.conns {
		st := c.q.Stats()
		n += st.Class[sendq.ClassQuery].Enqueued
	}
	return n
}

// searchHorizon searches from node 0 and checks that exactly the files
// within the TTL horizon answer, that the nodes on the horizon did not
// forward the Query and that no node beyond it saw the Query at all.
func searchHorizon(t *testing.T, o *overlay, text string, want []string, horizon, beyond []int) {
	t.Helper()
	sr, err := o.nodes[0].Search(searchCtx(t), text)
	require.NoError(t, err)
	res := collect(t, sr, len(want), 10*time.Second)
	var names []string
	for _, r := range res {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	if !assert.Equal(t, want, names) {
		for i, s := range o.nodes {
			t.Logf("node %d: queries in %d, sent %d, answered %d, router %+v", i, queryCount(s), queriesSent(s), s.Stats().Answered, s.Stats().Router)
		}
	}
	// The horizon nodes decided not to forward before they answered, and
	// their answers are in: nothing can travel further any more.
	for _, i := range horizon {
		assert.Zero(t, queriesSent(o.nodes[i]), "node %d on the horizon forwarded the Query", i)
	}
	for _, i := range beyond {
		assert.Zero(t, queryCount(o.nodes[i]), "node %d beyond the horizon saw the Query", i)
		assert.Zero(t, o.nodes[i].Stats().Answered, "node %d beyond the horizon answered", i)
	}
}

// TestRingHorizon searches a ring of 12 from node 0: with TTL 3 the files
// 3 hops away (both directions) are found and those 4 hops away are not;
// with TTL 4 they are.
func TestRingHorizon(t *testing.T) {
	const n = 12
	var edges [][2]int
	for i := range n {
		edges = append(edges, [2]int{i, (i + 1) % n})
	}
	files := map[int]string{
		2: "ringfile hop2 east.txt",
		3: "ringfile hop3 east.txt", 9: "ringfile hop3 west.txt",
		4: "ringfile hop4 east.txt", 8: "ringfile hop4 west.txt",
		6: "ringfile hop6.txt",
	}
	tests := []struct {
		name    string
		ttl     uint8
		want    []string
		horizon []int
		beyond  []int
	}{
		{
			name:    "TTL 3",
			ttl:     3,
			want:    []string{"ringfile hop2 east.txt", "ringfile hop3 east.txt", "ringfile hop3 west.txt"},
			horizon: []int{3, 9},
			beyond:  []int{4, 5, 6, 7, 8},
		},
		{
			name: "TTL 4",
			ttl:  4,
			want: []string{"ringfile hop2 east.txt", "ringfile hop3 east.txt", "ringfile hop3 west.txt",
				"ringfile hop4 east.txt", "ringfile hop4 west.txt"},
			horizon: []int{4, 8},
			beyond:  []int{5, 6, 7},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vtest(t, func(t *testing.T) {
				o := buildOverlay(t, n, tt.ttl, edges, files)
				searchHorizon(t, o, "ringfile", tt.want, tt.horizon, tt.beyond)
			})
		})
	}
}

// TestMeshHorizon searches a layered mesh of 12 servents from node 0 with
// TTL 3: node 0, then layers of 3, 3, 3 and 2 servents, each layer linked to
// every node of the next. Every node of layer k is reached over many paths,
// all k hops long (a path back and forth is at least k+2 hops, beyond the
// horizon for layer 3 and only ever a duplicate before it), so the horizon
// is exact: layer 3 answers, layer 4 never sees the Query. Each layer-3 node
// gets three copies and answers once (the router's GUID check).
func TestMeshHorizon(t *testing.T) {
	vtest(t, func(t *testing.T) {
		layers := [][]int{{0}, {1, 2, 3}, {4, 5, 6}, {7, 8, 9}, {10, 11}}
		var edges [][2]int
		for k := 0; k+1 < len(layers); k++ {
			for _, a := range layers[k] {
				for _, b := range layers[k+1] {
					edges = append(edges, [2]int{a, b})
				}
			}
		}
		files := map[int]string{
			1: "meshfile hop1.txt",
			7: "meshfile hop3 a.txt", 8: "meshfile hop3 b.txt", 9: "meshfile hop3 c.txt",
			10: "meshfile hop4.txt",
		}
		o := buildOverlay(t, 12, 3, edges, files)
		searchHorizon(t, o, "meshfile",
			[]string{"meshfile hop1.txt", "meshfile hop3 a.txt", "meshfile hop3 b.txt", "meshfile hop3 c.txt"},
			layers[3], layers[4])
		for _, i := range layers[3] {
			waitFor(t, fmt.Sprintf("node %d gets a copy from every layer-2 node", i), func() bool {
				return queryCount(o.nodes[i]) == 3
			})
			assert.EqualValues(t, 1, o.nodes[i].Stats().Answered, "node %d", i)
		}
	})
}

// TestPongsFillHostCache connects three servents to a hub, then a newcomer:
// the hub answers the newcomer's hello Ping from its pong cache, so the
// newcomer learns the hub's other neighbours without connecting to them.
func TestPongsFillHostCache(t *testing.T) {
	vtest(t, func(t *testing.T) {
		hub := startServent(t, testConfig(t))
		var others []*Servent
		for range 3 {
			o := startServent(t, testConfig(t))
			require.NoError(t, o.Connect(hub.Addr()))
			others = append(others, o)
		}
		waitFor(t, "the hub caches its neighbours' Pongs", func() bool {
			for _, o := range others {
				if _, ok := hub.router.CachedPong(o.Addr()); !ok {
					return false
				}
			}
			return true
		})

		newcomer := startServent(t, testConfig(t))
		require.NoError(t, newcomer.Connect(hub.Addr()))
		for _, o := range others {
			waitFor(t, "the newcomer learns "+o.Addr().String(), func() bool {
				h, ok := newcomer.Hosts().Get(o.Addr())
				return ok && h.Source == hostcache.SourcePong
			})
		}
		assert.Len(t, newcomer.Peers(), 1, "learnt, not connected")
		// The hub's own Pong names the hub; the newcomer must not list itself.
		_, self := newcomer.Hosts().Get(newcomer.Addr())
		assert.False(t, self)
	})
}

// TestRestartReusesState stops a servent and starts a new one on the same
// DataDir: the host cache, the servent GUID and the SHA-1 cache come back.
// The shared file is rewritten with other bytes of the same size and time
// stamp, so a rehash would show as a different digest.
func TestRestartReusesState(t *testing.T) {
	vtest(t, func(t *testing.T) {
		dataDir := t.TempDir()
		const name, before, after = "abbey road.mp3", "abbey road bytes", "ABBEY ROAD BYTES"
		share := shareDir(t, map[string]string{name: before})
		cfg := testConfig(t)
		cfg.DataDir = dataDir
		cfg.ShareDir = share

		first := startServent(t, cfg)
		var peers []*Servent
		for range 2 {
			p := startServent(t, testConfig(t))
			require.NoError(t, first.Connect(p.Addr()))
			peers = append(peers, p)
		}
		for _, p := range peers {
			waitFor(t, "the peer's Pong names it", func() bool {
				_, ok := first.Hosts().Get(p.Addr())
				return ok
			})
		}
		all := first.Library().All()
		require.Len(t, all, 1)
		require.True(t, all[0].Hashed)
		require.Equal(t, sha1.Sum([]byte(before)), [20]byte(all[0].SHA1))
		guid := first.GUID()
		require.NoError(t, first.Close())

		path := filepath.Join(share, name)
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, []byte(after), 0o644))
		require.NoError(t, os.Chtimes(path, fi.ModTime(), fi.ModTime()))
		require.NotEqual(t, sha1.Sum([]byte(before)), sha1.Sum([]byte(after)))

		second := startServent(t, cfg)
		for _, p := range peers {
			_, ok := second.Hosts().Get(p.Addr())
			assert.True(t, ok, "host %s not restored", p.Addr())
		}
		assert.Equal(t, guid, second.GUID())
		all = second.Library().All()
		require.Len(t, all, 1)
		assert.True(t, all[0].Hashed)
		assert.Equal(t, sha1.Sum([]byte(before)), [20]byte(all[0].SHA1), "the digest was recomputed, not reused")
		st := second.Library().Stats()
		assert.Zero(t, st.Pending)
		assert.Equal(t, 1, st.Hashed)
		assert.Equal(t, fmt.Sprint(all[0].Index), fmt.Sprint(first.Library().All()[0].Index), "the file keeps its index")
	})
}
