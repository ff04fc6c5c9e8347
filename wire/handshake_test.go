package wire_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

func readBlock(t *testing.T, raw string) (*wire.Handshake, error) {
	t.Helper()
	return wire.ReadHandshake(bufio.NewReader(strings.NewReader(raw)), wire.HandshakeLimits{})
}

type hsWant struct {
	start   string
	headers []wire.HandshakeHeader
}

func hdrs(kv ...string) []wire.HandshakeHeader {
	var hs []wire.HandshakeHeader
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, wire.HandshakeHeader{Name: kv[i], Value: kv[i+1]})
	}
	return hs
}

// gtk-gnutella's answer to a leaf (README section 1), headers in order.
var gtkgLeafAnswer = hsWant{"GNUTELLA/0.6 200 OK", hdrs(
	"User-Agent", "gtk-gnutella/1.2.3-dirty (2024-03-03; Topless; Linux x86_64)",
	"Pong-Caching", "0.1",
	"Bye-Packet", "0.1",
	"GGEP", "0.5",
	"GUID", "48c831020b29cc9f54ca85f81b70fef8",
	"Vendor-Message", "0.2",
	"Remote-IP", "127.0.0.1",
	"X-Ultrapeer", "True",
	"X-Requeries", "False",
	"Accept-Encoding", "deflate",
	"Content-Encoding", "deflate",
	"X-Ultrapeer-Needed", "True",
	"X-Query-Routing", "0.2",
	"X-Ultrapeer-Query-Routing", "0.1",
	"X-Degree", "46",
	"X-Max-TTL", "4",
	"X-Dynamic-Querying", "0.1",
	"X-Ext-Probes", "0.1",
	"X-Live-Since", "Sun, 22 Nov 2026 03:48:24 +0000",
	"X-Features", "tls/1.0, browse/1.0, sflag/0.1, HSEP/0.2",
)}

// gtk-gnutella's outbound CONNECT (README section 4).
var gtkgConnect = hsWant{"GNUTELLA CONNECT/0.6", hdrs(
	"Node", "127.0.0.1:6350",
	"Remote-IP", "127.0.0.1",
	"User-Agent", "gtk-gnutella/1.2.3-dirty (2024-03-03; Topless; Linux x86_64)",
	"Pong-Caching", "0.1",
	"Bye-Packet", "0.1",
	"GGEP", "0.5",
	"GUID", "48c831020b29cc9f54ca85f81b70fef8",
	"Vendor-Message", "0.2",
	"X-Query-Routing", "0.2",
	"X-Requeries", "False",
	"Upgrade", "TLS/1.0",
	"Accept-Encoding", "deflate",
	"X-Token", "awJmcJSmBPWxovB6YzcV5LqA0d0kRy9CRMRt; XrPBBT4v",
	"X-Live-Since", "Sun, 22 Nov 2026 03:49:58 +0000",
	"X-Ultrapeer", "True",
	"X-Ultrapeer-Query-Routing", "0.1",
	"X-Degree", "46",
	"X-Max-TTL", "4",
	"X-Dynamic-Querying", "0.1",
	"X-Ext-Probes", "0.1",
	"X-Features", "tls/1.0, browse/1.0, sflag/0.1, HSEP/0.2",
)}

var probeLeafConnect = hsWant{"GNUTELLA CONNECT/0.6", hdrs(
	"User-Agent", "GoFixtureProbe/0.1",
	"X-Ultrapeer", "False",
	"X-Query-Routing", "0.2",
	"Vendor-Message", "0.2",
	"GGEP", "0.5",
	"Bye-Packet", "0.1",
	"Pong-Caching", "0.1",
	"Accept-Encoding", "deflate",
)}

