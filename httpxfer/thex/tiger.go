package thex

import (
	"encoding/binary"
	"slices"

	"github.com/govent/govent/wire"
)

// Size is the size of a Tiger digest, and so of every node of a tree.
const Size = wire.TTHLen

// BlockSize is THEX's segment size: each leaf hashes 1024 bytes of the file
// (the last one fewer).
const BlockSize = 1024

// tigerBlock is the block of Tiger's compression function.
const tigerBlock = 64

// tigerInit is Tiger's initial state (a, b, c).
var tigerInit = [3]uint64{0x0123456789abcdef, 0xfedcba9876543210, 0xf096a5b4c3b2e187}

// Tiger returns the Tiger digest of b (the original Tiger, with 0x01
// padding, which THEX uses; not Tiger2).
func Tiger(b []byte) wire.TTH {
	var d digest
	d.Reset()
	d.Write(b)
	return d.sum()
}

// digest is a streaming Tiger (a hash.Hash), for the tests and the
// S-box generator's checks; the tree hashes its leaves and nodes without
// one (prefixed).
type digest struct {
	s   [3]uint64
	x   [tigerBlock]byte
	nx  int
	len uint64
}

func (d *digest) Reset() {
	d.s, d.nx, d.len = tigerInit, 0, 0
}

func (d *digest) Size() int      { return Size }
func (d *digest) BlockSize() int { return tigerBlock }

func (d *digest) Write(p []byte) (int, error) {
	n := len(p)
	d.len += uint64(n)
	if d.nx > 0 {
		c := copy(d.x[d.nx:], p)
		d.nx += c
		p = p[c:]
		if d.nx < tigerBlock {
			return n, nil
		}
		block(&d.s, d.x[:])
		d.nx = 0
	}
	whole := len(p) &^ (tigerBlock - 1)
	block(&d.s, p[:whole])
	d.nx = copy(d.x[:], p[whole:])
	return n, nil
}

// Sum appends the digest of what was written to in; d is unchanged.
func (d *digest) Sum(in []byte) []byte {
	s := d.sum()
	return append(in, s[:]...)
}

func (d *digest) sum() wire.TTH {
	var buf [2 * tigerBlock]byte
	copy(buf[:], d.x[:d.nx])
	s := d.s
	block(&s, pad(buf[:], d.nx, d.len))
	return digestOf(&s)
}

// pad writes Tiger's padding after the k message bytes at the start of t
// (len(t) >= 2*tigerBlock, k < tigerBlock), for a message of total bytes,
// and returns the one or two blocks to compress: 0x01, zeros up to 56
// bytes modulo 64, the message's length in bits, little-endian.
func pad(t []byte, k int, total uint64) []byte {
	end := tigerBlock
	if k >= tigerBlock-8 {
		end = 2 * tigerBlock
	}
	t[k] = 0x01
	clear(t[k+1 : end-8])
	binary.LittleEndian.PutUint64(t[end-8:end], total<<3)
	return t[:end]
}

func digestOf(s *[3]uint64) wire.TTH {
	var d wire.TTH
	putDigest(&d, s)
	return d
}

// framePrefixed lays out prefix || b as Tiger compresses it, b hashed
// where it lies: head is the first block (the prefix and b's first 63
// bytes, copied into buf) when b fills one, mid the whole blocks of b
// after it, and tail the rest of b with the padding, in buf. A leaf thus
// costs two small copies, not one of its 1024 bytes.
func framePrefixed(prefix byte, b []byte, buf *[3 * tigerBlock]byte) (head, mid, tail []byte) {
	total := uint64(len(b)) + 1
	buf[0] = prefix
	if len(b) < tigerBlock-1 {
		k := 1 + copy(buf[1:], b)
		return nil, nil, pad(buf[:], k, total)
	}
	copy(buf[1:tigerBlock], b)
	b = b[tigerBlock-1:]
	whole := len(b) &^ (tigerBlock - 1)
	t := buf[tigerBlock:]
	return buf[:tigerBlock], b[:whole], pad(t, copy(t, b[whole:]), total)
}

// prefixed returns Tiger(prefix || b).
func prefixed(prefix byte, b []byte) wire.TTH {
	var buf [3 * tigerBlock]byte
	head, mid, tail := framePrefixed(prefix, b, &buf)
	s := tigerInit
	block(&s, head)
	block(&s, mid)
	block(&s, tail)
	return digestOf(&s)
}

// prefixedPair returns Tiger(prefix || b0) and Tiger(prefix || b1) for
// b0 and b1 of the same length, computed together (block2): Tiger is a
// chain of dependent table lookups, and two independent chains keep a
// processor busy where one leaves it waiting.
func prefixedPair(prefix byte, b0, b1 []byte) (wire.TTH, wire.TTH) {
	var buf0, buf1 [3 * tigerBlock]byte
	h0, m0, t0 := framePrefixed(prefix, b0, &buf0)
	h1, m1, t1 := framePrefixed(prefix, b1, &buf1)
	s0, s1 := tigerInit, tigerInit
	block2(&s0, &s1, h0, h1)
	block2(&s0, &s1, m0, m1)
	block2(&s0, &s1, t0, t1)
	return digestOf(&s0), digestOf(&s1)
}

