//go:build armbe || arm64be || m68k || mips || mips64 || mips64p32 || ppc || ppc64 || s390 || s390x || shbe || sparc || sparc64

package thex

// github.com/cxmcc/tiger reads the message words big-endian when the host is
// big-endian (Tiger defines them little-endian), so every digest it computes
// there is wrong, and a downloader would blame good sources for every chunk.
// Refuse to build rather than compute wrong trees.
var _ int = "thex: github.com/cxmcc/tiger computes wrong Tiger digests on big-endian hosts"
