package peer

import (
	"bufio"
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/govent/govent/wire"
)

// finalOK is a valid third handshake block.
var finalOK = []byte(wire.StatusLine06(200, "OK") + "\r\n\r\n")

// ourConnect is the CONNECT block we build with our own encoder, as an
// ultrapeer or a leaf, offering to read deflate or not.
func ourConnect(ultrapeer, acceptDeflate bool) *wire.Handshake {
	h := &wire.Handshake{StartLine: wire.ConnectLine06}
	h.Add("User-Agent", "govent-fuzz-peer")
	if ultrapeer {
		h.Add("X-Ultrapeer", "True")
		h.Add("X-Ultrapeer-Query-Routing", "0.1")
		h.Add("X-Degree", "32")
		h.Add("X-Dynamic-Querying", "0.1")
		h.Add("X-Max-TTL", "4")
	} else {
		h.Add("X-Ultrapeer", "False")
	}
	h.Add("X-Query-Routing", "0.2")
	h.Add("Pong-Caching", "0.1")
	h.Add("Bye-Packet", "0.1")
	h.Add("GGEP", "0.5")
	h.Add("Vendor-Message", "0.2")
	if acceptDeflate {
		h.Add("Accept-Encoding", "deflate")
	}
	return h
}

// parseBlock reads a captured block back into a Handshake.
func parseBlock(raw []byte) (*wire.Handshake, bool) {
	h, err := wire.ReadHandshake(bufio.NewReader(bytes.NewReader(raw)), wire.HandshakeLimits{})
	return h, err == nil
}

// validConnect is a CONNECT for the areas that need a working link: ours
// mostly (as a leaf or an ultrapeer, without asking for compression, which
// costs the target a compressor per link), sometimes a captured 0.6 one.
func (b *builder) validConnect(leaf bool) []byte {
	if b.chance(0.2) {
		var caps []*wire.Handshake
		for _, raw := range b.seeds.Connect {
			if h, ok := parseBlock(raw); ok && h.StartLine == wire.ConnectLine06 {
				caps = append(caps, h)
			}
		}
		if len(caps) > 0 {
			return pick(b, caps).Append(nil)
		}
	}
	return ourConnect(!leaf, false).Append(nil)
}

// headerLines is a block as "Name: Value" lines, to be mutated as text.
func headerLines(h *wire.Handshake) []string {
	lines := make([]string, len(h.Headers))
	for i, hd := range h.Headers {
		lines[i] = hd.Name + ": " + hd.Value
	}
	return lines
}

func renderBlock(start string, lines []string, eol string) []byte {
	var b bytes.Buffer
	b.WriteString(start)
	b.WriteString(eol)
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString(eol)
	}
	b.WriteString(eol)
	return b.Bytes()
}

// badValues are header values that parsers of the named header trust.
var badValues = map[string][]string{
	"X-Ultrapeer":        {"maybe", "", "TRUE, FALSE", "1"},
	"X-Degree":           {"-1", "99999999999999999999", "0x20", ""},
	"X-Max-TTL":          {"255", "-4", "4.5"},
	"Listen-IP":          {"999.1.1.1:6346", "127.0.0.1:0", "127.0.0.1:99999", "[::1]:6346", ":", "garbage"},
	"Remote-IP":          {"256.256.256.256", "", "::ffff:127.0.0.1"},
	"GUID":               {"zz", "0123456789abcdef0123456789abcdef00", "00000000000000000000000000000000"},
	"X-Try-Ultrapeers":   {"", ",,,,", "1.2.3.4", "127.0.0.1:1 2026-01-01T00:00Z, [::1]:2"},
	"Accept-Encoding":    {"deflate;q=0, gzip, deflate, deflate", "DEFLATE", "x-unknown"},
	"Content-Encoding":   {"deflate"},
	"X-Query-Routing":    {"9.9", "0.1", ""},
	"X-Ultrapeer-Needed": {"perhaps", ""},
	"Pong-Caching":       {"x", "0.0.0.1"},
	"User-Agent":         {""},
}

