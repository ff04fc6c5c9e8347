package thex

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/govent/govent/wire"
)

// MaxDepth is the deepest level gtk-gnutella keeps and serves
// (TTH_MAX_DEPTH): 2^11 = 2048 nodes, reached by files of 1 GiB and more.
const MaxDepth = 11

// Errors, told apart with errors.Is.
var (
	// ErrMismatch: bytes or a tree do not hash to the nodes they should.
	ErrMismatch = errors.New("tiger tree mismatch")
	// ErrMalformed: a DIME message, THEX record or X-Thex-URI does not parse,
	// or breaks a bound.
	ErrMalformed = errors.New("malformed THEX data")
	// ErrRange: a byte range that the tree cannot check as asked (not on a
	// chunk boundary, past the end of the file).
	ErrRange = errors.New("range not aligned to the tiger tree")
)

// Blocks returns the number of 1024-byte leaves of a file of size bytes;
// the empty file has one, the hash of no bytes.
func Blocks(size int64) int64 {
	if size <= 0 {
		return 1
	}
	// Not (size+BlockSize-1)/BlockSize: that overflows near MaxInt64.
	n := size / BlockSize
	if size%BlockSize != 0 {
		n++
	}
	return n
}

// FullDepth returns the depth of the leaves of a file's complete tree (the
// root is depth 0): the smallest d with 2^d >= Blocks(size).
func FullDepth(size int64) int {
	// In constant time: the download's bookkeeping asks for it (through
	// Tree.ChunkSize) for every segment it looks at.
	return bits.Len64(uint64(Blocks(size) - 1))
}

// GoodDepth returns the depth down to which gtk-gnutella keeps and serves a
// file's tree (tt_good_depth): 0 (the root alone) below 256 KiB, one more
// level for each doubling of the size up to 64 MiB, then 9 below 256 MiB,
// 10 below 1 GiB and MaxDepth from there on; never deeper than the leaves.
func GoodDepth(size int64) int {
	thresholds := [...]int64{256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20, 256 << 20, 1 << 30}
	d := 0
	for d < len(thresholds) && size >= thresholds[d] {
		d++
	}
	return min(d, FullDepth(size))
}

// NodeCount returns the number of nodes at depth of a file's tree.
func NodeCount(size int64, depth int) int64 {
	up := FullDepth(size) - depth
	if up <= 0 {
		return Blocks(size)
	}
	return (Blocks(size) + (1 << up) - 1) >> up
}

// SegmentSize returns the bytes of the file that a node at depth covers
// (the last node of a level may cover fewer).
func SegmentSize(size int64, depth int) int64 {
	return BlockSize << max(FullDepth(size)-depth, 0)
}

// Tree is a file's Tiger tree from the root down to some depth: Levels[0]
// holds the root, Levels[d] the NodeCount(Size, d) nodes at depth d, left
// to right, as THEX serializes them breadth first.
type Tree struct {
	Size   int64
	Levels [][]wire.TTH
}

// Root returns the root of the tree, the file's urn:tree:tiger.
func (t *Tree) Root() wire.TTH { return t.Levels[0][0] }

// Depth returns the depth of the deepest level kept.
func (t *Tree) Depth() int { return len(t.Levels) - 1 }

// ChunkSize returns the bytes that one node of the deepest level covers:
// the unit in which Verify and Checker check a download.
func (t *Tree) ChunkSize() int64 { return SegmentSize(t.Size, t.Depth()) }

// NewTree builds the tree of a file of size bytes from the nodes at one
// depth, computing every level above. It fails when there are not
// NodeCount(size, depth) nodes.
func NewTree(size int64, depth int, nodes []wire.TTH) (*Tree, error) {
	if size < 0 || depth < 0 || depth > FullDepth(size) {
		return nil, fmt.Errorf("%w: depth %d for a file of %d bytes", ErrMalformed, depth, size)
	}
	if int64(len(nodes)) != NodeCount(size, depth) {
		return nil, fmt.Errorf("%w: %d nodes at depth %d, want %d", ErrMalformed, len(nodes), depth, NodeCount(size, depth))
	}
	t := &Tree{Size: size, Levels: make([][]wire.TTH, depth+1)}
	t.Levels[depth] = nodes
	for d := depth; d > 0; d-- {
		t.Levels[d-1] = parents(make([]wire.TTH, 0, (len(t.Levels[d])+1)/2), t.Levels[d])
	}
	return t, nil
}

