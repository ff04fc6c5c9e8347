package peer

import (
	"bytes"
	"net/url"
	"strconv"
	"strings"

	"github.com/govent/govent/wire"
)

// capturedFiles are the files of the gtk-gnutella captures: requests for
// them are what a real downloader sends, and a target that shares files of
// those names (the tests' servents do) gets past its lookup to the Range.
var capturedFiles = []sharedFile{
	{Index: 1, Name: "strawberry fields.ogg"},
	{Index: 2, Name: "penny lane.mp3"},
	{Index: 3, Name: "readme test.txt"},
}

// httpRequest is a request head being built.
type httpRequest struct {
	method, target, proto string
	headers               []string
	eol                   string
}

func (r *httpRequest) bytes() []byte {
	var b bytes.Buffer
	b.WriteString(r.method + " " + r.target + " " + r.proto + r.eol)
	for _, h := range r.headers {
		b.WriteString(h + r.eol)
	}
	b.WriteString(r.eol)
	return b.Bytes()
}

// baseRequest is a valid request for a file the target shares (found by
// discovery) or one of the captured files.
func (b *builder) baseRequest() *httpRequest {
	files := b.files
	if len(files) == 0 || b.chance(0.2) {
		files = capturedFiles
	}
	f := pick(b, files)
	target := "/get/" + strconv.FormatUint(uint64(f.Index), 10) + "/" + url.PathEscape(f.Name)
	if f.HasSHA1 && b.chance(0.4) {
		target = "/uri-res/N2R?" + f.SHA1.String()
	}
	r := &httpRequest{method: pick(b, []string{"GET", "GET", "HEAD"}), target: target, proto: pick(b, []string{"HTTP/1.1", "HTTP/1.0"}), eol: "\r\n"}
	r.headers = []string{"Host: 127.0.0.1", "User-Agent: govent-fuzz-peer"}
	if b.chance(0.6) {
		r.headers = append(r.headers, "Range: bytes="+pick(b, []string{"0-99", "100-", "-10", "0-0"}))
	}
	return r
}

// httpCase sends an upload request with its request line, Range or headers
// mutated; sometimes a captured request, or several pipelined.
func (b *builder) httpCase() {
	b.c.Proto = ProtoHTTP
	r := b.baseRequest()
	var prefix []byte
	switch b.intn(9) {
	case 0:
		r.method = pick(b, []string{"POST", "get", "OPTIONS", "CONNECT", "", strings.Repeat("G", b.between(100, 9000)), "GET\x00"})
		b.mutated("http.method", "set", clipText(r.method))
	case 1, 2:
		op := pick(b, []string{"long", "percent", "index-overflow", "index-negative", "no-slash", "dotdot", "nul", "urn-bad", "urn-other", "empty-name", "query"})
		switch op {
		case "long":
			r.target = "/get/1/" + strings.Repeat("x", pick(b, []int{b.between(1000, 8000), b.between(9000, 70000)}))
		case "percent":
			r.target = "/get/2/" + pick(b, []string{"%zz", "%", "%0", "%00", "penny%20lane.mp3%"})
		case "index-overflow":
			r.target = "/get/" + pick(b, []string{"4294967296", "99999999999999999999", "18446744073709551616"}) + "/x"
		case "index-negative":
			r.target = "/get/-1/x"
		case "no-slash":
			r.target = "get/1/x"
		case "dotdot":
			r.target = "/get/1/../../../../etc/passwd"
		case "nul":
			r.target = "/get/2/penny\x00lane.mp3"
		case "urn-bad":
			r.target = "/uri-res/N2R?urn:sha1:" + pick(b, []string{"!!!!", strings.Repeat("A", 31), strings.Repeat("A", 33), strings.Repeat("1", 32)})
		case "urn-other":
			r.target = "/uri-res/" + pick(b, []string{"N2X?urn:sha1:" + strings.Repeat("A", 32), "N2R?urn:bitprint:" + strings.Repeat("A", 72), "N2R?", "N2R"})
		case "empty-name":
			r.target = "/get/1/"
		default:
			r.target += "?" + strings.Repeat("a=b&", b.between(1, 500))
		}
		b.mutated("http.uri", op)
	case 3:
		r.proto = pick(b, []string{"HTTP/9.9", "", "http/1.1", "HTTP/1.1 extra", "HTTP/0.9", "HTTP/1", "HTTP/1.10"})
		b.mutated("http.version", "set", clipText(r.proto))
	case 4, 5:
		vals := []string{"bytes=10-5", "bytes=99999999-", "bytes=0-18446744073709551616", "bytes=-5--3", "bytes=-0",
			"bytes=abc", "0-100", "items=0-1", "", "bytes = 0 - 1", "bytes=0-1,", "bytes=,", "bytes=1-2-3",
			"bytes=9223372036854775807-", "bytes=-9223372036854775808"}
		v := pick(b, vals)
		op := "value"
		switch b.intn(4) {
		case 0:
			var parts []string
			for i := range b.between(2, 1000) {
				parts = append(parts, strconv.Itoa(i)+"-"+strconv.Itoa(i))
			}
			v, op = "bytes="+strings.Join(parts, ","), "multi"
		case 1:
			r.headers = append(r.headers, "Range: bytes=0-1")
			op = "several"
		}
		r.headers = setHeader(r.headers, "Range", v)
		b.mutated("http.range", op, clipText(v))
	case 6, 7:
		op := pick(b, []string{"long-line", "many", "folding", "no-colon", "nul", "bare-lf", "content-length", "chunked"})
		switch op {
		case "long-line":
			r.headers = append(r.headers, "X-Long: "+strings.Repeat("v", pick(b, []int{b.between(4097, 9000), b.between(16385, 70000)})))
		case "many":
			for i := range b.between(100, 3000) {
				r.headers = append(r.headers, "X-H"+strconv.Itoa(i)+": v")
			}
		case "folding":
			r.headers = append(r.headers, " continued", "\tmore")
		case "no-colon":
			r.headers = append(r.headers, "NoColon")
		case "nul":
			r.headers = append(r.headers, "X-Nul: a\x00b")
		case "bare-lf":
			r.eol = "\n"
		case "content-length":
			r.headers = append(r.headers, "Content-Length: "+pick(b, []string{"5", "-1", "99999999999999999999"}))
		default:
			r.headers = append(r.headers, "Transfer-Encoding: chunked")
		}
		b.mutated("http.header", op)
	default:
		// Several requests on one connection; the last one mutated.
		n := b.between(2, 50)
		for range n - 1 {
			ok := b.baseRequest()
			ok.method = "HEAD"
			prefix = append(prefix, ok.bytes()...)
		}
		if len(b.seeds.HTTP) > 0 && b.chance(0.5) {
			prefix = append(prefix, pick(b, b.seeds.HTTP)...)
		}
		r.headers = append(r.headers, "Range: bytes=5-1")
		b.mutated("http.pipeline", "many", n)
	}
	b.c.Steps = []Step{{Send: append(prefix, r.bytes()...)}}
}