var probeUltrapeerConnect = hsWant{"GNUTELLA CONNECT/0.6", hdrs(
	"User-Agent", "GoFixtureProbe/0.1",
	"X-Ultrapeer", "True",
	"X-Query-Routing", "0.2",
	"X-Ultrapeer-Query-Routing", "0.1",
	"X-Degree", "32",
	"X-Max-TTL", "3",
	"X-Dynamic-Querying", "0.1",
	"Vendor-Message", "0.2",
	"GGEP", "0.5",
	"Pong-Caching", "0.1",
	"Bye-Packet", "0.1",
)}

// ultrapeerAnswer is the leaf answer minus Content-Encoding (README section
// 2), with that run's X-Live-Since as the capture has it.
func ultrapeerAnswer() hsWant {
	out := hsWant{start: gtkgLeafAnswer.start}
	for _, h := range gtkgLeafAnswer.headers {
		switch h.Name {
		case "Content-Encoding":
			continue
		case "X-Live-Since":
			h.Value = "Sun, 22 Nov 2026 03:49:00 +0000"
		}
		out.headers = append(out.headers, h)
	}
	return out
}

func TestHandshakeCaptures(t *testing.T) {
	bare200 := hsWant{start: "GNUTELLA/0.6 200 OK"}
	cases := []struct {
		name             string
		pcap             string
		fromPort, toPort uint16
		blocks           []hsWant
		wantLen          []int // block lengths the README gives, 0 when it gives none
	}{
		{"leaf: probe CONNECT and final 200 with deflate", "leaf-deflate.pcap", 0, 6350,
			[]hsWant{probeLeafConnect, {"GNUTELLA/0.6 200 OK", hdrs("Content-Encoding", "deflate")}}, nil},
		{"leaf: gtk-gnutella 200 with 21 headers", "leaf-deflate.pcap", 6350, 0,
			[]hsWant{gtkgLeafAnswer}, []int{572}},
		{"ultrapeer: probe CONNECT and bare final 200", "ultrapeer-plain.pcap", 0, 6350,
			[]hsWant{probeUltrapeerConnect, bare200}, nil},
		{"ultrapeer: gtk-gnutella 200 without Content-Encoding", "ultrapeer-plain.pcap", 6350, 0,
			[]hsWant{ultrapeerAnswer()}, []int{545}},
		{"outbound: gtk-gnutella CONNECT with X-Token and its final 200", "outbound.pcap", 0, 6999,
			[]hsWant{gtkgConnect, bare200}, []int{617, 0}},
		{"outbound: probe answer", "outbound.pcap", 6999, 0,
			[]hsWant{{"GNUTELLA/0.6 200 OK", hdrs(
				"User-Agent", "GoFixtureProbe/0.1",
				"X-Ultrapeer", "True",
				"X-Degree", "32",
				"X-Dynamic-Querying", "0.1",
				"X-Max-TTL", "3",
				"X-Ultrapeer-Query-Routing", "0.1",
				"X-Query-Routing", "0.2",
				"Vendor-Message", "0.2",
				"GGEP", "0.5",
				"Pong-Caching", "0.1",
				"Bye-Packet", "0.1",
			)}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fl := flowBetween(t, captureFlows(t, c.pcap), c.fromPort, c.toPort).raw
			br := bufio.NewReader(bytes.NewReader(fl.Data))
			consumed := 0
			for i, want := range c.blocks {
				h, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
				require.NoError(t, err)
				assert.Equal(t, want.start, h.StartLine)
				assert.Equal(t, want.headers, h.Headers)
				enc := h.Append(nil)
				raw := fl.Data[consumed : consumed+len(enc)]
				assert.Equal(t, string(raw), string(enc), "re-appended block differs from the wire")
				if i < len(c.wantLen) && c.wantLen[i] != 0 {
					assert.Len(t, enc, c.wantLen[i])
				}
				consumed += len(enc)
			}
			// The reader stops right after the block: the descriptor stream
			// (here starting with a header, or a zlib stream) is untouched.
			rest, err := io.ReadAll(br)
			require.NoError(t, err)
			assert.Equal(t, fl.Data[consumed:], rest)
		})
	}
}

