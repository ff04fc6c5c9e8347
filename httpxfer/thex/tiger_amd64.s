//go:build !purego

#include "textflag.h"

// Tiger's compression function for amd64: the same computation as
// compress in tiger_block.go. A round takes the eight bytes of c from a
// copy of it in AX (AL and AH, then a shift by 16, four times over) as
// indices into the S-boxes at CX; a pass is eight rounds, the state's
// roles rotating among three registers. The message words of a block and
// their two reschedules are computed first and kept in the frame, so the
// rounds read them from memory and the whole register file is free for
// the state and the lookups.
//
// One Tiger is a chain of dependent loads that leaves the processor
// waiting; independent states interleaved round by round fill those
// waits. blockAMD64 runs one state, block2AMD64 two, block3AMD64 three.
//
// blockAMD64 needs nothing past amd64 (it is also what runs without
// AVX2): state R8-R10, lookups AX, SI, R11, R12, the key schedule scalar
// (KEYSCHED). Frame: 0-191 the words for the three passes, 384-407 the
// state saved for the feedforward, 432 the message pointer, 448 the
// blocks left, 456 the S-box address (the schedule needs CX).
//
// block2AMD64 and block3AMD64 (AVX2): states R8-R10, DX BP R15 and (the
// third) BX DI R13; CX the S-boxes throughout (taken before R15 is
// loaded: in a dynamically linked build a global's address load clobbers
// R15); the rounds are ROUND1 on each state in turn, the renamer keeping
// the shared temporaries AX, SI, R11 and R12 apart. The key schedule runs
// in Y0-Y7, a word each, a stream in each 64-bit lane (the last stream
// repeated in the lanes left), with Y8-Y13 for loads, scratch and
// constants: done scalar it cost a fifth of the time, on the integer
// units the rounds are short of. The next blocks' schedule is computed
// while the rounds of the current ones run, each pass's words stored over
// those the pass just read; for the last blocks the pointers are moved
// back onto them, so that nothing past the end is read. Frame: 0-767 the
// words, word i of pass p of stream k at 256p + 32i + 8k; 768-839 the
// states saved; 840 (block2AMD64: 840 and 848, its message pointers) the
// next triple's address; 864 the blocks left. block3AMD64 takes the
// addresses of its n blocks as n triples, one block for each state, so
// that a leaf's 17 blocks (the first and the last framed in a buffer, the
// others where they lie) are one call. nodes3AMD64 is block3AMD64 for
// messages of one block each (inner nodes), n triples in one call: each
// starts from Tiger's initial state, kept at 768-839, and its three
// states go where the pointer at 848 points, in turn.
//
// Measured on Zen 5 and left out: a fourth state (its lookups only fit
// with c's bytes read back from a copy in the frame: slower per block than
// two states), some of c's bytes so read with three states (slower), RORX
// copies for shorter index chains and a pass loop for a third of the code
// (no faster). The rounds are bound by their integer operations: every
// one taken out of ROUND1 is about 4%.

#define TAB 456(SP)

// LOADX loads the eight message words at p into the registers that
// KEYSCHED works on.
#define LOADX(p) \
	MOVQ 0(p), BX; \
	MOVQ 8(p), CX; \
	MOVQ 16(p), SI; \
	MOVQ 24(p), DI; \
	MOVQ 32(p), R11; \
	MOVQ 40(p), R12; \
	MOVQ 48(p), R13; \
	MOVQ 56(p), R14

#define STOREX(o) \
	MOVQ BX, (o+0)(SP); \
	MOVQ CX, (o+8)(SP); \
	MOVQ SI, (o+16)(SP); \
	MOVQ DI, (o+24)(SP); \
	MOVQ R11, (o+32)(SP); \
	MOVQ R12, (o+40)(SP); \
	MOVQ R13, (o+48)(SP); \
	MOVQ R14, (o+56)(SP)

