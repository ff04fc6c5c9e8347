package peer

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"

	"github.com/govent/govent/wire"
)

// bytesField prefixes the fields of byte-level mutations.
const bytesField = "bytes."

// maxCaseBytes bounds what one case sends.
const maxCaseBytes = 256 << 10

// generator makes case i of a run from the seed alone.
type generator struct {
	seed  uint64
	areas []Area
	files []sharedFile
	seeds *Seeds
}

func newGenerator(seed uint64, areas []Area, files []sharedFile) *generator {
	return &generator{seed: seed, areas: areas, files: files, seeds: capturedSeeds}
}

// generate builds case i: its area in turn, its content from a random
// source of its own, so that it is the same whatever ran before it.
func (g *generator) generate(i uint64) Case {
	b := &builder{
		rng:   rand.New(rand.NewPCG(g.seed, i)),
		c:     Case{Index: i, Area: g.areas[i%uint64(len(g.areas))]},
		seeds: g.seeds,
		files: g.files,
	}
	switch b.c.Area {
	case AreaHandshake:
		b.handshakeCase()
	case AreaDescriptor:
		b.descriptorCase()
	case AreaGGEP:
		b.ggepCase()
	case AreaQRP:
		b.qrpCase()
	case AreaHTTP:
		b.httpCase()
	case AreaGIV:
		b.givCase()
	case AreaDeflate:
		b.deflateCase()
	}
	if b.c.Area != AreaDeflate && b.chance(0.25) {
		b.bytesOnTop()
	}
	b.bound()
	return b.c
}

// builder holds one case while it is generated.
type builder struct {
	rng   *rand.Rand
	c     Case
	seeds *Seeds
	files []sharedFile
	// tail is how many bytes at the end of the last send the byte-level
	// mutations leave alone: the probe Ping.
	tail int
}

func (b *builder) intn(n int) int {
	if n <= 0 {
		return 0
	}
	return b.rng.IntN(n)
}

// between returns a number in [lo, hi].
func (b *builder) between(lo, hi int) int { return lo + b.intn(hi-lo+1) }

func (b *builder) chance(p float64) bool { return b.rng.Float64() < p }

func pick[T any](b *builder, xs []T) T { return xs[b.intn(len(xs))] }

func (b *builder) bytes(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(b.rng.Uint32())
	}
	return out
}

// guid is a modern GUID from the case's random source.
func (b *builder) guid() wire.GUID {
	var g wire.GUID
	binary.LittleEndian.PutUint64(g[:8], b.rng.Uint64())
	binary.LittleEndian.PutUint64(g[8:], b.rng.Uint64())
	return wire.Modern(g)
}

func (b *builder) mutated(field, op string, detail ...any) {
	m := Mutation{Field: field, Op: op}
	if len(detail) > 0 {
		m.Detail = fmt.Sprint(detail...)
	}
	b.c.Mutations = append(b.c.Mutations, m)
}

// probePing is a TTL-1 Ping ending a Gnutella case; its GUID goes into
// the case so the answer reader knows its Pong.
func (b *builder) probePing() []byte {
	g := b.guid()
	b.c.Probe = hex.EncodeToString(g[:])
	h := wire.Header{GUID: g, Type: wire.TypePing, TTL: 1}
	b.tail = wire.HeaderLen
	return h.Append(nil)
}

// gnutella lays out a Gnutella case: CONNECT, wait for the answer, then the
// final block and the stream, ended by the probe Ping.
func (b *builder) gnutella(connect, final, stream []byte) {
	b.c.Proto = ProtoGnutella
	last := append(append(append([]byte(nil), final...), stream...), b.probePing()...)
	b.c.Steps = []Step{{Send: connect}, {Await: AwaitBlock}, {Send: last}}
}

// interesting are byte values parsers give meaning to.
var interesting = []byte{0x00, 0xFF, 0x7F, 0x80, 0x1C, wire.GGEPMagic, '\r', '\n', ':', ' ', '/', '%', 0x40, 0xBF}

// bytesOnTop applies one to three blind byte mutations to a send step.
func (b *builder) bytesOnTop() {
	var sends []int
	for i, s := range b.c.Steps {
		if s.Send != nil {
			sends = append(sends, i)
		}
	}
	if len(sends) == 0 {
		return
	}
	si := pick(b, sends)
	data := b.c.Steps[si].Send
	keep := 0
	if si == sends[len(sends)-1] {
		keep = b.tail
	}
	cut := len(data) - min(keep, len(data))
	body := append([]byte(nil), data[:cut]...)
	tail := data[cut:]
	for range b.between(1, 3) {
		pos := b.intn(len(body) + 1)
		switch op := b.intn(4); {
		case op == 0 && len(body) > 0:
			pos = min(pos, len(body)-1)
			bit := byte(1) << b.intn(8)
			body[pos] ^= bit
			b.mutated(bytesField+"flip", "xor", "step ", si, " offset ", pos, " bit ", bit)
		case op == 1:
			ins := b.bytes(b.between(1, 16))
			if b.chance(0.5) {
				for i := range ins {
					ins[i] = pick(b, interesting)
				}
			}
			body = append(body[:pos], append(ins, body[pos:]...)...)
			b.mutated(bytesField+"insert", "insert", "step ", si, " offset ", pos, " bytes ", len(ins))
		case op == 2 && len(body) > 0:
			pos = min(pos, len(body)-1)
			n := min(b.between(1, 16), len(body)-pos)
			body = append(body[:pos], body[pos+n:]...)
			b.mutated(bytesField+"delete", "delete", "step ", si, " offset ", pos, " bytes ", n)
		default:
			src := pick(b, b.seeds.Descriptors)
			from := b.intn(len(src))
			chunk := src[from : from+b.between(1, min(64, len(src)-from))]
			body = append(body[:pos], append(append([]byte(nil), chunk...), body[pos:]...)...)
			b.mutated(bytesField+"splice", "splice", "step ", si, " offset ", pos, " bytes ", len(chunk))
		}
	}
	b.c.Steps[si].Send = append(body, tail...)
}

// bound cuts sends so that a case stays within maxCaseBytes.
func (b *builder) bound() {
	left := maxCaseBytes
	for i := range b.c.Steps {
		s := &b.c.Steps[i]
		if s.Send == nil {
			continue
		}
		if len(s.Send) > left {
			s.Send = s.Send[:left]
		}
		left -= len(s.Send)
	}
}
