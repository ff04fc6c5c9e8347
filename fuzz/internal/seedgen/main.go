// Command seedgen writes the seed corpora of package fuzz from the
// hand-written golden vectors (testdata/golden), the gtk-gnutella captures
// (testdata/*.pcap) and values built with our own encoders. Run it from the
// module root after a capture or golden vector is added:
//
//	go run ./fuzz/internal/seedgen
//
// It replaces the generated files (those named gen-*) and leaves any other
// file in the corpus directories alone: fuzzer findings kept as reproducers
// live next to the seeds.
package main

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/linkzip"
)

// maxPerTarget keeps each corpus to tens of files: the seeds run on every
// `go test ./fuzz/`.
const maxPerTarget = 64

func main() {
	log.SetFlags(0)
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	g := &gen{root: root, seeds: map[string][]seed{}}
	g.golden()
	g.captures()
	g.thexBodies()
	g.encoded()
	if err := g.write(); err != nil {
		log.Fatal(err)
	}
}

// seed is one corpus file: its name and the fuzz function's arguments.
type seed struct {
	name string
	args []any
}

type gen struct {
	root  string
	seeds map[string][]seed // by target
	seen  map[string]bool   // target + encoded args, to drop duplicates
}

func (g *gen) add(target, name string, args ...any) {
	if g.seen == nil {
		g.seen = map[string]bool{}
	}
	key := target + "\x00" + string(marshal(args))
	if g.seen[key] || len(g.seeds[target]) >= maxPerTarget {
		return
	}
	g.seen[key] = true
	g.seeds[target] = append(g.seeds[target], seed{name, args})
}

// payloadTargets maps a payload type to its target.
var payloadTargets = map[wire.PayloadType]string{
	wire.TypePing:      "FuzzPing",
	wire.TypePong:      "FuzzPong",
	wire.TypeBye:       "FuzzBye",
	wire.TypeQRP:       "FuzzQRP",
	wire.TypeVendor:    "FuzzVendor",
	wire.TypeStdVendor: "FuzzVendor",
	wire.TypePush:      "FuzzPush",
	wire.TypeQuery:     "FuzzQuery",
	wire.TypeQueryHit:  "FuzzQueryHit",
}

// descriptor adds one whole descriptor (header and payload) to every
// target it can seed.
func (g *gen) descriptor(name string, raw []byte) {
	h, err := wire.ParseHeader(raw)
	if err != nil || len(raw) != wire.HeaderLen+int(h.Length) {
		log.Fatalf("%s: not one whole descriptor", name)
	}
	payload := raw[wire.HeaderLen:]
	g.add("FuzzHeader", name, raw[:wire.HeaderLen])
	g.add("FuzzMessage", name, raw)
	g.add("FuzzCaptureLayer", name, raw, uint32(0))
	if t, ok := payloadTargets[h.Type]; ok {
		g.add(t, name, payload)
	}
	var m wire.Message
	if err := m.Decode(h, payload); err != nil {
		return
	}
	// GGEP blocks, COBS data and urns found inside the payload.
	blocks := []*wire.GGEP{&m.Ping.GGEP, &m.Pong.GGEP, &m.Push.GGEP, &m.QueryHit.QHD.GGEP}
	areas := []*wire.ExtArea{&m.Query.Ext}
	for i := range m.QueryHit.Results {
		areas = append(areas, &m.QueryHit.Results[i].Ext)
	}
	for _, a := range areas {
		for i := range a.Blocks {
			b := &a.Blocks[i]
			switch b.Kind {
			case wire.ExtGGEP:
				blocks = append(blocks, &b.GGEP)
			case wire.ExtSHA1, wire.ExtURN:
				g.add("FuzzURN", name, string(b.Data))
			}
		}
	}
	for _, blk := range blocks {
		if len(blk.Extensions) == 0 {
			continue
		}
		b, err := blk.Append(nil)
		if err != nil {
			log.Fatalf("%s: GGEP: %v", name, err)
		}
		g.add("FuzzGGEP", name, b)
		for _, e := range blk.Extensions {
			if e.Flags&wire.GGEPFlagCOBS != 0 {
				g.add("FuzzCOBS", name+"-"+string(e.ID), e.Data)
			}
		}
	}
}