// KEYSCHED is Tiger's key schedule on x0-x7 in BX, CX, SI, DI, R11-R14,
// with AX for scratch.
#define KEYSCHED \
	MOVQ $0xa5a5a5a5a5a5a5a5, AX; \
	XORQ R14, AX; \
	SUBQ AX, BX; \
	XORQ BX, CX; \
	ADDQ CX, SI; \
	MOVQ CX, AX; \
	NOTQ AX; \
	SHLQ $19, AX; \
	XORQ SI, AX; \
	SUBQ AX, DI; \
	XORQ DI, R11; \
	ADDQ R11, R12; \
	MOVQ R11, AX; \
	NOTQ AX; \
	SHRQ $23, AX; \
	XORQ R12, AX; \
	SUBQ AX, R13; \
	XORQ R13, R14; \
	ADDQ R14, BX; \
	MOVQ R14, AX; \
	NOTQ AX; \
	SHLQ $19, AX; \
	XORQ BX, AX; \
	SUBQ AX, CX; \
	XORQ CX, SI; \
	ADDQ SI, DI; \
	MOVQ SI, AX; \
	NOTQ AX; \
	SHRQ $23, AX; \
	XORQ DI, AX; \
	SUBQ AX, R11; \
	XORQ R11, R12; \
	ADDQ R12, R13; \
	MOVQ $0x0123456789abcdef, AX; \
	XORQ R13, AX; \
	SUBQ AX, R14

// SCHEDULE reads the next block of the stream whose pointer is at slot
// and stores its words for the three passes at o.
#define SCHEDULE(slot, o) \
	MOVQ slot(SP), AX; \
	LOADX(AX); \
	ADDQ $64, AX; \
	MOVQ AX, slot(SP); \
	STOREX(o); \
	KEYSCHED; \
	STOREX(o+64); \
	KEYSCHED; \
	STOREX(o+128)

// ROUND1 is one round on state (a, b, c) with the message word at x(SP):
//	c ^= x
//	a -= t1[c0] ^ t2[c2] ^ t3[c4] ^ t4[c6]
//	b += t4[c1] ^ t3[c3] ^ t2[c5] ^ t1[c7]
//	b *= mul
// MOVBLZX, not MOVBQZX: a REX prefix would make AH mean SPL.
#define ROUND1(a, b, c, x, mul) \
	XORQ x(SP), c; \
	MOVQ c, AX; \
	MOVBLZX AL, SI; \
	MOVQ (CX)(SI*8), R11; \
	MOVBLZX AH, SI; \
	MOVQ 6144(CX)(SI*8), R12; \
	SHRQ $16, AX; \
	MOVBLZX AL, SI; \
	XORQ 2048(CX)(SI*8), R11; \
	MOVBLZX AH, SI; \
	XORQ 4096(CX)(SI*8), R12; \
	SHRQ $16, AX; \
	MOVBLZX AL, SI; \
	XORQ 4096(CX)(SI*8), R11; \
	MOVBLZX AH, SI; \
	XORQ 2048(CX)(SI*8), R12; \
	SHRQ $16, AX; \
	MOVBLZX AL, SI; \
	XORQ 6144(CX)(SI*8), R11; \
	MOVBLZX AH, SI; \
	XORQ (CX)(SI*8), R12; \
	SUBQ R11, a; \
	ADDQ R12, b; \
	IMUL3Q $mul, b, b

#define PASS1(a, b, c, o, mul) \
	ROUND1(a, b, c, o+0, mul); \
	ROUND1(b, c, a, o+8, mul); \
	ROUND1(c, a, b, o+16, mul); \
	ROUND1(a, b, c, o+24, mul); \
	ROUND1(b, c, a, o+32, mul); \
	ROUND1(c, a, b, o+40, mul); \
	ROUND1(a, b, c, o+48, mul); \
	ROUND1(b, c, a, o+56, mul)

