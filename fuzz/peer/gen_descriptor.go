package peer

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/govent/govent/wire"
)

// frame is one descriptor being built: its header and payload. Length is
// recomputed from the payload unless a mutation set it on purpose.
type frame struct {
	h       wire.Header
	payload []byte
	keepLen bool
}

func (f *frame) bytes() []byte {
	h := f.h
	if !f.keepLen {
		h.Length = uint32(len(f.payload))
	}
	return append(h.Append(nil), f.payload...)
}

// encode turns a typed message into a frame. The values are built valid,
// so encoding does not fail.
func encode(m *wire.Message) frame {
	b, err := m.Append(nil)
	if err != nil {
		panic("fuzz/peer: encoding a valid " + m.Header.Type.String() + ": " + err.Error())
	}
	return frame{h: m.Header, payload: b[wire.HeaderLen:]}
}

// words are query and file-name words: the captured files' and others.
var words = []string{"penny", "lane", "strawberry", "fields", "readme", "test", "beatles", "mp3", "ogg", "txt", "music", "a", "z"}

func (b *builder) text(n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = pick(b, words)
	}
	return strings.Join(w, " ")
}

func (b *builder) addr() netip.Addr {
	return netip.AddrFrom4([4]byte{127, 0, byte(b.intn(4)), byte(b.between(1, 254))})
}

func (b *builder) sha1() wire.SHA1 {
	var s wire.SHA1
	copy(s[:], b.bytes(wire.SHA1Len))
	return s
}

// header is a valid header for a descriptor of type t.
func (b *builder) header(t wire.PayloadType) wire.Header {
	h := wire.Header{GUID: b.guid(), Type: t, TTL: uint8(b.between(1, 4))}
	switch t {
	case wire.TypeBye, wire.TypeQRP, wire.TypeVendor, wire.TypeStdVendor:
		h.TTL = 1
	}
	return h
}

// frameOf is a valid descriptor of type t: one captured from gtk-gnutella
// a third of the time when there is one, else one from our encoders.
func (b *builder) frameOf(t wire.PayloadType) frame {
	if caps := b.seeds.descriptorsOf(t); len(caps) > 0 && b.chance(0.33) {
		raw := pick(b, caps)
		h, _ := wire.ParseHeader(raw)
		h.GUID = b.guid()
		return frame{h: h, payload: append([]byte(nil), raw[wire.HeaderLen:]...)}
	}
	m := wire.Message{Header: b.header(t)}
	switch t {
	case wire.TypePing:
	case wire.TypePong:
		m.Pong = wire.Pong{Port: uint16(b.between(1, 65535)), Addr: b.addr(), Files: uint32(b.intn(1000)), KB: uint32(b.intn(1 << 20))}
	case wire.TypeQuery:
		m.Query = wire.Query{Criteria: []byte(b.text(b.between(1, 3)))}
		m.Query.SetFlags(wire.QueryFlagGGEPH)
		if b.chance(0.3) {
			m.Query.Ext = wire.ExtArea{Blocks: []wire.ExtBlock{wire.NewSHA1Block(b.sha1())}}
		}
	case wire.TypeQueryHit:
		qh := wire.QueryHit{Port: 6346, Addr: b.addr(), Speed: 1000, HasQHD: true, QHD: wire.QHD{Vendor: [4]byte{'G', 'O', 'V', 'T'}}, ServentGUID: b.guid()}
		qh.QHD.SetPush(b.chance(0.3))
		qh.QHD.SetBusy(false)
		for i := range b.between(1, 5) {
			qh.Results = append(qh.Results, wire.Result{
				Index: uint32(i + 1), Size: uint32(b.intn(1 << 24)), Name: []byte(b.text(2) + ".mp3"),
				Ext: wire.ExtArea{Blocks: []wire.ExtBlock{wire.NewSHA1Block(b.sha1())}, Terminated: true},
			})
		}
		m.QueryHit = qh
	case wire.TypePush:
		m.Push = wire.Push{ServentGUID: b.guid(), Index: uint32(b.intn(10)), Addr: b.addr(), Port: 6346}
	case wire.TypeBye:
		m.Bye = wire.NewBye(uint16(pick(b, []int{200, 201, 400, 502})), "fuzz-peer", "Server: govent-fuzz-peer")
	case wire.TypeVendor:
		v, err := wire.NewMessagesSupported([]wire.VendorEntry{{Vendor: [4]byte{'B', 'E', 'A', 'R'}, Selector: 4, Version: 1}, {Vendor: [4]byte{'G', 'T', 'K', 'G'}, Selector: 7, Version: 1}})
		if err == nil {
			m.Vendor = v
		}
	default:
		m.Payload = b.bytes(b.between(0, 32))
	}
	return encode(&m)
}