func TestHandshakeCaptureLookups(t *testing.T) {
	fl := flowBetween(t, captureFlows(t, "outbound.pcap"), 0, 6999)
	h, err := wire.ReadHandshake(bufio.NewReader(bytes.NewReader(fl.raw.Data)), wire.HandshakeLimits{})
	require.NoError(t, err)
	v, ok := h.IsConnect()
	assert.True(t, ok)
	assert.Equal(t, "0.6", v)
	got, ok := h.Get("x-token")
	assert.True(t, ok, "lookup ignores case")
	assert.Equal(t, "awJmcJSmBPWxovB6YzcV5LqA0d0kRy9CRMRt; XrPBBT4v", got)
	got, ok = h.Get("LISTEN-IP")
	assert.False(t, ok)
	assert.Empty(t, got)
	_, _, _, err = h.ParseStatus()
	assert.ErrorIs(t, err, wire.ErrMalformed, "a CONNECT is not a status line")
}

func TestHandshake04Refused(t *testing.T) {
	flows := captureFlows(t, "handshake-04-refused.pcap")
	probe := flowBetween(t, flows, 0, 6350)
	assert.Equal(t, wire.Handshake04Connect, string(probe.raw.Data), "the probe's 22 bytes")
	h, err := wire.ReadHandshake(bufio.NewReader(bytes.NewReader(probe.raw.Data)), wire.HandshakeLimits{})
	require.NoError(t, err)
	v, ok := h.IsConnect()
	assert.True(t, ok)
	assert.Equal(t, "0.4", v)
	assert.Empty(t, h.Headers)

	// gtk-gnutella sends FIN with no payload: reading its answer gives EOF.
	var answer []byte
	for _, f := range flows {
		if f.From.Port() == 6350 {
			answer = append(answer, f.raw.Data...)
		}
	}
	require.Empty(t, answer)
	_, err = wire.ReadHandshake(bufio.NewReader(bytes.NewReader(answer)), wire.HandshakeLimits{})
	assert.ErrorIs(t, err, io.EOF)
	assert.NotErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestHandshake04OK(t *testing.T) {
	h, err := readBlock(t, wire.Handshake04OK)
	require.NoError(t, err)
	assert.True(t, h.Is04OK())
	_, ok := h.IsConnect()
	assert.False(t, ok)

	h, err = readBlock(t, "GNUTELLA/0.6 200 OK\r\n\r\n")
	require.NoError(t, err)
	assert.False(t, h.Is04OK())
	assert.Equal(t, "GNUTELLA OK\n\n", wire.Handshake04OK)
	assert.Equal(t, "GNUTELLA CONNECT/0.4\n\n", wire.Handshake04Connect)
}

func TestHandshakeReadForms(t *testing.T) {
	cases := []struct {
		name  string
		raw   string
		start string
		hdrs  []wire.HandshakeHeader
	}{
		{"LF only", "GNUTELLA CONNECT/0.6\nUser-Agent: X/1\nX-Ultrapeer: False\n\n",
			"GNUTELLA CONNECT/0.6", hdrs("User-Agent", "X/1", "X-Ultrapeer", "False")},
		{"mixed CRLF and LF", "GNUTELLA/0.6 200 OK\r\nA: 1\nB: 2\r\n\n",
			"GNUTELLA/0.6 200 OK", hdrs("A", "1", "B", "2")},
		{"continuation with space and tab folds with one space",
			"GNUTELLA/0.6 200 OK\r\nX-Features: tls/1.0,\r\n  browse/1.0,\r\n\tHSEP/0.2\r\nB: 2\r\n\r\n",
			"GNUTELLA/0.6 200 OK", hdrs("X-Features", "tls/1.0, browse/1.0, HSEP/0.2", "B", "2")},
		{"continuation of an empty value",
			"GNUTELLA/0.6 200 OK\r\nX-Try:\r\n 1.2.3.4:6346\r\n\r\n",
			"GNUTELLA/0.6 200 OK", hdrs("X-Try", "1.2.3.4:6346")},
		{"repeated names kept in order",
			"GNUTELLA/0.6 503 Full\r\nX-Try: 1.2.3.4:1\r\nUser-Agent: U\r\nx-try: 5.6.7.8:2\r\n\r\n",
			"GNUTELLA/0.6 503 Full", hdrs("X-Try", "1.2.3.4:1", "User-Agent", "U", "x-try", "5.6.7.8:2")},
		{"no space after colon, spaces around value",
			"GNUTELLA CONNECT/0.6\r\nX-Degree:32\r\nX-Max-TTL :  4  \r\nEmpty:\r\n\r\n",
			"GNUTELLA CONNECT/0.6", hdrs("X-Degree", "32", "X-Max-TTL", "4", "Empty", "")},
		{"value keeps its colons", "GNUTELLA CONNECT/0.6\r\nNode: 127.0.0.1:6350\r\n\r\n",
			"GNUTELLA CONNECT/0.6", hdrs("Node", "127.0.0.1:6350")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := readBlock(t, c.raw)
			require.NoError(t, err)
			assert.Equal(t, c.start, h.StartLine)
			assert.Equal(t, c.hdrs, h.Headers)
		})
	}

	h, err := readBlock(t, cases[4].raw)
	require.NoError(t, err)
	assert.Equal(t, []string{"1.2.3.4:1", "5.6.7.8:2"}, h.Values("X-TRY"))
	assert.Nil(t, h.Values("Absent"))
}