// VKEYSCHED is the key schedule on x0-x7 in Y0-Y7, a stream in each
// 64-bit lane: the sixteen steps of schedule in tiger_block.go in order,
// ^x << 19 as (x ^ ones) << 19; Y10 scratch, Y11 all ones, Y12 and Y13 the
// two constants.
#define VKEYSCHED \
	VPXOR  Y12, Y7, Y10; \
	VPSUBQ Y10, Y0, Y0; \
	VPXOR  Y0, Y1, Y1; \
	VPADDQ Y1, Y2, Y2; \
	VPXOR  Y11, Y1, Y10; \
	VPSLLQ $19, Y10, Y10; \
	VPXOR  Y2, Y10, Y10; \
	VPSUBQ Y10, Y3, Y3; \
	VPXOR  Y3, Y4, Y4; \
	VPADDQ Y4, Y5, Y5; \
	VPXOR  Y11, Y4, Y10; \
	VPSRLQ $23, Y10, Y10; \
	VPXOR  Y5, Y10, Y10; \
	VPSUBQ Y10, Y6, Y6; \
	VPXOR  Y6, Y7, Y7; \
	VPADDQ Y7, Y0, Y0; \
	VPXOR  Y11, Y7, Y10; \
	VPSLLQ $19, Y10, Y10; \
	VPXOR  Y0, Y10, Y10; \
	VPSUBQ Y10, Y1, Y1; \
	VPXOR  Y1, Y2, Y2; \
	VPADDQ Y2, Y3, Y3; \
	VPXOR  Y11, Y2, Y10; \
	VPSRLQ $23, Y10, Y10; \
	VPXOR  Y3, Y10, Y10; \
	VPSUBQ Y10, Y4, Y4; \
	VPXOR  Y4, Y5, Y5; \
	VPADDQ Y5, Y6, Y6; \
	VPXOR  Y13, Y6, Y10; \
	VPSUBQ Y10, Y7, Y7

// VCONSTS sets the registers VKEYSCHED reads: Y11 all ones, Y12 and
// Y13 the schedule's two constants.
#define VCONSTS \
	MOVQ $0xa5a5a5a5a5a5a5a5, AX; \
	MOVQ AX, X12; \
	VPBROADCASTQ X12, Y12; \
	MOVQ $0x0123456789abcdef, AX; \
	MOVQ AX, X13; \
	VPBROADCASTQ X13, Y13; \
	VPCMPEQQ Y11, Y11, Y11

// VLOAD2 loads words i and i+1 of the blocks at AX, SI and R11 (streams
// 0-2, stream 2 again in lane 3) into wi and wj, a stream per lane.
#define VLOAD2(off, wi, wj) \
	VMOVDQU off(AX), X8; \
	VINSERTI128 $1, off(R11), Y8, Y8; \
	VMOVDQU off(SI), X9; \
	VINSERTI128 $1, off(R11), Y9, Y9; \
	VPUNPCKLQDQ Y9, Y8, wi; \
	VPUNPCKHQDQ Y9, Y8, wj

// VSTORE stores x0-x7 of the three streams at o, a word's at o + 32i.
#define VSTORE(o) \
	VMOVDQU Y0, (o+0)(SP); \
	VMOVDQU Y1, (o+32)(SP); \
	VMOVDQU Y2, (o+64)(SP); \
	VMOVDQU Y3, (o+96)(SP); \
	VMOVDQU Y4, (o+128)(SP); \
	VMOVDQU Y5, (o+160)(SP); \
	VMOVDQU Y6, (o+192)(SP); \
	VMOVDQU Y7, (o+224)(SP)

// VLOAD3 loads the three blocks whose pointers are at the one at 840
// into Y0-Y7, a word in each, and moves it on to the next three.
#define VLOAD3 \
	MOVQ 840(SP), R12; \
	MOVQ 0(R12), AX; \
	MOVQ 8(R12), SI; \
	MOVQ 16(R12), R11; \
	VLOAD2(0, Y0, Y1); \
	VLOAD2(16, Y2, Y3); \
	VLOAD2(32, Y4, Y5); \
	VLOAD2(48, Y6, Y7); \
	ADDQ $24, R12; \
	MOVQ R12, 840(SP)