// streamTypes are what a case stream is made of; a Bye ends a link, so it
// comes only as the mutated frame.
var streamTypes = []wire.PayloadType{wire.TypePing, wire.TypePong, wire.TypeQuery, wire.TypeQueryHit, wire.TypePush, wire.TypeVendor, wire.TypeHSEP}

// descriptorCase sends one to four descriptors after a valid handshake,
// one of them with a field its parser trusts mutated.
func (b *builder) descriptorCase() {
	n := b.between(1, 4)
	frames := make([]frame, n)
	target := b.intn(n)
	for i := range frames {
		t := pick(b, streamTypes)
		if i == target && b.chance(0.08) {
			t = wire.TypeBye
		}
		frames[i] = b.frameOf(t)
	}
	var prev *frame
	if target > 0 {
		prev = &frames[target-1]
	}
	if b.chance(0.3) || !b.mutatePayload(&frames[target]) {
		b.mutateHeader(&frames[target], prev)
	}
	var stream []byte
	for i := range frames {
		stream = append(stream, frames[i].bytes()...)
	}
	b.gnutella(b.validConnect(b.chance(0.5)), finalOK, stream)
}

// mutateHeader changes a header field: the payload length, the type, TTL
// and hops, or the GUID.
func (b *builder) mutateHeader(f *frame, prev *frame) {
	switch b.intn(4) {
	case 0:
		n := len(f.payload)
		var v uint32
		op := pick(b, []string{"short", "long", "zero", "huge"})
		switch op {
		case "short":
			v = uint32(max(0, n-b.between(1, 8)))
		case "long":
			v = uint32(n + b.between(1, 64))
		case "zero":
			v = 0
		default:
			v = pick(b, []uint32{65537, 1 << 20, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF})
		}
		f.h.Length, f.keepLen = v, true
		b.mutated("header.length", op, n, " -> ", v)
	case 1:
		old := f.h.Type
		f.h.Type = wire.PayloadType(pick(b, []byte{0x03, 0x10, 0x41, 0x82, 0xFF, 0x00, 0x01, 0x02, 0x30, 0x31, 0x32, 0x40, 0x80, 0x81}))
		b.mutated("header.type", "swap", old, " -> ", f.h.Type)
	case 2:
		p := pick(b, [][2]uint8{{0, 0}, {255, 0}, {0, 255}, {255, 255}, {7, 9}, {1, 14}, {16, 0}})
		f.h.TTL, f.h.Hops = p[0], p[1]
		b.mutated("header.ttl_hops", "set", p[0], "/", p[1])
	default:
		switch {
		case prev != nil && b.chance(0.5):
			f.h.GUID = prev.h.GUID
			b.mutated("header.guid", "duplicate")
		case b.chance(0.5):
			f.h.GUID = wire.GUID{}
			b.mutated("header.guid", "zero")
		default:
			f.h.GUID = wire.GUID(bytes.Repeat([]byte{0xFF}, wire.GUIDLen))
			b.mutated("header.guid", "ones")
		}
	}
}