// Root returns the root of b's tree, the THEX hash of b.
func Root(b []byte) wire.TTH {
	bld := NewBuilder()
	bld.Write(b)
	return bld.Root()
}

// merkle hashes a byte stream into the nodes of one level of its tree:
// every node at level top (counted up from the leaves, so covering 2^top
// blocks) is appended to out as soon as its bytes are in. Below that it
// keeps one pending node per level, as the reference implementation does.
//
// Leaves are hashed three at a time (leaf3), across writes: up to two
// whole leaves a write leaves over wait in carry, with the partial leaf
// after them, for the leaves of the next write; finish hashes them.
type merkle struct {
	carry [3 * BlockSize]byte
	fill  int   // bytes in carry: whole leaves not hashed yet, then a partial one
	n     int64 // bytes written
	top   int
	stack []pending // levels strictly decreasing, all below top
	out   []wire.TTH
	keep  int // when out reaches keep nodes (even), fold it a level up; 0: never
}

type pending struct {
	hash  wire.TTH
	level int
}

func newMerkle(top int) *merkle { return &merkle{top: top} }

func (m *merkle) write(p []byte) {
	// Every byte before carry is in a leaf already added.
	done := (m.n - int64(m.fill)) / BlockSize
	m.n += int64(len(p))
	var batch [leafBatch]wire.TTH
	hs := batch[:0]
	if m.fill > 0 {
		if m.fill+len(p) < 3*BlockSize {
			m.fill += copy(m.carry[m.fill:], p)
			return
		}
		// Three leaves: those in carry, the partial one completed, and
		// the rest from p where they lie.
		k := m.fill / BlockSize
		if r := m.fill % BlockSize; r > 0 {
			p = p[copy(m.carry[m.fill:(k+1)*BlockSize], p):]
			k++
		}
		var three [3][]byte
		for i := range three {
			if i < k {
				three[i] = m.carry[i*BlockSize : (i+1)*BlockSize]
			} else {
				three[i], p = p[:BlockSize], p[BlockSize:]
			}
		}
		hs = batch[:3] // the batch's first leaves
		leaf3((*[3]wire.TTH)(hs), three[0], three[1], three[2])
		m.fill = 0
	}
	// Whole leaves, three at a time, hashed where they lie, without a
	// copy, a batch at a time; fewer than three are left for carry.
	for {
		w := len(p) / BlockSize
		w = min(w-w%3, leafBatch-len(hs))
		if w == 0 {
			break
		}
		leaves(hs[len(hs):len(hs)+w], p[:w*BlockSize])
		hs, p = hs[:len(hs)+w], p[w*BlockSize:]
		if len(hs) == leafBatch {
			m.addRun(hs, done)
			done += int64(len(hs))
			hs = hs[:0]
		}
	}
	if len(hs) > 0 {
		m.addRun(hs, done)
	}
	m.fill = copy(m.carry[:], p)
}

// leafBatch is how many leaves merkle.write hashes before it adds them:
// a multiple of three, as write hashes them, and of 32 for addRun.
const leafBatch = 96

// flush hashes and adds the whole leaves waiting in carry (at most two),
// leaving the partial one, if any, at its start.
func (m *merkle) flush() {
	k := m.fill / BlockSize
	if k == 0 {
		return
	}
	var hs [2]wire.TTH
	leaves(hs[:k], m.carry[:k*BlockSize])
	m.addRun(hs[:k], (m.n-int64(m.fill))/BlockSize)
	m.fill = copy(m.carry[:], m.carry[k*BlockSize:m.fill])
}

// addRun adds nodes hs, after done of them at level 0. The level above
// is computed first, all of it at once (parents hashes three nodes
// together), and so on up below top: a first node that completes a pair
// with one pending is added alone, and a last node without its pair
// waits, at its level, for the run above it to be added.
func (m *merkle) addRun(hs []wire.TTH, done int64) {
	var waiting [8]pending // one per level lifted: len(hs) <= leafBatch < 2^8
	nw := 0
	level := 0
	for level < m.top && len(hs) >= 2 {
		if done%2 != 0 {
			m.addAt(hs[0], level)
			hs, done = hs[1:], done+1
		}
		if len(hs)%2 != 0 {
			waiting[nw] = pending{hs[len(hs)-1], level}
			nw++
			hs = hs[:len(hs)-1]
		}
		hs = parents(hs[:0], hs)
		done /= 2
		level++
	}
	for _, h := range hs {
		m.addAt(h, level)
	}
	for i := nw - 1; i >= 0; i-- {
		m.addAt(waiting[i].hash, waiting[i].level)
	}
}