// VLOADP loads the next blocks of the two streams whose pointers are at
// 840 and 848 into Y0-Y7 (the second stream in lanes 1-3) and advances
// the pointers.
#define VLOADP \
	MOVQ 840(SP), AX; \
	MOVQ 848(SP), SI; \
	MOVQ SI, R11; \
	VLOAD2(0, Y0, Y1); \
	VLOAD2(16, Y2, Y3); \
	VLOAD2(32, Y4, Y5); \
	VLOAD2(48, Y6, Y7); \
	ADDQ $64, AX; \
	ADDQ $64, SI; \
	MOVQ AX, 840(SP); \
	MOVQ SI, 848(SP)

// PASS2 is eight rounds on two states, their words at o (VSTORE's
// layout).
#define PASS2(a0, b0, c0, a1, b1, c1, o, mul) \
	ROUND1(a0, b0, c0, o+0, mul); \
	ROUND1(a1, b1, c1, o+8, mul); \
	ROUND1(b0, c0, a0, o+32, mul); \
	ROUND1(b1, c1, a1, o+40, mul); \
	ROUND1(c0, a0, b0, o+64, mul); \
	ROUND1(c1, a1, b1, o+72, mul); \
	ROUND1(a0, b0, c0, o+96, mul); \
	ROUND1(a1, b1, c1, o+104, mul); \
	ROUND1(b0, c0, a0, o+128, mul); \
	ROUND1(b1, c1, a1, o+136, mul); \
	ROUND1(c0, a0, b0, o+160, mul); \
	ROUND1(c1, a1, b1, o+168, mul); \
	ROUND1(a0, b0, c0, o+192, mul); \
	ROUND1(a1, b1, c1, o+200, mul); \
	ROUND1(b0, c0, a0, o+224, mul); \
	ROUND1(b1, c1, a1, o+232, mul)

// PASS3 is eight rounds on three states, their words at o (VSTORE's
// layout).
#define PASS3(a0, b0, c0, a1, b1, c1, a2, b2, c2, o, mul) \
	ROUND1(a0, b0, c0, o+0, mul); \
	ROUND1(a1, b1, c1, o+8, mul); \
	ROUND1(a2, b2, c2, o+16, mul); \
	ROUND1(b0, c0, a0, o+32, mul); \
	ROUND1(b1, c1, a1, o+40, mul); \
	ROUND1(b2, c2, a2, o+48, mul); \
	ROUND1(c0, a0, b0, o+64, mul); \
	ROUND1(c1, a1, b1, o+72, mul); \
	ROUND1(c2, a2, b2, o+80, mul); \
	ROUND1(a0, b0, c0, o+96, mul); \
	ROUND1(a1, b1, c1, o+104, mul); \
	ROUND1(a2, b2, c2, o+112, mul); \
	ROUND1(b0, c0, a0, o+128, mul); \
	ROUND1(b1, c1, a1, o+136, mul); \
	ROUND1(b2, c2, a2, o+144, mul); \
	ROUND1(c0, a0, b0, o+160, mul); \
	ROUND1(c1, a1, b1, o+168, mul); \
	ROUND1(c2, a2, b2, o+176, mul); \
	ROUND1(a0, b0, c0, o+192, mul); \
	ROUND1(a1, b1, c1, o+200, mul); \
	ROUND1(a2, b2, c2, o+208, mul); \
	ROUND1(b0, c0, a0, o+224, mul); \
	ROUND1(b1, c1, a1, o+232, mul); \
	ROUND1(b2, c2, a2, o+240, mul)

// LOADSTATES3 and STORESTATES3 load and store the three states of
// block3AMD64 and nodes3AMD64, R8-R10, DX BP R15 and BX DI R13, at
// o(base), one after the other.
#define LOADSTATES3(o, base) \
	MOVQ (o+0)(base), R8 \
	MOVQ (o+8)(base), R9 \
	MOVQ (o+16)(base), R10 \
	MOVQ (o+24)(base), DX \
	MOVQ (o+32)(base), BP \
	MOVQ (o+40)(base), R15 \
	MOVQ (o+48)(base), BX \
	MOVQ (o+56)(base), DI \
	MOVQ (o+64)(base), R13