func TestHandshakeReadErrors(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		want []error
	}{
		{"truncated mid-line", "GNUTELLA CONNECT/0.6\r\nUser-Ag", []error{wire.ErrTruncated, io.ErrUnexpectedEOF}},
		{"truncated before the empty line", "GNUTELLA CONNECT/0.6\r\nUser-Agent: X\r\n", []error{wire.ErrTruncated, io.ErrUnexpectedEOF}},
		{"truncated after the start line", "GNUTELLA/0.6 200 OK\r\n", []error{wire.ErrTruncated, io.ErrUnexpectedEOF}},
		{"nothing at all", "", []error{io.EOF}},
		{"header without colon", "GNUTELLA CONNECT/0.6\r\nUser-Agent X\r\n\r\n", []error{wire.ErrMalformed}},
		{"empty header name", "GNUTELLA CONNECT/0.6\r\n: X\r\n\r\n", []error{wire.ErrMalformed}},
		{"space inside a name", "GNUTELLA CONNECT/0.6\r\nUser Agent: X\r\n\r\n", []error{wire.ErrMalformed}},
		{"continuation before any header", "GNUTELLA CONNECT/0.6\r\n more\r\n\r\n", []error{wire.ErrMalformed}},
		{"empty start line", "\r\nGNUTELLA CONNECT/0.6\r\n\r\n", []error{wire.ErrMalformed}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := readBlock(t, c.raw)
			assert.Nil(t, h)
			for _, w := range c.want {
				assert.ErrorIs(t, err, w)
			}
		})
	}
}

// bigBlock builds a CONNECT block of exactly size bytes with nlines lines
// (start line included), padding the last header's value.
func bigBlock(t *testing.T, nlines, size int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("GNUTELLA CONNECT/0.6\r\n")
	for i := 1; i < nlines-1; i++ {
		b.WriteString("X-A: 1\r\n")
	}
	const tail = "X-Pad: \r\n\r\n"
	pad := size - b.Len() - len(tail)
	require.GreaterOrEqual(t, pad, 0)
	b.WriteString("X-Pad: " + strings.Repeat("p", pad) + "\r\n\r\n")
	require.Equal(t, size, b.Len())
	return b.String()
}