// mutatePayload changes a field of the payload its type's parser trusts;
// false when the type has none here.
func (b *builder) mutatePayload(f *frame) bool {
	p := f.payload
	switch f.h.Type {
	case wire.TypePing:
		f.payload = b.bytes(b.between(1, 64))
		b.mutated("ping.payload", "garbage", len(f.payload))
	case wire.TypePong:
		switch b.intn(4) {
		case 0:
			f.payload = p[:b.intn(min(len(p), wire.PongFixedLen))]
			b.mutated("pong.length", "short", len(f.payload))
		case 1:
			copy(p[2:6], pick(b, [][]byte{{0, 0, 0, 0}, {255, 255, 255, 255}, {224, 0, 0, 1}}))
			b.mutated("pong.addr", "special")
		case 2:
			p[0], p[1] = 0, 0
			b.mutated("pong.port", "zero")
		default:
			binary.LittleEndian.PutUint32(p[6:], 0xFFFFFFFF)
			binary.LittleEndian.PutUint32(p[10:], 0xFFFFFFFF)
			b.mutated("pong.counts", "max")
		}
	case wire.TypeQuery:
		b.mutateQuery(f)
	case wire.TypeQueryHit:
		b.mutateQueryHit(f)
	case wire.TypePush:
		switch b.intn(4) {
		case 0:
			f.payload = p[:b.intn(min(len(p), wire.PushFixedLen))]
			b.mutated("push.length", "short", len(f.payload))
		case 1:
			binary.LittleEndian.PutUint32(p[16:], 0xFFFFFFFF)
			b.mutated("push.index", "max")
		case 2:
			copy(p[20:26], []byte{0, 0, 0, 0, 0, 0})
			b.mutated("push.addr", "zero")
		default:
			copy(p[:16], make([]byte, 16))
			b.mutated("push.servent_guid", "zero")
		}
	case wire.TypeBye:
		switch b.intn(4) {
		case 0:
			binary.LittleEndian.PutUint16(p, pick(b, []uint16{0, 1, 199, 600, 65535}))
			b.mutated("bye.code", "odd")
		case 1:
			f.payload = bytes.TrimRight(p, "\x00")
			b.mutated("bye.nul", "missing")
		case 2:
			f.payload = append(append(p[:2:2], bytes.Repeat([]byte("r"), b.between(1000, 8000))...), 0)
			b.mutated("bye.reason", "long")
		default:
			f.payload = append(p[:len(p)-1:len(p)-1], []byte("\r\nX: "+strings.Repeat("y", 300)+"\r\n\x01\x02")...)
			b.mutated("bye.headers", "garbled")
		}
	case wire.TypeVendor, wire.TypeStdVendor:
		if len(p) < wire.VendorHeaderLen {
			return false
		}
		switch b.intn(3) {
		case 0:
			if len(p) >= wire.VendorHeaderLen+2 {
				binary.LittleEndian.PutUint16(p[wire.VendorHeaderLen:], uint16(b.between(3, 65535)))
				b.mutated("vendor.count", "over")
				break
			}
			fallthrough
		case 1:
			f.payload = p[:b.intn(wire.VendorHeaderLen)]
			b.mutated("vendor.length", "short", len(f.payload))
		default:
			binary.LittleEndian.PutUint16(p[4:], uint16(b.rng.Uint32()))
			binary.LittleEndian.PutUint16(p[6:], uint16(b.rng.Uint32()))
			b.mutated("vendor.selector", "random")
		}
	default:
		return false
	}
	return true
}

// queryParts splits a Query payload: the word, the criteria, what follows
// the criteria's NUL.
func queryParts(p []byte) (word, criteria, ext []byte, ok bool) {
	if len(p) < 3 {
		return nil, nil, nil, false
	}
	nul := bytes.IndexByte(p[2:], 0)
	if nul < 0 {
		return nil, nil, nil, false
	}
	return p[:2], p[2 : 2+nul], p[3+nul:], true
}