// handshakeCase mutates the handshake itself: the CONNECT block (lines,
// their length, count, folding, encoding, values) or the final block.
func (b *builder) handshakeCase() {
	base := ourConnect(b.chance(0.5), b.chance(0.2))
	if b.chance(0.4) && len(b.seeds.Connect) > 0 {
		if h, ok := parseBlock(pick(b, b.seeds.Connect)); ok {
			base = h
		}
	}
	start, lines, eol := base.StartLine, headerLines(base), "\r\n"
	if len(lines) == 0 {
		lines = []string{"User-Agent: govent-fuzz-peer"}
	}
	final := finalOK
	var connect []byte
	ins := func(l string) { // a line somewhere among the headers
		i := b.intn(len(lines) + 1)
		lines = append(lines[:i], append([]string{l}, lines[i:]...)...)
	}
	switch b.intn(11) {
	case 0:
		switch b.intn(5) {
		case 0:
			b.mutated("handshake.start_line", "0.4")
			b.c.Proto = ProtoGnutella
			b.c.Steps = []Step{{Send: []byte(wire.Handshake04Connect)}, {Await: AwaitBlock}, {Send: b.probePing()}}
			return
		case 1:
			start = pick(b, []string{"GNUTELLA CONNECT/0.7", "GNUTELLA CONNECT/9.99", "GNUTELLA CONNECT/", "GNUTELLA CONNECT/0.", "GNUTELLA CONNECT/-1"})
			b.mutated("handshake.start_line", "version", start)
		case 2:
			start = strings.ToLower(start)
			b.mutated("handshake.start_line", "lower")
		case 3:
			start += strings.Repeat(" x", b.between(1, 3000))
			b.mutated("handshake.start_line", "long", len(start))
		default:
			start = pick(b, []string{"GNUTELLA  CONNECT/0.6", "GNUTELLA CONNECT/0.6 \t", "GNUTELLA/0.6 200 OK", "GNUTELLACONNECT/0.6"})
			b.mutated("handshake.start_line", "garbled", start)
		}
	case 1:
		n := pick(b, []int{b.between(4097, 8192), b.between(16385, 20000), b.between(64<<10, 70000)})
		ins("X-Long: " + strings.Repeat("a", n))
		b.mutated("handshake.line_length", "long", n, " bytes")
	case 2:
		n := pick(b, []int{b.between(129, 300), b.between(1000, 3000)})
		for i := range n {
			lines = append(lines, "X-Filler-"+strconv.Itoa(i)+": x")
		}
		b.mutated("handshake.line_count", "many", n, " lines")
	case 3:
		switch b.intn(3) {
		case 0:
			i := b.intn(len(lines))
			lines = append(lines[:i+1], append([]string{" continued", "\tand more"}, lines[i+1:]...)...)
			b.mutated("handshake.folding", "continuation")
		case 1:
			lines = append([]string{" continuation before any header"}, lines...)
			b.mutated("handshake.folding", "first")
		default:
			n := b.between(100, 2000)
			chain := make([]string, n)
			for i := range chain {
				chain[i] = " v" + strconv.Itoa(i)
			}
			lines = append(append(lines, "X-Folded: start"), chain...)
			b.mutated("handshake.folding", "chain", n)
		}
	case 4:
		switch b.intn(7) {
		case 0:
			eol = "\n"
			b.mutated("handshake.encoding", "bare-lf")
		case 1:
			eol = "\r"
			b.mutated("handshake.encoding", "cr-only")
		case 2:
			ins("X-Nul: a\x00b")
			b.mutated("handshake.encoding", "nul")
		case 3:
			ins("X-Latin1: caf\xe9 \xff\xfe")
			b.mutated("handshake.encoding", "invalid-utf8")
		case 4:
			ins(pick(b, []string{"NoColonHere", ": empty name", "X Spaced Name: v", "X-Ctl\x01: \x07\x1b"}))
			b.mutated("handshake.encoding", "bad-line")
		case 5:
			connect = renderBlock(start, lines, "\r\n")
			connect = bytes.Replace(connect, []byte("\r\n"), []byte("\n"), b.between(1, len(lines)))
			b.mutated("handshake.encoding", "mixed-eol")
		default:
			ins("X-Utf8: " + strings.Repeat("ü€𝄞", b.between(1, 500)))
			b.mutated("handshake.encoding", "utf8")
		}
	case 5, 6:
		names := make([]string, 0, len(badValues))
		for k := range badValues {
			names = append(names, k)
		}
		slices.Sort(names)
		name := pick(b, names)
		v := pick(b, badValues[name])
		if name == "X-Try-Ultrapeers" && b.chance(0.5) {
			var hosts []string
			for i := range b.between(100, 3000) {
				hosts = append(hosts, "127.0."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250+1)+":6346")
			}
			v = strings.Join(hosts, ",")
		}
		lines = setLine(lines, name, v)
		b.mutated("handshake.header_value", name, clipText(v))
	case 7:
		l := pick(b, []string{"X-Ultrapeer: True", "X-Ultrapeer: False", "Accept-Encoding: deflate", "GUID: " + strings.Repeat("ab", 16)})
		for range b.between(2, 50) {
			ins(l)
		}
		b.mutated("handshake.duplicate", "repeat", l)
	case 8:
		ops := []string{"refuse", "garbage", "missing", "bad-status", "deflate-lie", "long"}
		op := b.intn(len(ops))
		switch op {
		case 0:
			final = []byte("GNUTELLA/0.6 503 Busy\r\n\r\n")
		case 1:
			final = b.bytes(b.between(1, 200))
		case 2:
			final = nil
		case 3:
			final = []byte(pick(b, []string{"GNUTELLA/0.6 2000 OK\r\n\r\n", "GNUTELLA OK\n\n", "HTTP/1.1 200 OK\r\n\r\n", "GNUTELLA/0.6 200\r\n\r\n"}))
		case 4:
			final = []byte("GNUTELLA/0.6 200 OK\r\nContent-Encoding: deflate\r\n\r\n")
		default:
			var fl []string
			for i := range b.between(129, 2000) {
				fl = append(fl, "X-F"+strconv.Itoa(i)+": y")
			}
			final = renderBlock(wire.StatusLine06(200, "OK"), fl, "\r\n")
		}
		b.mutated("handshake.final", ops[op])
	case 9:
		connect = renderBlock(start, lines, eol)
		cut := b.between(1, len(connect)-2)
		b.mutated("handshake.truncate", "cut", cut, " of ", len(connect))
		connect = connect[:cut]
	default:
		connect = renderBlock(start, lines, eol)
		connect = append(connect[:len(connect)-2], pick(b, []string{"\n\r\n", " \r\n", "\r\r\n\r\n"})...)
		b.mutated("handshake.terminator", "odd")
	}
	if connect == nil {
		connect = renderBlock(start, lines, eol)
	}
	b.gnutella(connect, final, nil)
}

// setLine replaces the header name's line, or adds one.
func setLine(lines []string, name, value string) []string {
	for i, l := range lines {
		if n, _, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(n), name) {
			lines[i] = name + ": " + value
			return lines
		}
	}
	return append(lines, name+": "+value)
}