func TestHandshakeLimits(t *testing.T) {
	t.Run("128 lines pass, 129 fail", func(t *testing.T) {
		h, err := readBlock(t, bigBlock(t, 128, 2000))
		require.NoError(t, err)
		assert.Len(t, h.Headers, 127)
		_, err = readBlock(t, bigBlock(t, 129, 2000))
		assert.ErrorIs(t, err, wire.ErrHeaderTooLarge)
	})
	t.Run("16 KiB pass, 16 KiB + 1 fail", func(t *testing.T) {
		_, err := readBlock(t, bigBlock(t, 3, 16<<10))
		require.NoError(t, err)
		_, err = readBlock(t, bigBlock(t, 3, 16<<10+1))
		assert.ErrorIs(t, err, wire.ErrHeaderTooLarge)
	})
	t.Run("configured limits", func(t *testing.T) {
		lim := wire.HandshakeLimits{MaxLines: 4, MaxBytes: 100}
		_, err := wire.ReadHandshake(bufio.NewReader(strings.NewReader(bigBlock(t, 4, 100))), lim)
		require.NoError(t, err)
		_, err = wire.ReadHandshake(bufio.NewReader(strings.NewReader(bigBlock(t, 5, 100))), lim)
		assert.ErrorIs(t, err, wire.ErrHeaderTooLarge)
		_, err = wire.ReadHandshake(bufio.NewReader(strings.NewReader(bigBlock(t, 4, 101))), lim)
		assert.ErrorIs(t, err, wire.ErrHeaderTooLarge)
	})
	t.Run("a line that never ends stops at the limit", func(t *testing.T) {
		// An endless stream of 'A' with no LF: the reader must give up after
		// the byte limit instead of reading (and holding) forever.
		src := &hsCountingReader{}
		br := bufio.NewReaderSize(src, 512)
		_, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
		assert.ErrorIs(t, err, wire.ErrHeaderTooLarge)
		assert.LessOrEqual(t, src.n, int64(16<<10+512), "read far past the limit")
	})
	t.Run("long line within the limit spans bufio buffers", func(t *testing.T) {
		raw := bigBlock(t, 3, 10000)
		h, err := wire.ReadHandshake(bufio.NewReaderSize(strings.NewReader(raw), 16), wire.HandshakeLimits{})
		require.NoError(t, err)
		v, ok := h.Get("X-Pad")
		require.True(t, ok)
		assert.Len(t, v, 10000-len("GNUTELLA CONNECT/0.6\r\nX-A: 1\r\nX-Pad: \r\n\r\n"))
	})
}

// hsCountingReader yields 'A' forever and counts what it gave.
type hsCountingReader struct{ n int64 }

func (r *hsCountingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'A'
	}
	r.n += int64(len(p))
	return len(p), nil
}

func TestHandshakeWrite(t *testing.T) {
	h := &wire.Handshake{StartLine: wire.ConnectLine06}
	h.Add("User-Agent", "Govent/0.1")
	h.Add("X-Ultrapeer", "False")
	h.Add("x-query-routing", "0.2")
	assert.Equal(t, "GNUTELLA CONNECT/0.6\r\nUser-Agent: Govent/0.1\r\nX-Ultrapeer: False\r\nx-query-routing: 0.2\r\n\r\n",
		string(h.Append(nil)))

	h.Set("X-ULTRAPEER", "True")
	h.Add("X-Try", "a")
	h.Add("X-Try", "b")
	h.Set("x-try", "c")
	h.Set("GGEP", "0.5")
	assert.Equal(t, hdrs("User-Agent", "Govent/0.1", "X-ULTRAPEER", "True", "x-query-routing", "0.2",
		"x-try", "c", "GGEP", "0.5"), h.Headers)

	prefix := []byte("keep")
	out := (&wire.Handshake{StartLine: wire.StatusLine06(503, "Full")}).Append(prefix)
	assert.Equal(t, "keepGNUTELLA/0.6 503 Full\r\n\r\n", string(out))
}