func (b *builder) mutateQuery(f *frame) {
	word, criteria, ext, ok := queryParts(f.payload)
	if !ok {
		f.payload = b.bytes(b.between(1, 32))
		b.mutated("query.payload", "garbage")
		return
	}
	word, criteria, ext = append([]byte(nil), word...), append([]byte(nil), criteria...), append([]byte(nil), ext...)
	nul := true
	switch b.intn(8) {
	case 0:
		nul = false
		b.mutated("query.criteria_nul", "missing")
	case 1:
		criteria = bytes.Repeat([]byte("a"), pick(b, []int{1025, 4096, b.between(30000, 60000)}))
		b.mutated("query.criteria", "long", len(criteria))
	case 2:
		criteria = nil
		b.mutated("query.criteria", "empty")
	case 3:
		criteria = bytes.ReplaceAll(b.bytes(b.between(1, 64)), []byte{0}, []byte{0xFF})
		b.mutated("query.criteria", "binary")
	case 4:
		binary.BigEndian.PutUint16(word, uint16(b.rng.Uint32()))
		b.mutated("query.flags", "random", binary.BigEndian.Uint16(word))
	case 5:
		ext = bytes.Repeat([]byte{wire.ExtSeparator}, b.between(1, 2000))
		b.mutated("query.ext", "separators", len(ext))
	case 6:
		ext = []byte(pick(b, []string{"urn:sha1:!!!!", "urn:sha1:" + strings.Repeat("A", 200), "urn:", "URN:SHA1:" + strings.Repeat("2", 32), "urn:bitprint:" + strings.Repeat("Q", 72)}))
		b.mutated("query.ext", "urn")
	default:
		ext = append([]byte("<?xml version=\"1.0\"?><audios>"), bytes.Repeat([]byte("<audio title=\"x\"/>"), b.between(1, 2000))...)
		b.mutated("query.ext", "xml", len(ext))
	}
	out := append(word, criteria...)
	if nul {
		out = append(out, 0)
	}
	f.payload = append(out, ext...)
}

// resultLayout finds, naively, where each result's name NUL and extension
// NUL are in a QueryHit payload.
func resultLayout(p []byte) (nameNULs, extNULs []int, end int) {
	pos := 11
	for i := 0; p != nil && i < int(p[0]) && pos+10 <= len(p)-wire.GUIDLen; i++ {
		n := bytes.IndexByte(p[pos+8:], 0)
		if n < 0 {
			break
		}
		nameNUL := pos + 8 + n
		e := bytes.IndexByte(p[nameNUL+1:], 0)
		if e < 0 {
			break
		}
		nameNULs = append(nameNULs, nameNUL)
		extNULs = append(extNULs, nameNUL+1+e)
		pos = nameNUL + 2 + e
	}
	return nameNULs, extNULs, pos
}

func (b *builder) mutateQueryHit(f *frame) {
	p := f.payload
	if len(p) < 11+wire.GUIDLen {
		return
	}
	names, exts, end := resultLayout(p)
	switch op := b.intn(8); {
	case op <= 1:
		old := p[0]
		p[0] = byte(min(255, int(old)+b.between(1, 20)))
		b.mutated("queryhit.count", "over", old, " -> ", p[0])
	case op == 2:
		p[0] = pick(b, []byte{0, 255})
		b.mutated("queryhit.count", "set", p[0])
	case op == 3 && len(names) > 0:
		i := names[b.intn(len(names))]
		f.payload = append(p[:i:i], p[i+1:]...)
		b.mutated("queryhit.name_nul", "missing")
	case op == 4 && len(exts) > 0:
		i := exts[b.intn(len(exts))]
		f.payload = append(p[:i:i], p[i+1:]...)
		b.mutated("queryhit.ext_nul", "missing")
	case op == 5 && end+5 <= len(p)-wire.GUIDLen:
		p[end+4] = byte(b.between(int(p[end+4])+1, 255))
		b.mutated("queryhit.qhd_open_size", "past-end", p[end+4])
	case op == 6:
		f.payload = p[:b.between(0, len(p)-1)]
		b.mutated("queryhit.length", "short", len(f.payload))
	default:
		var out []byte
		n := b.between(200, 255)
		out = append(out, byte(n), 0xBA, 0x18, 127, 0, 0, 1, 0, 0, 0, 0)
		for i := range n {
			out = binary.LittleEndian.AppendUint32(out, uint32(i))
			out = binary.LittleEndian.AppendUint32(out, 1)
			out = append(out, 'a', 0, 0)
		}
		f.payload = append(out, p[len(p)-wire.GUIDLen:]...)
		b.mutated("queryhit.results", "many", n)
	}
}