// golden reads testdata/golden/*.hex (format in its README).
func (g *gen) golden() {
	files, err := filepath.Glob(filepath.Join(g.root, "testdata", "golden", "*.hex"))
	if err != nil || len(files) == 0 {
		log.Fatalf("no golden vectors under %s: %v", g.root, err)
	}
	var all []byte
	for _, f := range files {
		raw := readHex(f)
		name := "golden-" + strings.TrimSuffix(filepath.Base(f), ".hex")
		g.descriptor(name, raw)
		all = append(all, raw...)
	}
	g.add("FuzzReader", "golden-all", all, uint64(1), uint32(0))
	g.add("FuzzReader", "golden-all-limit", all, uint64(7), uint32(30))
	// Cut inside the last descriptor: the stream ends mid-frame.
	g.add("FuzzReader", "golden-all-cut", all[:len(all)-5], uint64(3), uint32(0))
}

// readHex reads a file of hex digits with '#' comments (testdata/golden,
// httpxfer/thex/testdata).
func readHex(f string) []byte {
	text, err := os.ReadFile(f)
	if err != nil {
		log.Fatal(err)
	}
	var digits strings.Builder
	for line := range strings.SplitSeq(string(text), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	raw := make([]byte, digits.Len()/2)
	for i := range raw {
		v, err := strconv.ParseUint(digits.String()[2*i:2*i+2], 16, 8)
		if err != nil {
			log.Fatalf("%s: %v", f, err)
		}
		raw[i] = byte(v)
	}
	return raw
}

// thexBodies seeds the DIME and THEX targets from the trees gtk-gnutella
// served (httpxfer/thex/testdata/gtkg-thex-*.hex): whole, cut short, and
// with the size and root they are for.
func (g *gen) thexBodies() {
	files, err := filepath.Glob(filepath.Join(g.root, "httpxfer", "thex", "testdata", "gtkg-thex-*.hex"))
	if err != nil || len(files) == 0 {
		log.Fatalf("no gtk-gnutella THEX bodies: %v", err)
	}
	for _, f := range files {
		body := readHex(f)
		name := "gtkg-" + strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "gtkg-thex-"), ".hex")
		g.add("FuzzDIME", name, body)
		g.add("FuzzDIME", name+"-cut", body[:len(body)-30])
		recs, err := thex.ParseDIME(body)
		if err != nil || len(recs) != 2 {
			log.Fatalf("%s: %v", f, err)
		}
		var x struct {
			File struct {
				Size uint64 `xml:"size,attr"`
			} `xml:"file"`
		}
		if err := xml.Unmarshal(recs[0].Data, &x); err != nil {
			log.Fatalf("%s: %v", f, err)
		}
		root := wire.TTH(recs[1].Data[:thex.Size])
		g.add("FuzzTHEX", name, body, x.File.Size, root.Base32())
		g.add("FuzzTHEX", name+"-other-size", body, x.File.Size+1, root.Base32())
		g.add("FuzzTHEX", name+"-own-root", body, x.File.Size, "")
	}
}

