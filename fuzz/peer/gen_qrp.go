package peer

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"sync"

	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
)

// zeroBomb is 8 MiB of zeros, zlib-compressed (about 8 KiB): a deflate
// bomb for every place that inflates. Built once.
var zeroBomb = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	_, _ = zw.Write(make([]byte, 8<<20))
	_ = zw.Close()
	return buf.Bytes()
})

// qrpKey is one shape of valid table sequence.
type qrpKey struct {
	bits, entryBits uint8
	compress        bool
	fragment        int
}

// qrpSequences caches the valid RESET/PATCH payloads of each shape: a
// table and its compression cost more than the rest of a case.
var qrpSequences sync.Map // qrpKey -> [][]byte

func qrpSequence(k qrpKey) [][]byte {
	if v, ok := qrpSequences.Load(k); ok {
		return v.([][]byte)
	}
	t, err := router.BuildQRT(qrpNames, nil, k.bits)
	var msgs []wire.QRP
	if err == nil {
		msgs, err = router.PatchMessages(nil, t, k.entryBits, k.compress, k.fragment)
	}
	if err != nil || len(msgs) < 2 {
		return nil
	}
	payloads := make([][]byte, len(msgs))
	for i := range msgs {
		payloads[i], _ = msgs[i].Append(nil) // PatchMessages makes valid messages
	}
	qrpSequences.Store(k, payloads)
	return payloads
}

// qrpNames are the file names of the tables we send.
var qrpNames = []string{"penny lane.mp3", "strawberry fields.ogg", "readme test.txt", "beatles music collection.mp3"}

// qrpCase sends a QRP table (RESET and PATCHes from router.PatchMessages)
// with its sequence, sizes or data mutated, then a Query that the table
// would route.
func (b *builder) qrpCase() {
	k := qrpKey{bits: uint8(b.between(8, 16)), entryBits: pick(b, []uint8{4, 4, 8, 2, 1}), compress: b.chance(0.7), fragment: pick(b, []int{64, 512, 4096})}
	seq := qrpSequence(k)
	if seq == nil {
		seq = qrpSequence(qrpKey{bits: 16, entryBits: 4, compress: true, fragment: 4096})
	}
	frames := make([]frame, len(seq))
	for i, p := range seq {
		frames[i] = frame{h: b.header(wire.TypeQRP), payload: append([]byte(nil), p...)}
	}
	frames = b.mutateQRP(frames)
	var stream []byte
	for i := range frames {
		stream = append(stream, frames[i].bytes()...)
	}
	q := b.frameOf(wire.TypeQuery)
	stream = append(stream, q.bytes()...)
	// Tables come from leaves, and from ultrapeers that say they send
	// them.
	b.gnutella(b.validConnect(b.chance(0.7)), finalOK, stream)
}

// mutateQRP changes the RESET (frames[0]) or the PATCHes after it.
func (b *builder) mutateQRP(frames []frame) []frame {
	reset := &frames[0]
	patches := frames[1:]
	p := &patches[b.intn(len(patches))]
	switch b.intn(9) {
	case 0:
		op := pick(b, []string{"skip", "repeat", "zero", "over"})
		switch op {
		case "skip":
			p.payload[1]++
		case "repeat":
			dup := frame{h: p.h, payload: append([]byte(nil), p.payload...)}
			frames = append(frames, dup)
		case "zero":
			p.payload[1] = 0
		default:
			p.payload[1] = p.payload[2] + byte(b.between(1, 10))
		}
		b.mutated("qrp.seq_no", op)
	case 1:
		op := pick(b, []string{"change", "zero", "smaller"})
		switch op {
		case "change":
			p.payload[2] = byte(b.between(1, 255))
		case "zero":
			p.payload[2] = 0
		default:
			p.payload[2] = p.payload[1] - 1
		}
		b.mutated("qrp.seq_size", op, p.payload[2])
	case 2:
		v := pick(b, []uint32{0, 1, 3, 1000, 1 << 31, 0xFFFFFFFF, 1 << 24, 8})
		binary.LittleEndian.PutUint32(reset.payload[1:], v)
		b.mutated("qrp.table_length", "set", v)
	case 3:
		reset.payload[5] = pick(b, []byte{0, 1, 255})
		b.mutated("qrp.infinity", "set", reset.payload[5])
	case 4:
		p.payload[4] = pick(b, []byte{0, 3, 16, 255})
		b.mutated("qrp.entry_bits", "set", p.payload[4])
	case 5:
		op := pick(b, []string{"unknown", "swap"})
		if op == "unknown" {
			p.payload[3] = pick(b, []byte{2, 255})
		} else {
			p.payload[3] ^= 1
		}
		b.mutated("qrp.compressor", op, p.payload[3])
	case 6:
		op := pick(b, []string{"truncate", "garbage", "bomb", "extra", "drop-fragment"})
		switch op {
		case "truncate":
			last := &patches[len(patches)-1]
			last.payload = last.payload[:5+b.intn(len(last.payload)-5)]
		case "garbage":
			p.payload = append(p.payload[:5:5], b.bytes(b.between(1, 512))...)
		case "bomb":
			p.payload = append([]byte{wire.QRPPatch, 1, 1, wire.QRPCompressZlib, 4}, zeroBomb()...)
			frames = []frame{*reset, *p}
		case "extra":
			p.payload = append(p.payload, b.bytes(b.between(1, 4096))...)
		default:
			if len(patches) > 2 {
				i := 1 + b.intn(len(patches)-1)
				frames = append(frames[:1+i], frames[2+i:]...)
			} else {
				frames = frames[:len(frames)-1]
			}
		}
		b.mutated("qrp.data", op)
	case 7:
		op := pick(b, []string{"patch-first", "double-reset", "reset-mid"})
		switch op {
		case "patch-first":
			frames = frames[1:]
		case "double-reset":
			frames = append([]frame{*reset}, frames...)
		default:
			frames = append(frames, frame{h: reset.h, payload: append([]byte(nil), reset.payload...)})
			frames[len(frames)-1], frames[len(frames)-2] = frames[len(frames)-2], frames[len(frames)-1]
		}
		b.mutated("qrp.order", op)
	default:
		p.payload[0] = pick(b, []byte{2, 0x7F, 0xFF})
		b.mutated("qrp.variant", "unknown", p.payload[0])
	}
	return frames
}