#define STORESTATES3(o, base) \
	MOVQ R8, (o+0)(base) \
	MOVQ R9, (o+8)(base) \
	MOVQ R10, (o+16)(base) \
	MOVQ DX, (o+24)(base) \
	MOVQ BP, (o+32)(base) \
	MOVQ R15, (o+40)(base) \
	MOVQ BX, (o+48)(base) \
	MOVQ DI, (o+56)(base) \
	MOVQ R13, (o+64)(base)

// SCHEDULE3 computes the words of the three blocks whose pointers are
// at the one at 840, for the first of COMPRESS3's rounds.
#define SCHEDULE3 \
	VLOAD3; \
	VSTORE(0); \
	VKEYSCHED; \
	VSTORE(256); \
	VKEYSCHED; \
	VSTORE(512)

// COMPRESS3 compresses three blocks, whose words SCHEDULE3 or the
// COMPRESS3 before computed, into the states R8-R10, DX BP R15 and BX
// DI R13, saved at 768-839 for the feedforward; meanwhile it computes
// the words of the next three (VLOAD3).
#define COMPRESS3 \
	VLOAD3; \
	PASS3(R8, R9, R10, DX, BP, R15, BX, DI, R13, 0, 5); \
	VSTORE(0); \
	VKEYSCHED; \
	PASS3(R10, R8, R9, R15, DX, BP, R13, BX, DI, 256, 7); \
	VSTORE(256); \
	VKEYSCHED; \
	PASS3(R9, R10, R8, BP, R15, DX, DI, R13, BX, 512, 9); \
	VSTORE(512); \
	XORQ 768(SP), R8; \
	SUBQ 776(SP), R9; \
	ADDQ 784(SP), R10; \
	XORQ 792(SP), DX; \
	SUBQ 800(SP), BP; \
	ADDQ 808(SP), R15; \
	XORQ 816(SP), BX; \
	SUBQ 824(SP), DI; \
	ADDQ 832(SP), R13

