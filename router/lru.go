package router

import "github.com/govent/govent/wire"

// lru is one shard's bounded map from GUID to route, the least recently
// used entry out first. It keeps golang-lru simplelru's semantics (get and
// add make an entry the most recent, find does not, an add beyond the
// capacity evicts the least recent), but finds an entry by the keyed hash
// the table has already computed, in hash chains over one slice: a
// duplicate is checked on every descriptor, and Go's map hashing the
// 16-byte key again cost three times the lookup itself (14 ns against 4
// on a 512-entry shard). Entries are slots of one slice, linked by index,
// so the table allocates only as it grows towards its capacity.
type lru struct {
	entries []lruEntry // slots, appended up to capacity and then reused
	buckets []int32    // hash chain heads: slot+1, 0 for an empty chain
	head    int32      // most recently used slot, -1 when empty
	tail    int32      // least recently used slot, -1 when empty
	free    int32      // removed slots to reuse, linked by next; -1 none
	n       int        // live entries
	cap     int
}

type lruEntry struct {
	key        wire.GUID
	hash       uint64
	val        route
	prev, next int32 // recency list (next: towards the tail); free list
	chain      int32 // next slot+1 in the hash chain, 0 for the last
}

// minBuckets is the chain count a new shard starts with.
const minBuckets = 8

// newLRU returns an empty LRU of the given capacity.
func newLRU(capacity int) *lru {
	l := new(lru)
	l.init(capacity)
	return l
}

// init makes l an empty LRU of the given capacity.
func (l *lru) init(capacity int) {
	l.buckets = make([]int32, minBuckets)
	l.head, l.tail, l.free = -1, -1, -1
	l.cap = max(capacity, 1)
}

// bucket picks a chain with the hash's high half: the low bits chose the
// shard, so they are the same for every key here.
func (l *lru) bucket(hash uint64) *int32 {
	return &l.buckets[uint32(hash>>32)&uint32(len(l.buckets)-1)]
}

// find returns the slot holding key, or -1.
func (l *lru) find(key *wire.GUID, hash uint64) int32 {
	for i := *l.bucket(hash) - 1; i >= 0; i = l.entries[i].chain - 1 {
		if e := &l.entries[i]; e.hash == hash && e.key == *key {
			return i
		}
	}
	return -1
}

func (l *lru) get(key *wire.GUID, hash uint64) (route, bool) {
	i := l.find(key, hash)
	if i < 0 {
		return route{}, false
	}
	l.unlist(i)
	l.pushFront(i)
	return l.entries[i].val, true
}

// add sets key to val and makes it the most recent entry, evicting the
// least recent one if the shard is full.
func (l *lru) add(key *wire.GUID, hash uint64, val route) {
	if i := l.find(key, hash); i >= 0 {
		l.entries[i].val = val
		l.unlist(i)
		l.pushFront(i)
		return
	}
	if l.n == l.cap {
		l.drop(l.tail)
	}
	var i int32
	if l.free >= 0 {
		i = l.free
		l.free = l.entries[i].next
	} else {
		i = int32(len(l.entries))
		if len(l.entries) == cap(l.entries) {
			// Grow by doubling, never past the capacity: a full shard
			// holds exactly its entries.
			grown := make([]lruEntry, len(l.entries), min(max(2*len(l.entries), minBuckets), l.cap))
			copy(grown, l.entries)
			l.entries = grown
		}
		l.entries = append(l.entries, lruEntry{})
	}
	b := l.bucket(hash)
	l.entries[i] = lruEntry{key: *key, hash: hash, val: val, chain: *b}
	*b = i + 1
	l.pushFront(i)
	l.n++
	if l.n > len(l.buckets) {
		l.grow()
	}
}

func (l *lru) remove(key *wire.GUID, hash uint64) {
	if i := l.find(key, hash); i >= 0 {
		l.drop(i)
	}
}

// drop takes slot i out of its chain and the recency list and frees it.
func (l *lru) drop(i int32) {
	b := l.bucket(l.entries[i].hash)
	if *b == i+1 {
		*b = l.entries[i].chain
	} else {
		j := *b - 1
		for l.entries[j].chain != i+1 {
			j = l.entries[j].chain - 1
		}
		l.entries[j].chain = l.entries[i].chain
	}
	l.unlist(i)
	l.entries[i] = lruEntry{next: l.free}
	l.free = i
	l.n--
}

func (l *lru) unlist(i int32) {
	e := &l.entries[i]
	if e.prev >= 0 {
		l.entries[e.prev].next = e.next
	} else {
		l.head = e.next
	}
	if e.next >= 0 {
		l.entries[e.next].prev = e.prev
	} else {
		l.tail = e.prev
	}
}

func (l *lru) pushFront(i int32) {
	e := &l.entries[i]
	e.prev, e.next = -1, l.head
	if l.head >= 0 {
		l.entries[l.head].prev = i
	} else {
		l.tail = i
	}
	l.head = i
}

// grow doubles the chains, keeping at most one entry per chain on average.
func (l *lru) grow() {
	l.buckets = make([]int32, 2*len(l.buckets))
	for i := l.head; i >= 0; i = l.entries[i].next {
		b := l.bucket(l.entries[i].hash)
		l.entries[i].chain = *b
		*b = i + 1
	}
}

func (l *lru) len() int { return l.n }
