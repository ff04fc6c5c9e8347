package router

import (
	"encoding/binary"
	"math/bits"
	"sync"
	"unsafe"

	"github.com/govent/govent/wire"
)

// route is one table entry: the peer replies (or Pushes) go to, and when the
// entry was made. 16 bytes, so that an entry with its key, hash and links
// takes 56 bytes, and its hash chain head 4 to 8 more.
type route struct {
	peer PeerID
	at   int64 // nanoseconds since the router's base time
}

// cacheLine keeps each shard's lock on its own cache line, so that cores
// working on different shards do not slow each other down.
const cacheLine = 64

// tableShard is one lock and one LRU. The LRU is unlocked: the shard lock
// serialises access, and check-then-insert must be atomic anyway. The LRU
// is held by value, beside its lock: a duplicate check then loads no
// separately allocated LRU header. Two cache lines per shard.
type tableShard struct {
	mu  sync.Mutex
	lru lru
	_   [2*cacheLine - unsafe.Sizeof(sync.Mutex{}) - unsafe.Sizeof(lru{})]byte
}

// table maps a GUID to a route. It is split into a power-of-two number of
// shards chosen by a keyed hash of the GUID, so that routing on several
// cores rarely contends and a peer choosing GUIDs cannot aim them all at one
// shard. Entries expire ttl after insertion; each shard holds at most
// capacity/shards entries, so the table never holds more than capacity.
type table struct {
	shards []tableShard
	mask   uint64
	ttl    int64
}

func newTable(capacity, shards int, ttl int64) *table {
	capacity = max(capacity, 1)
	n := 1
	for n*2 <= shards && n*2 <= capacity {
		n *= 2
	}
	t := &table{shards: make([]tableShard, n), mask: uint64(n - 1), ttl: ttl}
	for i := range t.shards {
		t.shards[i].lru.init(capacity / n)
	}
	return t
}

func (t *table) shard(hash uint64) *tableShard { return &t.shards[hash&t.mask] }

func (t *table) fresh(r route, now int64) bool { return now-r.at < t.ttl }

// claim records key -> peer unless a fresh entry for key is already there,
// in which case it reports a duplicate and leaves the first entry alone: the
// first copy of a request is the one whose path replies follow.
func (t *table) claim(key *wire.GUID, hash uint64, peer PeerID, now int64) (dup bool) {
	s := t.shard(hash)
	s.mu.Lock()
	if r, ok := s.lru.get(key, hash); ok && t.fresh(r, now) {
		s.mu.Unlock()
		return true
	}
	s.lru.add(key, hash, route{peer: peer, at: now})
	s.mu.Unlock()
	return false
}

// seen reports whether a fresh entry for key is there, changing nothing:
// the duplicate check made on a header before its payload is decoded.
func (t *table) seen(key *wire.GUID, hash uint64, now int64) bool {
	s := t.shard(hash)
	s.mu.Lock()
	// find, inlined, and not a call to a peek: this check runs for every
	// duplicate, and a call is a few percent of it.
	i := s.lru.find(key, hash)
	fresh := i >= 0 && t.fresh(s.lru.entries[i].val, now)
	s.mu.Unlock()
	return fresh
}

// lookup returns the fresh entry for key. An expired entry is removed on the
// way, so it stops taking space before the LRU would evict it.
func (t *table) lookup(key *wire.GUID, hash uint64, now int64) (route, bool) {
	s := t.shard(hash)
	s.mu.Lock()
	r, ok := s.lru.get(key, hash)
	if ok && !t.fresh(r, now) {
		s.lru.remove(key, hash)
		ok = false
	}
	s.mu.Unlock()
	return r, ok
}

// put records key -> peer, replacing any entry: the newest QueryHit from a
// servent names the freshest path to it.
func (t *table) put(key *wire.GUID, hash uint64, peer PeerID, now int64) {
	s := t.shard(hash)
	s.mu.Lock()
	s.lru.add(key, hash, route{peer: peer, at: now})
	s.mu.Unlock()
}

// len counts the entries, expired or not, that the table holds.
func (t *table) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += s.lru.len()
		s.mu.Unlock()
	}
	return n
}

// guidHasher picks shards. It is keyed with random bits at start-up: GUIDs
// come from peers, and an unkeyed function would let them crowd one shard.
// The mix is wyhash's 128-bit multiply folded to 64 bits.
type guidHasher struct{ k0, k1 uint64 }

func (g guidHasher) hash(id *wire.GUID) uint64 {
	a := binary.LittleEndian.Uint64(id[0:8]) ^ g.k0
	b := binary.LittleEndian.Uint64(id[8:16]) ^ g.k1
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