// func blockAMD64(s *[3]uint64, p *byte, n int)
TEXT ·blockAMD64(SB), NOSPLIT, $464-24
	MOVQ n+16(FP), AX
	TESTQ AX, AX
	JZ   done1
	MOVQ AX, 448(SP)
	MOVQ p+8(FP), AX
	MOVQ AX, 432(SP)
	LEAQ ·sbox(SB), AX
	MOVQ AX, TAB
	MOVQ s+0(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10

loop1:
	MOVQ R8, 384(SP)
	MOVQ R9, 392(SP)
	MOVQ R10, 400(SP)
	SCHEDULE(432, 0)
	MOVQ TAB, CX
	PASS1(R8, R9, R10, 0, 5)
	PASS1(R10, R8, R9, 64, 7)
	PASS1(R9, R10, R8, 128, 9)
	XORQ 384(SP), R8
	SUBQ 392(SP), R9
	ADDQ 400(SP), R10
	DECQ 448(SP)
	JNZ  loop1

	MOVQ s+0(FP), AX
	MOVQ R8, 0(AX)
	MOVQ R9, 8(AX)
	MOVQ R10, 16(AX)

done1:
	RET

// func block2AMD64(s0, s1 *[3]uint64, p0, p1 *byte, n int)
TEXT ·block2AMD64(SB), 0, $880-40
	MOVQ n+32(FP), AX
	TESTQ AX, AX
	JZ   done2
	MOVQ AX, 864(SP)
	MOVQ p0+16(FP), AX
	MOVQ AX, 840(SP)
	MOVQ p1+24(FP), AX
	MOVQ AX, 848(SP)
	VCONSTS
	LEAQ ·sbox(SB), CX
	MOVQ s0+0(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ s1+8(FP), AX
	MOVQ 0(AX), DX
	MOVQ 8(AX), BP
	MOVQ 16(AX), R15

	// As in block3AMD64.
	VLOADP
	VSTORE(0)
	VKEYSCHED
	VSTORE(256)
	VKEYSCHED
	VSTORE(512)

loop2:
	DECQ 864(SP)
	JNZ  next2
	SUBQ $64, 840(SP)
	SUBQ $64, 848(SP)

next2:
	MOVQ R8, 768(SP)
	MOVQ R9, 776(SP)
	MOVQ R10, 784(SP)
	MOVQ DX, 792(SP)
	MOVQ BP, 800(SP)
	MOVQ R15, 808(SP)
	VLOADP
	PASS2(R8, R9, R10, DX, BP, R15, 0, 5)
	VSTORE(0)
	VKEYSCHED
	PASS2(R10, R8, R9, R15, DX, BP, 256, 7)
	VSTORE(256)
	VKEYSCHED
	PASS2(R9, R10, R8, BP, R15, DX, 512, 9)
	VSTORE(512)
	XORQ 768(SP), R8
	SUBQ 776(SP), R9
	ADDQ 784(SP), R10
	XORQ 792(SP), DX
	SUBQ 800(SP), BP
	ADDQ 808(SP), R15
	CMPQ 864(SP), $0
	JNE  loop2

	MOVQ s0+0(FP), AX
	MOVQ R8, 0(AX)
	MOVQ R9, 8(AX)
	MOVQ R10, 16(AX)
	MOVQ s1+8(FP), AX
	MOVQ DX, 0(AX)
	MOVQ BP, 8(AX)
	MOVQ R15, 16(AX)
	VZEROUPPER

done2:
	RET

// func block3AMD64(s *[3][3]uint64, p *[3]*byte, n int)
TEXT ·block3AMD64(SB), 0, $880-24
	MOVQ n+16(FP), AX
	TESTQ AX, AX
	JZ   done3
	MOVQ AX, 864(SP)
	MOVQ p+8(FP), AX
	MOVQ AX, 840(SP)
	VCONSTS
	LEAQ ·sbox(SB), CX
	MOVQ s+0(FP), AX
	LOADSTATES3(0, AX)

	// The first blocks' words; then, while the rounds of each block
	// run, the next ones', stored over each pass's words once its
	// rounds have read them. For the last blocks the pointer is moved
	// back onto them: the words computed for none are computed from
	// bytes that exist.
	SCHEDULE3

loop3:
	DECQ 864(SP)
	JNZ  next3
	SUBQ $24, 840(SP)

next3:
	STORESTATES3(768, SP)
	COMPRESS3
	CMPQ 864(SP), $0
	JNE  loop3

	MOVQ s+0(FP), AX
	STORESTATES3(0, AX)
	VZEROUPPER

done3:
	RET

// func nodes3AMD64(out *wire.TTH, p *[3]*byte, n int)
//
// block3AMD64 for n triples of one-block messages (inner nodes), each
// compressed alone from Tiger's initial state, which stays at 768-839
// for the feedforward; the 3n states go to out in turn, its pointer at
// 848.
TEXT ·nodes3AMD64(SB), 0, $880-24
	MOVQ n+16(FP), AX
	TESTQ AX, AX
	JZ   doneN
	MOVQ AX, 864(SP)
	MOVQ p+8(FP), AX
	MOVQ AX, 840(SP)
	MOVQ out+0(FP), AX
	MOVQ AX, 848(SP)
	VCONSTS
	LEAQ ·sbox(SB), CX
	MOVQ $0x0123456789abcdef, AX
	MOVQ AX, 768(SP)
	MOVQ AX, 792(SP)
	MOVQ AX, 816(SP)
	MOVQ $0xfedcba9876543210, AX
	MOVQ AX, 776(SP)
	MOVQ AX, 800(SP)
	MOVQ AX, 824(SP)
	MOVQ $0xf096a5b4c3b2e187, AX
	MOVQ AX, 784(SP)
	MOVQ AX, 808(SP)
	MOVQ AX, 832(SP)
	SCHEDULE3

loopN:
	DECQ 864(SP)
	JNZ  nextN
	SUBQ $24, 840(SP)

nextN:
	LOADSTATES3(768, SP)
	COMPRESS3
	MOVQ 848(SP), AX
	STORESTATES3(0, AX)
	ADDQ $72, AX
	MOVQ AX, 848(SP)
	CMPQ 864(SP), $0
	JNE  loopN
	VZEROUPPER

doneN:
	RET