// addAt takes the next node, at level; no node below level is pending.
func (m *merkle) addAt(hash wire.TTH, level int) {
	node := pending{hash, level}
	for len(m.stack) > 0 && m.stack[len(m.stack)-1].level == node.level && node.level < m.top {
		l := &m.stack[len(m.stack)-1]
		node = pending{parent(&l.hash, &node.hash), node.level + 1}
		m.stack = m.stack[:len(m.stack)-1]
	}
	if node.level == m.top {
		m.out = append(m.out, node.hash)
		if len(m.out) == m.keep {
			// keep is even, so every node pairs: the level above is
			// complete so far, and becomes the one kept.
			m.out = parents(m.out[:0], m.out)
			m.top++
		}
		return
	}
	m.stack = append(m.stack, node)
}

// tail returns the node at level top for the blocks after the last one
// emitted (the last, partial block included) without changing m, and
// whether there is one: those blocks form the last, smaller subtree of the
// level, whose root is the pending nodes folded from the right. No whole
// leaf may be waiting in carry (see flush).
func (m *merkle) tail() (wire.TTH, bool) {
	stack := m.stack
	var last pending
	switch {
	case m.fill > 0 || m.n == 0:
		last = pending{leaf(m.carry[:m.fill]), 0}
	case len(stack) > 0:
		last, stack = stack[len(stack)-1], stack[:len(stack)-1]
	default:
		return wire.TTH{}, false
	}
	for i := len(stack) - 1; i >= 0; i-- {
		last.hash = parent(&stack[i].hash, &last.hash)
	}
	return last.hash, true
}

// finish returns the nodes at level top of everything written, the tail
// included (a copy; m is unchanged but for the leaves waiting in carry,
// which it adds).
func (m *merkle) finish() []wire.TTH {
	m.flush()
	out := append(make([]wire.TTH, 0, len(m.out)+1), m.out...)
	if t, ok := m.tail(); ok {
		out = append(out, t)
	}
	return out
}

// maxKept is how many nodes Builder keeps before it folds them into the
// level above: twice the nodes of the deepest level it may be asked for,
// so that level is never folded away.
const maxKept = 2 << MaxDepth

// Builder computes the tree of a file as its bytes are written, in memory
// bounded by maxKept nodes whatever the file's size. It costs one Tiger
// pass over the bytes plus one Tiger block per 1024 bytes (the 0x00 leaf
// prefix, and one inner node per leaf on average).
type Builder struct {
	m *merkle
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	m := newMerkle(0)
	m.keep = maxKept
	return &Builder{m: m}
}

// Write adds p to the file; it never fails.
func (b *Builder) Write(p []byte) (int, error) {
	b.m.write(p)
	return len(p), nil
}

// Size returns the bytes written so far.
func (b *Builder) Size() int64 { return b.m.n }

// Root returns the root of the tree of the bytes written so far.
func (b *Builder) Root() wire.TTH { return b.TreeToDepth(0).Root() }

// Tree returns the tree of the bytes written so far down to GoodDepth, as
// gtk-gnutella serves it. Writing may go on afterwards.
func (b *Builder) Tree() *Tree { return b.TreeToDepth(GoodDepth(b.m.n)) }

// TreeToDepth returns the tree of the bytes written so far down to depth,
// or as deep as the Builder kept (at least MaxDepth) if that is less.
func (b *Builder) TreeToDepth(depth int) *Tree {
	size := b.m.n
	nodes := b.m.finish()
	d := FullDepth(size) - b.m.top
	for ; d > depth; d-- {
		nodes = parents(nodes[:0:0], nodes)
	}
	t, err := NewTree(size, d, nodes)
	if err != nil {
		panic("thex: Builder lost count of its nodes: " + err.Error())
	}
	return t
}