func TestHandshakeParseStatus(t *testing.T) {
	cases := []struct {
		name, line    string
		proto, reason string
		code          int
		bad           bool
	}{
		{name: "200", line: "GNUTELLA/0.6 200 OK", proto: "GNUTELLA/0.6", code: 200, reason: "OK"},
		{name: "503 with a long reason", line: "GNUTELLA/0.6 503 Too many leaves, sorry", proto: "GNUTELLA/0.6", code: 503, reason: "Too many leaves, sorry"},
		{name: "no reason", line: "GNUTELLA/0.6 200", proto: "GNUTELLA/0.6", code: 200},
		{name: "403 from gtk-gnutella", line: "GNUTELLA/0.6 403 High Outdegree and Dynamic Querying Required", proto: "GNUTELLA/0.6", code: 403, reason: "High Outdegree and Dynamic Querying Required"},
		{name: "0.4 OK is no 0.6 status", line: "GNUTELLA OK", bad: true},
		{name: "HTTP", line: "HTTP/1.1 200 OK", bad: true},
		{name: "garbage", line: "\x00\xff garbage", bad: true},
		{name: "two-digit code", line: "GNUTELLA/0.6 20 OK", bad: true},
		{name: "letters in code", line: "GNUTELLA/0.6 2x0 OK", bad: true},
		{name: "code 099", line: "GNUTELLA/0.6 099 OK", bad: true},
		{name: "empty version", line: "GNUTELLA/ 200 OK", bad: true},
		{name: "empty", line: "", bad: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &wire.Handshake{StartLine: c.line}
			proto, code, reason, err := h.ParseStatus()
			if c.bad {
				assert.ErrorIs(t, err, wire.ErrMalformed)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.proto, proto)
			assert.Equal(t, c.code, code)
			assert.Equal(t, c.reason, reason)
		})
	}
}

func TestHandshake503WithTryUltrapeers(t *testing.T) {
	raw := "GNUTELLA/0.6 503 Full\r\n" +
		"User-Agent: LimeWire/4.12\r\n" +
		"X-Try-Ultrapeers: 10.0.0.1:6346, 10.0.0.2:6348 2003-03-25T23:59Z,bogus,10.0.0.3:0,[2001:db8::1]:6346,10.0.0.4:1\r\n\r\n"
	h, err := readBlock(t, raw)
	require.NoError(t, err)
	_, code, reason, err := h.ParseStatus()
	require.NoError(t, err)
	assert.Equal(t, 503, code)
	assert.Equal(t, "Full", reason)
	v, ok := h.Get("x-try-ultrapeers")
	require.True(t, ok)
	got := wire.ParseAddrList(v, 10)
	assert.Equal(t, []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.1:6346"),
		netip.MustParseAddrPort("10.0.0.2:6348"),
		netip.MustParseAddrPort("[2001:db8::1]:6346"),
		netip.MustParseAddrPort("10.0.0.4:1"),
	}, got)
	assert.Len(t, wire.ParseAddrList(v, 2), 2, "capped")
	assert.Empty(t, wire.ParseAddrList(v, 0))
	assert.Empty(t, wire.ParseAddrList("", 10))
	assert.Equal(t, "10.0.0.1:6346,10.0.0.2:6348,[2001:db8::1]:6346,10.0.0.4:1", wire.FormatAddrList(got))
	assert.Equal(t, "GNUTELLA/0.6 503 Full", wire.StatusLine06(503, "Full"))
}

func TestParseAddrListHostileLength(t *testing.T) {
	long := strings.Repeat("1.2.3.4:5,", 100000)
	got := wire.ParseAddrList(long, 50)
	assert.Len(t, got, 50)
}

