package peer

import (
	"bytes"
	"encoding/binary"
	"strings"
	"sync"

	"github.com/govent/govent/wire"
)

// ggepExt is where one extension sits in an encoded GGEP block.
type ggepExt struct {
	flags          int // offset of the flags byte
	idLen          int
	lenAt, lenSize int // the data length's chunks
	data, dataLen  int
}

// ggepLayout walks a valid encoded block (magic first).
func ggepLayout(blk []byte) []ggepExt {
	var out []ggepExt
	pos := 1
	for pos < len(blk) {
		e := ggepExt{flags: pos, idLen: int(blk[pos] & 0x0F)}
		pos += 1 + e.idLen
		e.lenAt = pos
		n := 0
		for pos < len(blk) {
			c := blk[pos]
			n = n<<6 | int(c&0x3F)
			pos++
			if c&0x40 != 0 {
				break
			}
		}
		e.lenSize, e.data, e.dataLen = pos-e.lenAt, pos, n
		out = append(out, e)
		pos += n
		if blk[e.flags]&wire.GGEPFlagLast != 0 {
			break
		}
	}
	return out
}

// ggepLen encodes n in the 6-bit chunks form, minimal.
func ggepLen(n int) []byte {
	switch {
	case n < 1<<6:
		return []byte{0x40 | byte(n)}
	case n < 1<<12:
		return []byte{0x80 | byte(n>>6), 0x40 | byte(n&0x3F)}
	}
	return []byte{0x80 | byte(n>>12&0x3F), 0x80 | byte(n>>6&0x3F), 0x40 | byte(n&0x3F)}
}

// ggepExtensions are extensions deployed servents send (gtk-gnutella's VC,
// UP, DU, TLS, SCP in Pings and Pongs; H, ALT, PUSH in hits).
func (b *builder) ggepExtensions() []wire.GGEPExtension {
	type ext struct {
		id    string
		value []byte
	}
	pool := []ext{
		{"VC", []byte("GTKG\x83")}, {"UP", []byte{2, 0xFF, 0x32}}, {"DU", []byte{0x3c}}, {"TLS", nil}, {"SCP", nil},
		{"H", append([]byte{1}, b.bytes(20)...)}, {"ALT", b.bytes(6 * b.between(1, 10))}, {"PUSH", b.bytes(12)},
		{"GTKGV", b.bytes(b.between(5, 20))}, {"LF", []byte{0, 0, 0, 1, 2}}, {"u", []byte("urn:sha1:" + strings.Repeat("A", 32))},
		{"IPP", b.bytes(6 * b.between(1, 20))}, {"BH", nil},
	}
	var out []wire.GGEPExtension
	for range b.between(1, 4) {
		e := pick(b, pool)
		cobs, deflate := b.chance(0.2), b.chance(0.15)
		value := e.value
		if deflate {
			// Deflated here with a pooled compressor: the value is what
			// wire.NewGGEPExtension would make, without a new compressor
			// (most of a megabyte) per case.
			value = zlibBytes(value)
		}
		x, err := wire.NewGGEPExtension(e.id, value, cobs, false)
		if err == nil {
			if deflate {
				x.Flags |= wire.GGEPFlagDeflate
			}
			out = append(out, x)
		}
	}
	return out
}

// ggepCase sends a descriptor carrying a GGEP block whose encoding, once
// mutated, no longer matches what its parser expects.
func (b *builder) ggepCase() {
	g := wire.GGEP{Extensions: b.ggepExtensions()}
	blk, err := g.Append(nil)
	if err != nil || len(blk) == 0 {
		blk = []byte{wire.GGEPMagic, 0x80 | 0x40 | 2, 'H', 'X', 0x40}
	}
	host := pick(b, []wire.PayloadType{wire.TypePing, wire.TypePong, wire.TypePush, wire.TypeQuery, wire.TypeQueryHit})
	prefix, suffix := b.ggepHost(host)
	// The block may be followed by the rest of the payload: mutations
	// that lengthen a data length run into it.
	blk = b.mutateGGEP(blk, len(suffix))
	payload := append(append(append([]byte(nil), prefix...), blk...), suffix...)
	f := frame{h: b.header(host), payload: payload}
	var stream []byte
	if b.chance(0.3) {
		first := b.frameOf(pick(b, streamTypes))
		stream = first.bytes()
	}
	stream = append(stream, f.bytes()...)
	b.gnutella(b.validConnect(b.chance(0.5)), finalOK, stream)
}

// ggepHost returns what comes before and after the GGEP block in a
// payload of type t.
func (b *builder) ggepHost(t wire.PayloadType) (prefix, suffix []byte) {
	switch t {
	case wire.TypePong:
		f := b.frameOf(wire.TypePong)
		return f.payload[:wire.PongFixedLen], nil
	case wire.TypePush:
		f := b.frameOf(wire.TypePush)
		return f.payload[:wire.PushFixedLen], nil
	case wire.TypeQuery:
		p := []byte{0x88, 0x00}
		p = append(p, b.text(1)...)
		p = append(p, 0)
		if b.chance(0.3) {
			p = append(p, wire.NewSHA1Block(b.sha1()).Data...)
			p = append(p, wire.ExtSeparator)
		}
		return p, nil
	case wire.TypeQueryHit:
		p := []byte{1, 0xBA, 0x18, 127, 0, 0, 1, 0xE8, 3, 0, 0}
		p = binary.LittleEndian.AppendUint32(p, 1)
		p = binary.LittleEndian.AppendUint32(p, 1000)
		p = append(p, "penny lane.mp3\x00\x00"...)
		p = append(p, "GTKG\x02\x21\x20"...) // QHD: open data says GGEP present
		g := b.guid()
		return p, g[:]
	}
	return nil, nil
}

