package router

import (
	"math/rand/v2"
	"testing"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// keysOldestFirst lists l's keys from the least recently used, as
// simplelru's Keys does.
func keysOldestFirst(l *lru) []wire.GUID {
	keys := []wire.GUID{}
	for i := l.tail; i >= 0; i = l.entries[i].prev {
		keys = append(keys, l.entries[i].key)
	}
	return keys
}

// TestLRUMatchesSimpleLRU runs random operations on lru and on golang-lru's
// simplelru side by side and insists on the same answers and length after
// each, and the same recency order every 16. Hashes are weak on purpose
// (eight values, some differing only in the shard bits), so that chains
// hold several keys and every unlink path is taken; chains grow past the
// starting size.
func TestLRUMatchesSimpleLRU(t *testing.T) {
	for _, capacity := range []int{1, 3, 64} {
		rng := rand.New(rand.NewPCG(uint64(capacity), 7))
		l := newLRU(capacity)
		ref, err := simplelru.NewLRU[wire.GUID, route](capacity, nil)
		require.NoError(t, err)
		hash := func(k wire.GUID) uint64 { return uint64(k[0]%8)<<32 | uint64(k[0]%2) }
		for step := range 4000 {
			k := guidN(uint64(rng.IntN(3 * capacity)))
			h := hash(k)
			switch op := rng.IntN(4); op {
			case 0:
				v := route{peer: PeerID(rng.Uint64()), at: int64(step)}
				l.add(&k, h, v)
				ref.Add(k, v)
			case 1:
				got, ok := l.get(&k, h)
				want, wantOK := ref.Get(k)
				require.Equal(t, wantOK, ok, "get, step %d", step)
				require.Equal(t, want, got, "get, step %d", step)
			case 2:
				i := l.find(&k, h)
				want, wantOK := ref.Peek(k)
				require.Equal(t, wantOK, i >= 0, "find, step %d", step)
				if i >= 0 {
					require.Equal(t, want, l.entries[i].val, "find, step %d", step)
				}
			case 3:
				l.remove(&k, h)
				ref.Remove(k)
			}
			require.Equal(t, ref.Len(), l.len(), "len, capacity %d, step %d", capacity, step)
			if step%16 == 0 {
				require.Equal(t, ref.Keys(), keysOldestFirst(l), "recency order, capacity %d, step %d", capacity, step)
			}
			require.LessOrEqual(t, cap(l.entries), capacity, "slots beyond the capacity")
		}
	}
}