func TestHandshakeHasToken(t *testing.T) {
	h := &wire.Handshake{}
	h.Add("Accept-Encoding", "gzip,  Deflate ")
	h.Add("X-Features", "tls/1.0")
	h.Add("X-Features", "browse/1.0, deflate-ish")
	assert.True(t, h.HasToken("accept-encoding", "deflate"), "names and tokens are case-insensitive, spaces trimmed")
	assert.True(t, h.HasToken("X-Features", "browse/1.0"), "every occurrence of the header counts")
	assert.False(t, h.HasToken("X-Features", "deflate"), "a token matches whole, not as a prefix")
	assert.False(t, h.HasToken("Content-Encoding", "deflate"), "an absent header has no tokens")
}

// TestHandshakeNotServent: an answer from something that is not a
// Gnutella servent says what it is, whether its head parses as a block
// (then ParseStatus refuses the status line) or not (an HTTP server that
// sends its body after a bare status line).
func TestHandshakeNotServent(t *testing.T) {
	h, err := readBlock(t, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\n404 page not found\n")
	require.NoError(t, err)
	_, _, _, err = h.ParseStatus()
	assert.ErrorIs(t, err, wire.ErrNotServent)
	assert.ErrorIs(t, err, wire.ErrMalformed)
	assert.EqualError(t, err, `"HTTP/1.1 404 Not Found": an HTTP server, not a Gnutella servent`)

	_, err = readBlock(t, "HTTP/1.0 400 Bad request\r\n<html lang=\"en\">\r\n\r\n")
	assert.ErrorIs(t, err, wire.ErrNotServent)
	assert.EqualError(t, err, `"HTTP/1.0 400 Bad request": an HTTP server, not a Gnutella servent`)

	// Python's http.server answers a request line it cannot read
	// with a bare HTML page.
	_, err = readBlock(t, "<!DOCTYPE HTML>\n<html lang=\"en\">\n")
	assert.EqualError(t, err, `"<!DOCTYPE HTML>": not a Gnutella servent`)

	h = &wire.Handshake{StartLine: "SSH-2.0-OpenSSH_9.6"}
	_, _, _, err = h.ParseStatus()
	assert.EqualError(t, err, `"SSH-2.0-OpenSSH_9.6": not a Gnutella servent`)

	// A block that is Gnutella's but broken keeps its own error.
	_, err = readBlock(t, "GNUTELLA/0.6 200 OK\r\n<html>\r\n\r\n")
	assert.ErrorIs(t, err, wire.ErrMalformed)
	assert.NotErrorIs(t, err, wire.ErrNotServent)
	h = &wire.Handshake{StartLine: "GNUTELLA CONNECT/0.6"}
	_, _, _, err = h.ParseStatus()
	assert.NotErrorIs(t, err, wire.ErrNotServent)
}

// A refusal says who refused and how, once each, and callers get the code
// and reason from the fields, through any wrapping.
func TestRefusedError(t *testing.T) {
	var err error = fmt.Errorf("connect: %w", &wire.RefusedError{Addr: "127.0.0.1:6346", Code: 503, Reason: "Full"})
	assert.EqualError(t, err, "connect: handshake with 127.0.0.1:6346 refused: 503 Full")
	assert.ErrorIs(t, err, wire.ErrRefused)
	re, ok := errors.AsType[*wire.RefusedError](err)
	require.True(t, ok)
	assert.Equal(t, 503, re.Code)
	assert.Equal(t, "Full", re.Reason)
	assert.Equal(t, "503 Full", re.Status())

	assert.EqualError(t, &wire.RefusedError{Code: 403}, "handshake refused: 403")
	assert.EqualError(t, &wire.RefusedError{Addr: "10.0.0.1:1", Reason: "GNUTELLA NO"}, `handshake with 10.0.0.1:1 refused: "GNUTELLA NO"`)
	assert.NotErrorIs(t, errors.New("handshake refused"), wire.ErrRefused)
}
