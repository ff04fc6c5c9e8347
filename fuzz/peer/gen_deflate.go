package peer

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"sync"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/linkzip"
)

// finalDeflate is the third block of a client that compresses what it
// sends.
var finalDeflate = []byte(wire.StatusLine06(200, "OK") + "\r\nContent-Encoding: deflate\r\n\r\n")

// syncFlushed compresses plain as one zlib stream ended by a sync flush, as
// Gnutella links send it.
func syncFlushed(plain []byte) []byte {
	var buf bytes.Buffer
	zw := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(zw)
	zw.Reset(&buf)
	_, _ = zw.Write(plain) // writes to a bytes.Buffer do not fail
	_ = zw.Flush()
	return buf.Bytes()
}

// zlibBytes is plain as one finished zlib stream, as we send QRP patches
// and GGEP values.
func zlibBytes(plain []byte) []byte {
	z, _ := linkzip.Deflate(nil, plain) // fails only on a zlib bug
	return z
}

// zlibWriters are reused: a compressor allocates most of a megabyte.
var zlibWriters = sync.Pool{New: func() any { return zlib.NewWriter(nil) }}

// deflateCase announces Content-Encoding: deflate and sends a compressed
// descriptor stream whose zlib framing or deflate data is mutated. The
// probe Ping travels inside the stream, so its Pong says the target
// inflated everything.
func (b *builder) deflateCase() {
	b.c.Proto = ProtoGnutella
	var plain []byte
	for range b.between(1, 4) {
		f := b.frameOf(pick(b, streamTypes))
		plain = append(plain, f.bytes()...)
	}
	probe := b.probePing()
	b.tail = 0
	connect := ourConnect(b.chance(0.5), b.chance(0.5)).Append(nil)
	final := finalDeflate
	var z []byte
	switch b.intn(10) {
	case 8, 9:
		// A sound stream carrying a mutated descriptor: what the target
		// reads after inflating.
		frames := []frame{b.frameOf(pick(b, streamTypes)), b.frameOf(pick(b, streamTypes))}
		if b.chance(0.3) || !b.mutatePayload(&frames[1]) {
			b.mutateHeader(&frames[1], &frames[0])
		}
		plain = append(frames[0].bytes(), frames[1].bytes()...)
		z = syncFlushed(append(plain, probe...))
	case 0:
		z = syncFlushed(append(plain, probe...))
		op := pick(b, []string{"bad-check", "dict", "method", "window", "gzip", "raw"})
		switch op {
		case "bad-check":
			z[1] ^= 0x01
		case "dict":
			z[1] |= 0x20
			fixFCHECK(z)
		case "method":
			z[0] = z[0]&0xF0 | 0x07
		case "window":
			z[0] = 0x88 // CINFO 8: a 64 KiB window, past what zlib allows
			fixFCHECK(z)
		case "gzip":
			z = append([]byte{0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3}, z[2:]...)
		default:
			z = z[2:]
		}
		b.mutated("deflate.header", op)
	case 1:
		z = syncFlushed(append(plain, probe...))
		n := b.between(1, 8)
		for range n {
			i := 2 + b.intn(len(z)-2)
			z[i] ^= byte(1) << b.intn(8)
		}
		b.mutated("deflate.stream", "flip", n, " bits")
	case 2:
		z = syncFlushed(append(plain, probe...))
		cut := b.between(2, len(z)-1)
		z = z[:cut]
		b.mutated("deflate.stream", "truncate", cut)
	case 3:
		// A finished stream (final block and adler32), then more bytes.
		z = append(zlibBytes(plain), pick(b, [][]byte{probe, syncFlushed(probe)})...)
		b.mutated("deflate.stream", "finished")
	case 4:
		// A stored block whose LEN and NLEN disagree.
		z = append([]byte{0x78, 0x9C, 0x00}, binary.LittleEndian.AppendUint16(nil, 16)...)
		z = append(z, 0x00, 0x00)
		z = append(z, b.bytes(16)...)
		b.mutated("deflate.stream", "stored-len")
	case 5:
		// BTYPE 11, reserved.
		z = append([]byte{0x78, 0x9C}, 0x06|byte(b.intn(2)), 0xFF, 0xFF)
		b.mutated("deflate.stream", "reserved-block")
	case 6:
		z = append(append([]byte(nil), zeroBomb()...), syncFlushed(probe)...)
		b.mutated("deflate.bomb", "zeros", 8<<20, " bytes")
	default:
		// Compression announced, plain descriptors sent.
		z = append(plain, probe...)
		b.mutated("deflate.stream", "plain")
	}
	b.c.Steps = []Step{{Send: connect}, {Await: AwaitBlock}, {Send: append(append([]byte(nil), final...), z...)}}
}

// fixFCHECK sets the zlib header's check bits so that a header mutated
// elsewhere still passes the checksum and reaches the field mutated.
func fixFCHECK(z []byte) {
	z[1] &^= 0x1F
	v := uint16(z[0])<<8 | uint16(z[1])
	z[1] += byte((31 - v%31) % 31)
}