// wholeLeafTail is the last block of a whole leaf as Tiger compresses
// it, but for its first byte (the leaf's last): the padding of 1025
// bytes.
var wholeLeafTail = func() (t [tigerBlock]byte) {
	var buf [2 * tigerBlock]byte
	copy(t[:], pad(buf[:], 1, BlockSize+1))
	return t
}()

// leaf3 sets dst to the leaves of three whole blocks, hashed together
// (block3) and framed in fixed-size copies, which the compiler inlines:
// the first block (0x00 and the leaf's first 63 bytes) and the last (its
// last byte and wholeLeafTail) in small buffers, the 15 between where
// they lie. The digests are stored in dst a word at a time, not copied
// there from a digest just stored, which the processor would wait for.
func leaf3(dst *[3]wire.TTH, b0, b1, b2 []byte) {
	var head, tail [3][tigerBlock]byte
	var m [3][3][]byte
	for k, b := range [3][]byte{b0, b1, b2} {
		whole := (*[BlockSize]byte)(b)
		head[k][0] = 0x00
		*(*[tigerBlock - 1]byte)(head[k][1:]) = *(*[tigerBlock - 1]byte)(whole[:])
		tail[k] = wholeLeafTail
		tail[k][0] = whole[BlockSize-1]
		m[k] = [3][]byte{head[k][:], whole[tigerBlock-1 : BlockSize-1], tail[k][:]}
	}
	s := [3][3]uint64{tigerInit, tigerInit, tigerInit}
	block3(&s, &m)
	for k := range dst {
		putDigest(&dst[k], &s[k])
	}
}

// putDigest stores the digest of state s in d.
func putDigest(d *wire.TTH, s *[3]uint64) {
	binary.LittleEndian.PutUint64(d[0:], s[0])
	binary.LittleEndian.PutUint64(d[8:], s[1])
	binary.LittleEndian.PutUint64(d[16:], s[2])
}

// leaf returns Tiger(0x00 || block).
func leaf(block []byte) wire.TTH { return prefixed(0x00, block) }

// leafPair returns the leaves of two blocks of the same length.
func leafPair(b0, b1 []byte) (wire.TTH, wire.TTH) { return prefixedPair(0x00, b0, b1) }

// leaves sets dst to the leaves of the len(dst) whole blocks at p, three
// at a time; what is left, two at a time (four as two pairs rather than
// three and one alone, which is slower).
func leaves(dst []wire.TTH, p []byte) {
	if len(p) != len(dst)*BlockSize {
		panic("thex: leaves of a partial block")
	}
	for ; len(dst) >= 3 && len(dst) != 4; dst, p = dst[3:], p[3*BlockSize:] {
		leaf3((*[3]wire.TTH)(dst), p[:BlockSize], p[BlockSize:2*BlockSize], p[2*BlockSize:3*BlockSize])
	}
	for ; len(dst) >= 2; dst, p = dst[2:], p[2*BlockSize:] {
		dst[0], dst[1] = leafPair(p[:BlockSize], p[BlockSize:2*BlockSize])
	}
	if len(dst) == 1 {
		dst[0] = leaf(p)
	}
}

// nodeBlock sets blk to the block of the node of l and r as Tiger
// compresses it, 0x01 || l || r and the padding of 49 bytes, a word at a
// time: l and r shifted by the prefix's byte.
func nodeBlock(blk *[tigerBlock]byte, l, r *wire.TTH) {
	le := binary.LittleEndian
	l0, l1, l2 := le.Uint64(l[0:]), le.Uint64(l[8:]), le.Uint64(l[16:])
	r0, r1, r2 := le.Uint64(r[0:]), le.Uint64(r[8:]), le.Uint64(r[16:])
	le.PutUint64(blk[0:], 0x01|l0<<8)
	le.PutUint64(blk[8:], l0>>56|l1<<8)
	le.PutUint64(blk[16:], l1>>56|l2<<8)
	le.PutUint64(blk[24:], l2>>56|r0<<8)
	le.PutUint64(blk[32:], r0>>56|r1<<8)
	le.PutUint64(blk[40:], r1>>56|r2<<8)
	le.PutUint64(blk[48:], r2>>56|0x01<<8)
	le.PutUint64(blk[56:], (1+2*Size)<<3)
}

// parent returns Tiger(0x01 || l || r).
func parent(l, r *wire.TTH) wire.TTH {
	var blk [tigerBlock]byte
	nodeBlock(&blk, l, r)
	s := tigerInit
	block(&s, blk[:])
	return digestOf(&s)
}

// parents appends to dst the level above level: each pair hashed, a
// batch of nodes at a time (nodesAlone, three together), an odd last
// node promoted unchanged. dst may be level[:0]: the nodes of a batch
// go where pairs already framed lay.
func parents(dst, level []wire.TTH) []wire.TTH {
	var blk [nodeBatch][tigerBlock]byte
	dst = slices.Grow(dst, len(level)/2+len(level)%2)
	i := 0
	for i+2 <= len(level) {
		n := min((len(level)-i)/2, nodeBatch)
		for k := range n {
			nodeBlock(&blk[k], &level[i+2*k], &level[i+2*k+1])
		}
		at := len(dst)
		dst = dst[:at+n]
		nodesAlone(dst[at:], blk[:n])
		i += 2 * n
	}
	if i < len(level) {
		dst = append(dst, level[i])
	}
	return dst
}

// nodeBatch is how many nodes parents frames and hashes at once: the
// level above a batch of leaves (leafBatch), a multiple of three.
const nodeBatch = leafBatch / 2
