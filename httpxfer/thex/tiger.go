package thex

import (
	"hash"

	"github.com/cxmcc/tiger"

	"github.com/govent/govent/wire"
)

// Size is the size of a Tiger digest, and so of every node of a tree.
const Size = wire.TTHLen

// BlockSize is THEX's segment size: each leaf hashes 1024 bytes of the file
// (the last one fewer).
const BlockSize = 1024

// Tiger returns the Tiger digest of b (the original Tiger, with 0x01
// padding, which THEX uses; not Tiger2).
func Tiger(b []byte) wire.TTH {
	var d wire.TTH
	h := tiger.New()
	h.Write(b)
	h.Sum(d[:0])
	return d
}

// hasher computes the leaf and inner-node hashes of a tree with one reused
// Tiger state, so that hashing allocates nothing.
type hasher struct {
	h    hash.Hash
	node [1 + 2*Size]byte // 0x01 || left || right
	out  []byte           // Sum's destination, capacity Size
}

func newHasher() hasher {
	h := hasher{h: tiger.New(), out: make([]byte, 0, Size)}
	h.node[0] = 0x01
	return h
}

var leafPrefix = []byte{0x00}

// leaf returns Tiger(0x00 || block).
func (h *hasher) leaf(block []byte) wire.TTH {
	h.h.Reset()
	h.h.Write(leafPrefix)
	h.h.Write(block)
	return wire.TTH(h.h.Sum(h.out[:0]))
}

// parent returns Tiger(0x01 || l || r).
func (h *hasher) parent(l, r *wire.TTH) wire.TTH {
	copy(h.node[1:], l[:])
	copy(h.node[1+Size:], r[:])
	h.h.Reset()
	h.h.Write(h.node[:])
	return wire.TTH(h.h.Sum(h.out[:0]))
}

// parents appends to dst the level above level: each pair hashed, an odd
// last node promoted unchanged.
func (h *hasher) parents(dst, level []wire.TTH) []wire.TTH {
	for i := 0; i+1 < len(level); i += 2 {
		dst = append(dst, h.parent(&level[i], &level[i+1]))
	}
	if len(level)%2 == 1 {
		dst = append(dst, level[len(level)-1])
	}
	return dst
}
