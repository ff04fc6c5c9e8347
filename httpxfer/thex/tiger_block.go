package thex

import "encoding/binary"

// Tiger's compression function (Anderson and Biham, "Tiger: A Fast New
// Hash Function", 1996) in Go: the reference for the amd64 assembly
// (tiger_amd64.s) and what every other architecture, and a purego build,
// runs. Message words are read little-endian whatever the host.

// sbox holds Tiger's four S-boxes, t1 to t4, one after the other (the
// assembly indexes them at 0, 2048, 4096 and 6144 bytes). They are not
// constants from a table but made as the Tiger authors made them
// (genSboxes, at init), and the tests check them through the published
// vectors and against github.com/cxmcc/tiger's own tables.
var sbox [4][256]uint64

func init() { genSboxes() }

// genSboxes makes the S-boxes by the authors' procedure: start from the
// identity in every byte column, then five times over, for each entry of
// each box, swap every byte of it with the same byte of the entry that a
// byte of a Tiger state picks, the state advancing by one compression of
// the paper's title (with the S-boxes made so far) every third swap.
func genSboxes() {
	t := &sbox
	for b := range t {
		for i := range t[b] {
			t[b][i] = uint64(i) * 0x0101010101010101
		}
	}
	msg := []byte("Tiger - A Fast New Hash Function, by Ross Anderson and Eli Biham")
	state := tigerInit
	abc := 2
	for range 5 {
		for i := range 256 {
			for b := range t {
				if abc++; abc == 3 {
					abc = 0
					compress(&state, msg)
				}
				for col := range 8 {
					sh := uint(col) * 8
					j := byte(state[abc] >> sh)
					m := uint64(0xff) << sh
					x, y := t[b][i], t[b][j]
					t[b][i] = x&^m | y&m
					t[b][j] = t[b][j]&^m | x&m
				}
			}
		}
	}
}

// blockGeneric compresses the whole 64-byte blocks of p into s.
func blockGeneric(s *[3]uint64, p []byte) {
	for ; len(p) >= tigerBlock; p = p[tigerBlock:] {
		compress(s, p[:tigerBlock])
	}
}

// compress is one Tiger compression of the 64 bytes at p into s: three passes of eight rounds, the message words rescheduled
// between passes, and the feedforward.
func compress(s *[3]uint64, p []byte) {
	var x [8]uint64
	for i := range x {
		x[i] = binary.LittleEndian.Uint64(p[8*i:])
	}
	a, b, c := s[0], s[1], s[2]
	a, b, c = pass(a, b, c, &x, 5)
	schedule(&x)
	c, a, b = pass(c, a, b, &x, 7)
	schedule(&x)
	b, c, a = pass(b, c, a, &x, 9)
	s[0] ^= a
	s[1] = b - s[1]
	s[2] += c
}

// pass is eight rounds; c ^= x is done before each round, for the
// round to fit the inliner's budget.
func pass(a, b, c uint64, x *[8]uint64, mul uint64) (uint64, uint64, uint64) {
	c ^= x[0]
	a, b = round(a, b, c, mul)
	a ^= x[1]
	b, c = round(b, c, a, mul)
	b ^= x[2]
	c, a = round(c, a, b, mul)
	c ^= x[3]
	a, b = round(a, b, c, mul)
	a ^= x[4]
	b, c = round(b, c, a, mul)
	b ^= x[5]
	c, a = round(c, a, b, mul)
	c ^= x[6]
	a, b = round(a, b, c, mul)
	a ^= x[7]
	b, c = round(b, c, a, mul)
	return a, b, c
}

// round is a round of Tiger on (a, b, c), c already xored with its
// message word.
func round(a, b, c, mul uint64) (uint64, uint64) {
	a -= sbox[0][byte(c)] ^ sbox[1][byte(c>>16)] ^ sbox[2][byte(c>>32)] ^ sbox[3][byte(c>>48)]
	b += sbox[3][byte(c>>8)] ^ sbox[2][byte(c>>24)] ^ sbox[1][byte(c>>40)] ^ sbox[0][byte(c>>56)]
	return a, b * mul
}

// schedule is the key schedule between passes.
func schedule(x *[8]uint64) {
	x[0] -= x[7] ^ 0xa5a5a5a5a5a5a5a5
	x[1] ^= x[0]
	x[2] += x[1]
	x[3] -= x[2] ^ (^x[1] << 19)
	x[4] ^= x[3]
	x[5] += x[4]
	x[6] -= x[5] ^ (^x[4] >> 23)
	x[7] ^= x[6]
	x[0] += x[7]
	x[1] -= x[0] ^ (^x[7] << 19)
	x[2] ^= x[1]
	x[3] += x[2]
	x[4] -= x[3] ^ (^x[2] >> 23)
	x[5] ^= x[4]
	x[6] += x[5]
	x[7] -= x[6] ^ 0x0123456789abcdef
}