func setHeader(headers []string, name, value string) []string {
	for i, h := range headers {
		if n, _, ok := strings.Cut(h, ":"); ok && strings.EqualFold(n, name) {
			headers[i] = name + ": " + value
			return headers
		}
	}
	return append(headers, name+": "+value)
}

// givCase sends a GIV line (the push answer) with its index, GUID, name or
// terminator mutated.
func (b *builder) givCase() {
	b.c.Proto = ProtoGIV
	g := b.guid()
	index, guid, name, term := "2", g.String(), "penny lane.mp3", "\n\n"
	if len(b.seeds.GIV) > 0 && b.chance(0.3) {
		line := strings.TrimRight(string(pick(b, b.seeds.GIV)), "\n")
		if i, rest, ok := strings.Cut(strings.TrimPrefix(line, "GIV "), ":"); ok {
			if gd, n, ok := strings.Cut(rest, "/"); ok {
				index, guid, name = i, gd, n
			}
		}
	}
	prefix := "GIV "
	var after []byte
	switch b.intn(6) {
	case 0:
		index = pick(b, []string{"4294967296", "99999999999999999999", "-1", "", "abc", "0x10"})
		b.mutated("giv.index", "set", index)
	case 1:
		guid = pick(b, []string{guid[:10], guid + "00", strings.Repeat("z", 32), ""})
		b.mutated("giv.guid", "set", clipText(guid))
	case 2:
		name = pick(b, []string{strings.Repeat("n", pick(b, []int{b.between(1000, 1100), b.between(4000, 70000)})), "a\x00b", "a/b/c", "", "\xff\xfe"})
		b.mutated("giv.name", "set", len(name), " bytes")
	case 3:
		term = pick(b, []string{"\n", "\r\n\r\n", "", "\r", strings.Repeat("\n", 100)})
		b.mutated("giv.terminator", "set", clipText(term))
	case 4:
		prefix = pick(b, []string{"giv ", "GIV", "GIVE ", "GIV  "})
		b.mutated("giv.prefix", "set", clipText(prefix))
	default:
		after = pick(b, [][]byte{[]byte("HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n"), b.bytes(b.between(1, 1000))})
		b.mutated("giv.trailing", "bytes", len(after))
	}
	line := prefix + index + ":" + guid + "/" + name + term
	b.c.Steps = []Step{{Send: append([]byte(line), after...)}}
}

// sharedFile is a file the target shares, found by discovery.
type sharedFile struct {
	Index   uint32
	Name    string
	SHA1    wire.SHA1
	HasSHA1 bool
}