// encoded adds values built with our own encoders: shapes the captures do
// not hold (COBS and deflated GGEP, long runs, every QRP entry size).
func (g *gen) encoded() {
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	guid := wire.GUID{0x47, 0x6f, 0x76, 0x65, 0x6e, 0x74, 0, 1, 0xff, 2, 3, 4, 5, 6, 7, 0}

	// GGEP with every encoding, and its COBS data.
	zeros := make([]byte, 300)
	long := bytes.Repeat([]byte("gnutella "), 40)
	var blk wire.GGEP
	for _, e := range []struct {
		id         string
		value      []byte
		cobs, defl bool
	}{
		{"H", append([]byte{1}, zeros[:20]...), true, false},
		{"ALT", long, false, true},
		{"Z", zeros, true, true},
		{"LONGLONGLONGID1", nil, false, false},
	} {
		ext, err := wire.NewGGEPExtension(e.id, e.value, e.cobs, e.defl)
		must(err)
		blk.Extensions = append(blk.Extensions, ext)
		one := wire.GGEP{Extensions: []wire.GGEPExtension{ext}}
		b, err := one.Append(nil)
		must(err)
		g.add("FuzzGGEP", "enc-"+e.id, b)
		if e.cobs {
			g.add("FuzzCOBS", "enc-"+e.id, ext.Data)
		}
	}
	b, err := blk.Append(nil)
	must(err)
	g.add("FuzzGGEP", "enc-all", b)
	run254 := bytes.Repeat([]byte{'x'}, 254)
	g.add("FuzzCOBS", "enc-run254", wire.COBSEncode(nil, run254))
	g.add("FuzzCOBS", "enc-run254-explicit-end", append(wire.COBSEncode(nil, run254), 1))
	g.add("FuzzCOBS", "enc-run508-nul", wire.COBSEncode(nil, append(append(run254[:254:254], 0), run254...)))

	// Payloads and descriptors.
	query := wire.Query{Criteria: []byte("penny lane mp3")}
	query.SetFlags(wire.QueryFlagGGEPH | wire.QueryFlagXML)
	query.Ext.Blocks = []wire.ExtBlock{wire.NewSHA1Block(wire.SHA1{1, 2, 3}), {Kind: wire.ExtGGEP, GGEP: blk}}
	query.Ext.Terminated = true
	hit := wire.QueryHit{Port: 6346, Addr: netip.AddrFrom4([4]byte{192, 0, 2, 7}), Speed: 1000, ServentGUID: guid}
	hit.Results = []wire.Result{
		{Index: 1, Size: 4096, Name: []byte("penny lane.mp3"), Ext: wire.ExtArea{Blocks: []wire.ExtBlock{wire.NewSHA1Block(wire.SHA1{9})}, Terminated: true}},
		{Index: 2, Size: 1, Name: []byte("x"), Ext: wire.ExtArea{Terminated: true}},
	}
	hit.HasQHD = true
	hit.QHD.Vendor = [4]byte{'G', 'T', 'K', 'G'}
	hit.QHD.SetPush(true)
	hit.QHD.SetBusy(false)
	hit.QHD.SetGGEPFlag(true)
	hit.QHD.GGEP = blk
	bye := wire.NewBye(wire.ByeTooBig, "Too big", "Server: govent/0.1")
	features, err := wire.NewFeaturesSupported([]wire.FeatureEntry{{Feature: [4]byte{'T', 'L', 'S', '!'}, Version: 1}})
	must(err)
	msgs := []wire.Message{
		{Header: wire.Header{GUID: guid, Type: wire.TypeQuery, TTL: 4}, Query: query},
		{Header: wire.Header{GUID: guid, Type: wire.TypeQueryHit, TTL: 7, Hops: 2}, QueryHit: hit},
		{Header: wire.Header{GUID: guid, Type: wire.TypeBye, TTL: 1}, Bye: bye},
		{Header: wire.Header{Type: wire.TypeVendor, TTL: 1}, Vendor: features},
		{Header: wire.Header{GUID: guid, Type: wire.TypePing, TTL: 1}, Ping: wire.Ping{GGEP: blk}},
		{Header: wire.Header{GUID: guid, Type: wire.TypeHSEP, TTL: 1}, Payload: []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	var stream []byte
	for i := range msgs {
		raw, err := msgs[i].Append(nil)
		must(err)
		g.descriptor(fmt.Sprintf("enc-%s", strings.ToLower(msgs[i].Header.Type.String())), raw)
		stream = append(stream, raw...)
	}
	g.add("FuzzReader", "enc-all", stream, uint64(2), uint32(0))
	g.add("FuzzReader", "enc-all-limit", stream, uint64(9), uint32(64))

	// QRP sequences as a leaf sends them, every entry size.
	table, err := router.BuildQRT([]string{"penny lane.mp3", "strawberry fields.ogg"}, []wire.SHA1{{7}}, 10)
	must(err)
	for _, c := range []struct {
		bits     uint8
		compress bool
		frag     int
	}{{1, false, 64}, {2, true, 1024}, {4, false, 512}, {8, true, 50}} {
		seq, err := router.PatchMessages(nil, table, c.bits, c.compress, c.frag)
		must(err)
		var payloads [][]byte
		for i := range seq {
			p, err := seq[i].Append(nil)
			must(err)
			payloads = append(payloads, p)
		}
		name := fmt.Sprintf("enc-bits%d-z%v", c.bits, c.compress)
		g.add("FuzzQRT", name, qrtInput(payloads...))
		g.add("FuzzQRP", name+"-reset", payloads[0])
		g.add("FuzzQRP", name+"-patch", payloads[1])
	}

	// Link compression as our writer produces it.
	var link bytes.Buffer
	zw, err := linkzip.NewWriter(&link, linkzip.WriterConfig{})
	must(err)
	for _, chunk := range [][]byte{stream, zeros, stream} {
		_, err := zw.Write(chunk)
		must(err)
		must(zw.Flush())
	}
	g.add("FuzzLinkzip", "enc-writer", link.Bytes(), uint32(0), uint16(0))
	g.add("FuzzLinkzip", "enc-writer-tight", link.Bytes(), uint32(128), uint16(3))
	var bomb bytes.Buffer
	bw, err := zlib.NewWriterLevel(&bomb, zlib.BestCompression)
	must(err)
	_, err = bw.Write(make([]byte, 1<<20))
	must(err)
	must(bw.Close())
	g.add("FuzzLinkzip", "enc-bomb", bomb.Bytes(), uint32(4096), uint16(100))

	// Handshakes and GIVs as we write them.
	var hs wire.Handshake
	hs.StartLine = wire.ConnectLine06
	hs.Add("User-Agent", "govent/0.1")
	hs.Add("X-Ultrapeer", "False")
	hs.Add("Accept-Encoding", "deflate")
	g.add("FuzzHandshake", "enc-connect", hs.Append(nil), uint16(0), uint16(0))
	g.add("FuzzHandshake", "enc-connect-lines", hs.Append(nil), uint16(2), uint16(0))
	g.add("FuzzHandshake", "enc-connect-bytes", hs.Append(nil), uint16(0), uint16(40))
	g.add("FuzzHandshake", "folded", []byte("GNUTELLA/0.6 200 OK\nX-Try: 1.2.3.4:5,\n\t6.7.8.9:10\n\nrest"), uint16(0), uint16(0))
	g.add("FuzzHandshake", "0.4", []byte(wire.Handshake04Connect), uint16(0), uint16(0))
	giv, err := httpxfer.AppendGIV(nil, httpxfer.GIV{Index: 42, ServentGUID: guid, Name: "penny lane.mp3"})
	must(err)
	g.add("FuzzGIV", "enc", giv)
	g.add("FuzzGIV", "enc-crlf", bytes.ReplaceAll(giv, []byte("\n"), []byte("\r\n")))
	// A bare-LF line of MaxGIVLen+1 bytes, which ParseGIV accepts.
	g.add("FuzzGIV", "giv-1025", []byte("GIV 1:"+guid.String()+"/"+strings.Repeat("a", httpxfer.MaxGIVLen+1-39)+"\n\n"))
	g.encodedHashes()
	g.add("FuzzURN", "enc", wire.SHA1{0xde, 0xad}.String())
	g.add("FuzzURN", "enc-sha1-lower", "sha1:"+strings.ToLower(wire.SHA1{0xbe, 0xef}.Base32()))
}

// write replaces every gen-* file of every target's corpus.
func (g *gen) write() error {
	targets := make([]string, 0, len(g.seeds))
	for t := range g.seeds {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		dir := filepath.Join(g.root, "fuzz", "testdata", "fuzz", t)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		old, err := filepath.Glob(filepath.Join(dir, "gen-*"))
		if err != nil {
			return err
		}
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
		used := map[string]int{}
		for _, s := range g.seeds[t] {
			name := "gen-" + s.name
			if used[name]++; used[name] > 1 {
				name = fmt.Sprintf("%s-%d", name, used[name])
			}
			if err := os.WriteFile(filepath.Join(dir, name), marshal(s.args), 0o644); err != nil {
				return err
			}
		}
		fmt.Printf("%-18s %d seeds\n", t, len(g.seeds[t]))
	}
	return nil
}

// marshal writes arguments in the `go test fuzz v1` corpus format.
func marshal(args []any) []byte {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	fmt.Fprintln(w, "go test fuzz v1")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(w, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(w, "string(%q)\n", v)
		case uint16, uint32, uint64:
			fmt.Fprintf(w, "%T(%d)\n", v, v)
		default:
			log.Fatalf("seedgen: no corpus encoding for %T", a)
		}
	}
	w.Flush()
	return b.Bytes()
}

// encodedHashes seeds the urn, magnet, THEX and X-Thex-URI targets from our
// encoders: every urn form, the magnet shapes of the wire tests, and trees
// of the sizes where the depth policy changes.
func (g *gen) encodedHashes() {
	var u wire.URN
	u.SHA1, u.HasSHA1 = wire.SHA1{0xae, 0x35, 0x0b}, true
	g.add("FuzzContentURN", "enc-sha1", u.String())
	u.TTH, u.HasTTH = wire.TTH{0x3a, 0x18, 0x02}, true
	bitprint := u.String()
	g.add("FuzzContentURN", "enc-bitprint", bitprint)
	g.add("FuzzContentURN", "enc-tree", u.TTH.String())
	g.add("FuzzContentURN", "enc-tree-dc", "urn:tree:tiger:"+u.TTH.Base32())
	g.add("FuzzContentURN", "enc-ttroot", "urn:ttroot:"+strings.ToLower(u.TTH.Base32()))
	g.add("FuzzContentURN", "enc-sha1-hex", "urn:sha1:"+hex.EncodeToString(u.SHA1[:]))

	guid := wire.GUID{0x48, 0xc8, 0x31, 0x02}
	m := wire.Magnet{URN: u, Name: "penny lane & co.mp3", Size: 102400, HasSize: true, Keywords: []string{"penny lane"},
		Sources: []wire.MagnetSource{
			{Exact: true, Addr: netip.MustParseAddrPort("127.0.0.1:6350"), Path: "/uri-res/N2R?" + bitprint},
			{Push: true, GUID: guid, Proxies: []netip.AddrPort{netip.MustParseAddrPort("10.1.2.3:6346")}, Path: "/uri-res/N2R?" + bitprint},
			{Host: "example.org", Port: 8080, Path: "/get/2/penny%20lane.mp3"},
		}}
	g.add("FuzzMagnet", "enc", m.String())
	g.add("FuzzMagnet", "gtkg-order", "magnet:?dn=penny%20lane.mp3&xl=102400&xt="+bitprint+"&xs=http://127.0.0.1:6350/uri-res/N2R%3F"+bitprint)
	g.add("FuzzMagnet", "numbered", "magnet:?xt.1="+u.TTH.String()+"&xt.2=urn:ed2k:0123456789abcdef0123456789abcdef&dn.1=x&&")
	g.add("FuzzMagnet", "keywords", "magnet:?kt=penny+lane&kt=%20beatles")

	for _, size := range []int{0, 1, 1024, 1025, 256 << 10, 512<<10 + 3} {
		b := thex.NewBuilder()
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 7)
		}
		b.Write(data)
		tr := b.Tree()
		body := tr.AppendDIME(nil)
		g.add("FuzzTHEX", fmt.Sprintf("enc-%d", size), body, uint64(size), tr.Root().Base32())
		g.add("FuzzDIME", fmt.Sprintf("enc-%d", size), body)
		g.add("FuzzThexURI", fmt.Sprintf("enc-%d", size), thex.FormatThexURI(u.SHA1, tr.Root()))
	}
}