// truncatedDeflate is half of a small deflated extension's data.
var truncatedDeflate = sync.OnceValue(func() []byte {
	x, _ := wire.NewGGEPExtension("Z", bytes.Repeat([]byte("abc"), 100), false, true)
	return x.Data[:len(x.Data)/2]
})

// mutateGGEP changes the block's encoding; after is how many payload
// bytes follow the block.
func (b *builder) mutateGGEP(blk []byte, after int) []byte {
	exts := ggepLayout(blk)
	if len(exts) == 0 {
		return blk
	}
	e := exts[b.intn(len(exts))]
	last := exts[len(exts)-1]
	setLen := func(enc []byte) []byte {
		out := append([]byte(nil), blk[:e.lenAt]...)
		out = append(out, enc...)
		return append(out, blk[e.lenAt+e.lenSize:]...)
	}
	switch b.intn(10) {
	case 0, 1:
		past := len(blk) - e.data + after + b.between(1, 64)
		b.mutated("ggep.length", "past-end", e.dataLen, " -> ", past)
		return setLen(ggepLen(min(past, wire.MaxGGEPDataLen)))
	case 2:
		op := pick(b, []string{"non-minimal", "four-chunks", "no-last-chunk", "bad-chunk", "zero", "max"})
		enc := map[string][]byte{
			"non-minimal":   {0x80, 0x40 | byte(e.dataLen&0x3F)},
			"four-chunks":   {0x81, 0x81, 0x81, 0x41},
			"no-last-chunk": {0x81, 0x81, 0x81},
			"bad-chunk":     {pick(b, []byte{0x00, 0xC5, 0x3F})},
			"zero":          {0x40},
			"max":           {0xBF, 0xBF, 0x7F},
		}[op]
		b.mutated("ggep.length", op)
		return setLen(enc)
	case 3:
		out := append([]byte(nil), blk...)
		op := pick(b, []string{"reserved", "idlen-zero", "no-last", "idlen-long"})
		switch op {
		case "reserved":
			out[e.flags] |= wire.GGEPFlagReserved
		case "idlen-zero":
			out[e.flags] &^= 0x0F
		case "no-last":
			out[last.flags] &^= wire.GGEPFlagLast
		default:
			out[e.flags] |= 0x0F
		}
		b.mutated("ggep.flags", op)
		return out
	case 4:
		out := append([]byte(nil), blk...)
		if blk[e.flags]&wire.GGEPFlagCOBS == 0 {
			out[e.flags] |= wire.GGEPFlagCOBS
			b.mutated("ggep.cobs", "flag-on-plain")
			return out
		}
		if e.dataLen > 0 {
			out[e.data] = byte(min(255, e.dataLen+b.between(1, 50)))
		}
		b.mutated("ggep.cobs", "code-past-end")
		return out
	case 5:
		op := pick(b, []string{"garbage", "truncated", "bomb"})
		var data []byte
		switch op {
		case "garbage":
			data = append([]byte{0x78, 0x9C}, b.bytes(b.between(1, 40))...)
		case "truncated":
			data = truncatedDeflate()
		default:
			data = zeroBomb()
		}
		blk = append([]byte{wire.GGEPMagic, wire.GGEPFlagLast | wire.GGEPFlagDeflate | 1, 'Z'}, ggepLen(len(data))...)
		b.mutated("ggep.deflate", op, len(data), " bytes")
		return append(blk, data...)
	case 6:
		op := pick(b, []string{"nul", "long", "duplicate"})
		switch op {
		case "nul":
			blk = []byte{wire.GGEPMagic, wire.GGEPFlagLast | 2, 'H', 0, 0x40}
		case "long":
			blk = append(append([]byte{wire.GGEPMagic, wire.GGEPFlagLast | 15}, "ABCDEFGHIJKLMNO"...), 0x41, 1)
		default:
			one := []byte{0x02, 'D', 'U', 0x41, 1}
			blk = []byte{wire.GGEPMagic}
			for range b.between(2, 20) {
				blk = append(blk, one...)
			}
			blk = append(blk, wire.GGEPFlagLast|2, 'D', 'U', 0x41, 1)
		}
		b.mutated("ggep.id", op)
		return blk
	case 7:
		n := b.between(200, 3000)
		out := []byte{wire.GGEPMagic}
		for i := range n {
			flags := byte(1)
			if i == n-1 {
				flags |= wire.GGEPFlagLast
			}
			out = append(out, flags, 'A'+byte(i%26), 0x40)
		}
		b.mutated("ggep.count", "many", n)
		return out
	case 8:
		op := pick(b, []string{"double", "missing", "bare"})
		switch op {
		case "double":
			blk = append([]byte{wire.GGEPMagic}, blk...)
		case "missing":
			blk = blk[1:]
		default:
			blk = []byte{wire.GGEPMagic}
		}
		b.mutated("ggep.magic", op)
		return blk
	default:
		cut := b.between(1, len(blk)-1)
		b.mutated("ggep.block", "truncated", cut, " of ", len(blk))
		return blk[:max(1, cut)]
	}
}
