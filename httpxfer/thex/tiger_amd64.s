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
// block2AMD64 runs two blocks of two independent states at once, round
// by round (the second in BX, DI, R13 and R14 where the first uses AX,
// SI, R11 and R12): one Tiger is a chain of dependent loads that leaves
// the processor waiting, two fill those waits.
//
// Frame: 0-191 the words of stream 0 for its three passes, 192-383 those
// of stream 1, 384-431 the states saved for the feedforward, 432 and 440
// the message pointers, 448 the blocks left, 456 the S-box address (kept
// in the frame: in a dynamically linked build a global's address load
// clobbers R15, which holds state).

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

// ROUND2 is ROUND1 on two states at once.
#define ROUND2(a, b, c, d, e, f, x, y, mul) \
	XORQ x(SP), c; \
	XORQ y(SP), f; \
	MOVQ c, AX; \
	MOVQ f, BX; \
	MOVBLZX AL, SI; \
	MOVBLZX BL, DI; \
	MOVQ (CX)(SI*8), R11; \
	MOVQ (CX)(DI*8), R13; \
	MOVBLZX AH, SI; \
	MOVBLZX BH, DI; \
	MOVQ 6144(CX)(SI*8), R12; \
	MOVQ 6144(CX)(DI*8), R14; \
	SHRQ $16, AX; \
	SHRQ $16, BX; \
	MOVBLZX AL, SI; \
	MOVBLZX BL, DI; \
	XORQ 2048(CX)(SI*8), R11; \
	XORQ 2048(CX)(DI*8), R13; \
	MOVBLZX AH, SI; \
	MOVBLZX BH, DI; \
	XORQ 4096(CX)(SI*8), R12; \
	XORQ 4096(CX)(DI*8), R14; \
	SHRQ $16, AX; \
	SHRQ $16, BX; \
	MOVBLZX AL, SI; \
	MOVBLZX BL, DI; \
	XORQ 4096(CX)(SI*8), R11; \
	XORQ 4096(CX)(DI*8), R13; \
	MOVBLZX AH, SI; \
	MOVBLZX BH, DI; \
	XORQ 2048(CX)(SI*8), R12; \
	XORQ 2048(CX)(DI*8), R14; \
	SHRQ $16, AX; \
	SHRQ $16, BX; \
	MOVBLZX AL, SI; \
	MOVBLZX BL, DI; \
	XORQ 6144(CX)(SI*8), R11; \
	XORQ 6144(CX)(DI*8), R13; \
	MOVBLZX AH, SI; \
	MOVBLZX BH, DI; \
	XORQ (CX)(SI*8), R12; \
	XORQ (CX)(DI*8), R14; \
	SUBQ R11, a; \
	SUBQ R13, d; \
	ADDQ R12, b; \
	ADDQ R14, e; \
	IMUL3Q $mul, b, b; \
	IMUL3Q $mul, e, e

#define PASS2(a, b, c, d, e, f, o, p, mul) \
	ROUND2(a, b, c, d, e, f, o+0, p+0, mul); \
	ROUND2(b, c, a, e, f, d, o+8, p+8, mul); \
	ROUND2(c, a, b, f, d, e, o+16, p+16, mul); \
	ROUND2(a, b, c, d, e, f, o+24, p+24, mul); \
	ROUND2(b, c, a, e, f, d, o+32, p+32, mul); \
	ROUND2(c, a, b, f, d, e, o+40, p+40, mul); \
	ROUND2(a, b, c, d, e, f, o+48, p+48, mul); \
	ROUND2(b, c, a, e, f, d, o+56, p+56, mul)

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
TEXT ·block2AMD64(SB), NOSPLIT, $464-40
	MOVQ n+32(FP), AX
	TESTQ AX, AX
	JZ   done2
	MOVQ AX, 448(SP)
	MOVQ p0+16(FP), AX
	MOVQ AX, 432(SP)
	MOVQ p1+24(FP), AX
	MOVQ AX, 440(SP)
	LEAQ ·sbox(SB), AX
	MOVQ AX, TAB
	MOVQ s0+0(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ s1+8(FP), AX
	MOVQ 0(AX), DX
	MOVQ 8(AX), BP
	MOVQ 16(AX), R15

loop2:
	MOVQ R8, 384(SP)
	MOVQ R9, 392(SP)
	MOVQ R10, 400(SP)
	MOVQ DX, 408(SP)
	MOVQ BP, 416(SP)
	MOVQ R15, 424(SP)
	SCHEDULE(432, 0)
	SCHEDULE(440, 192)
	MOVQ TAB, CX
	PASS2(R8, R9, R10, DX, BP, R15, 0, 192, 5)
	PASS2(R10, R8, R9, R15, DX, BP, 64, 256, 7)
	PASS2(R9, R10, R8, BP, R15, DX, 128, 320, 9)
	XORQ 384(SP), R8
	SUBQ 392(SP), R9
	ADDQ 400(SP), R10
	XORQ 408(SP), DX
	SUBQ 416(SP), BP
	ADDQ 424(SP), R15
	DECQ 448(SP)
	JNZ  loop2

	MOVQ s0+0(FP), AX
	MOVQ R8, 0(AX)
	MOVQ R9, 8(AX)
	MOVQ R10, 16(AX)
	MOVQ s1+8(FP), AX
	MOVQ DX, 0(AX)
	MOVQ BP, 8(AX)
	MOVQ R15, 16(AX)

done2:
	RET
