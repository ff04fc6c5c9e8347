package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent"
)

// runCLI runs govent in-process, in an empty environment (the developer's
// GOVENT_* variables must not change a test), and returns its exit code
// and output. A command still running after two minutes is cancelled.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return runCLIEnv(t, nil, stdin, args...)
}

// runCLIEnv is runCLI with environment variables.
func runCLIEnv(t *testing.T, environ map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	return runCLIContext(ctx, environ, stdin, args...)
}

// runCLIContext is runCLIEnv bounded by ctx rather than two minutes, for
// commands that run longer on purpose (make fuzz-peer).
func runCLIContext(ctx context.Context, environ map[string]string, stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(ctx, append([]string{"govent"}, args...), env{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		lookupEnv: func(k string) (string, bool) { v, ok := environ[k]; return v, ok },
		serve:     runServent,
	})
	return code, out.String(), errOut.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "", "version")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "govent ")
}

func TestUnknownCommandFails(t *testing.T) {
	code, _, _ := runCLI(t, "", "no-such-command")
	assert.NotEqual(t, 0, code)
}

// Bytes from the captures: gtk-gnutella's 41-byte Pong (leaf-deflate.pcap
// f14) followed by a Bye 200 "Closing, test done" (f28).
const (
	pongHex = "3e15e4d8ff83a34effa0de67115fe600" + "01" + "01" + "00" + "29000000" +
		"ce18" + "7f000001" + "03000000" + "80000000" +
		// GGEP: VC="GTKG"+0x83, UP=02 ff 32, DU=3c, TLS (empty, last).
		"c3" + "02564345" + "47544b4783" + "02555043" + "02ff32" + "02445541" + "3c" + "83544c5340"
	byeHex = "00000000000000000000000000000000" + "02" + "01" + "00" + "15000000" +
		"c800" + "436c6f73696e672c207465737420646f6e6500"
)

func TestWireDecode(t *testing.T) {
	pong, err := hex.DecodeString(pongHex)
	require.NoError(t, err)
	bye, err := hex.DecodeString(byeHex)
	require.NoError(t, err)
	stream := string(pong) + string(bye)

	code, out, errOut := runCLI(t, stream, "wire", "decode", "-")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[0], "PONG")
	assert.Contains(t, lines[0], "127.0.0.1:6350")
	assert.NotContains(t, lines[0], "error=")
	assert.Contains(t, lines[1], "BYE")
	assert.Contains(t, lines[1], "200")
	assert.Contains(t, lines[1], "Closing, test done")

	code, out, _ = runCLI(t, stream, "wire", "decode", "--json", "-")
	require.Equal(t, 0, code)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	var first map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	assert.Equal(t, "PONG", first["type"])
	assert.EqualValues(t, 0, first["offset"])
}

func TestWireDecodeFile(t *testing.T) {
	pong, err := hex.DecodeString(pongHex)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "stream.bin")
	require.NoError(t, os.WriteFile(path, pong, 0o644))
	code, out, _ := runCLI(t, "", "wire", "decode", path)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "PONG")

	missing := filepath.Join(t.TempDir(), "missing")
	code, _, errOut := runCLI(t, "", "wire", "decode", missing)
	assert.Equal(t, 1, code)
	assert.Equal(t, "govent: open "+missing+": no such file or directory\n", errOut, "each context once")
}

func TestWireDecodeBrokenFrame(t *testing.T) {
	pong, err := hex.DecodeString(pongHex)
	require.NoError(t, err)
	// A complete Pong, then a header claiming 1 GiB: the Pong is printed,
	// then decoding stops with an error and exit status 1.
	huge := append([]byte{}, pong[:23]...)
	huge[19], huge[20], huge[21], huge[22] = 0, 0, 0, 0x40
	code, out, errOut := runCLI(t, string(pong)+string(huge), "wire", "decode", "-")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "PONG")
	assert.Contains(t, errOut, "over limit")
	assert.NotContains(t, errOut, "wire:", "no package name")
	assert.Equal(t, 1, strings.Count(errOut, "broken descriptor frame"), errOut)
	assert.Equal(t, 1, strings.Count(errOut, "offset"), errOut)

	// A stream cut inside a header: said once, with its offset.
	code, _, errOut = runCLI(t, "GNUT", "wire", "decode", "-")
	assert.Equal(t, 1, code)
	assert.Equal(t, "govent: descriptor 0: broken descriptor frame: truncated input: stream ends 4 bytes into a header at offset 0\n", errOut)

	// A malformed payload is reported on its line and decoding goes on.
	bad := append([]byte{}, pong[:23]...)
	bad[19] = 3 // a 3-byte Pong
	code, out, _ = runCLI(t, string(bad)+"abc"+string(pong), "wire", "decode", "-")
	assert.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[0], "error=")
	assert.NotContains(t, lines[1], "error=")
}

// The descriptor samples in the tree (testdata/golden/*.hex) are hex text
// with # comments; wire decode reads them as the bytes they spell, from a
// file or standard input. It used to take the text for a raw stream and
// fail on a 1.8 GB "payload length".
func TestWireDecodeHexText(t *testing.T) {
	golden := filepath.Join("..", "..", "testdata", "golden")
	code, out, errOut := runCLI(t, "", "wire", "decode", filepath.Join(golden, "query.hex"))
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "QUERY 0123456789abcdefff11223344556605 ttl=3 hops=0 len=78 flags=0x8c20 text=\"beatles\" "+
		"urns=urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O ggep=H\n", out)

	// Every sample, one after the other on standard input: one descriptor
	// each, none malformed.
	names, err := filepath.Glob(filepath.Join(golden, "*.hex"))
	require.NoError(t, err)
	require.NotEmpty(t, names)
	var all strings.Builder
	for _, name := range names {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		all.Write(b)
	}
	code, out, errOut = runCLI(t, all.String(), "wire", "decode", "--json", "-")
	require.Equal(t, 0, code, errOut)
	lines := jsonLines(t, out)
	require.Len(t, lines, len(names))
	for i, l := range lines {
		assert.NotContains(t, l, "error", "%s: %v", names[i], l)
	}

	// Hex text that goes wrong says where.
	for _, tc := range []struct{ in, want string }{
		{"# a sample\n" + byeHex + "\n0z\n", "hex text line 3, column 2: \"z\" is not a hex digit"},
		{byeHex + "0\n", "hex text ends inside a byte (odd number of hex digits)"},
	} {
		code, out, errOut = runCLI(t, tc.in, "wire", "decode", "-")
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "BYE", "what came before is decoded")
		assert.Contains(t, errOut, tc.want)
	}
}

// A typo in hex text is reported at its line and column, not decoded as
// raw bytes: it used to be when it came before a header's worth of digits
// ("payload length over limit: 0x79 payload of 673211489 bytes" for one
// letter wrong in testdata/golden/ping-empty.hex).
func TestWireDecodeHexTypo(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join("..", "..", "testdata", "golden", "ping-empty.hex"))
	require.NoError(t, err)
	lines := strings.SplitAfter(string(sample), "\n")
	for _, tc := range []struct {
		line     int // 1-based, in ping-empty.hex
		old, new string
		want     string
		hexName  bool // found only in a file named *.hex
	}{
		{2, "556600", "55660g", `hex text line 2, column 32: "g" is not a hex digit`, false},
		{3, "00 ", "0g ", `hex text line 3, column 2: "g" is not a hex digit`, false},
		{4, "07 00", "07 O0", `hex text line 4, column 4: "O" is not a hex digit`, false}, // the letter
		{5, "00000000", "0000,0000", `hex text line 5, column 5: "," is not a hex digit`, false},
		{3, "# payload", "  payload", `hex text line 3, column 37: "p" is not a hex digit`, true}, // a lost '#'
	} {
		edited := slices.Clone(lines)
		require.Contains(t, edited[tc.line-1], tc.old)
		edited[tc.line-1] = strings.Replace(edited[tc.line-1], tc.old, tc.new, 1)
		text := strings.Join(edited, "")
		path := filepath.Join(t.TempDir(), "ping-empty.hex")
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
		code, out, errOut := runCLI(t, "", "wire", "decode", path)
		assert.Equal(t, 1, code, "%s", text)
		assert.Empty(t, out)
		assert.Contains(t, errOut, tc.want, "%s", text)
		assert.NotContains(t, errOut, "payload length", "%s", text)
		if tc.hexName {
			continue
		}
		code, _, errOut = runCLI(t, text, "wire", "decode", "-")
		assert.Equal(t, 1, code, "%s", text)
		assert.Contains(t, errOut, tc.want, "from standard input: %s", text)
	}
}

// A pcap or pcapng capture given to wire decode is refused with a pointer
// to capture decode. It used to be read as a raw stream: its file header
// came out as a few PINGs of nonsense, then a broken frame.
func TestWireDecodeRefusesCapture(t *testing.T) {
	pcap := filepath.Join("..", "..", "testdata", "http.pcap")
	// A pcapng section header block: its type, then the byte-order magic.
	ng := filepath.Join(t.TempDir(), "trace.pcapng")
	require.NoError(t, os.WriteFile(ng, []byte("\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a"), 0o644))
	for _, path := range []string{pcap, ng} {
		code, out, errOut := runCLI(t, "", "wire", "decode", path)
		assert.Equal(t, 1, code, path)
		assert.Empty(t, out, path)
		assert.Contains(t, errOut, path+" is a packet capture, not a raw descriptor stream: govent capture decode "+path+" decodes it")
	}
	b, err := os.ReadFile(pcap)
	require.NoError(t, err)
	code, out, errOut := runCLI(t, string(b), "wire", "decode", "-")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "standard input is a packet capture")
}

func TestWireDecodeUsage(t *testing.T) {
	code, _, errOut := runCLI(t, "", "wire", "decode")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "want one argument")
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs a dozen servents")
	}
	code, out, errOut := runCLI(t, "", "demo", "--seed", "7")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "connected (0.6 handshake)")
	assert.Contains(t, out, "searches for")
	assert.Contains(t, out, "reverse path")
	assert.Contains(t, out, "got the Push")
	assert.Regexp(t, `(?m)^\[[ 0-9.]+s\] hit: .*, firewalled \(its QueryHit's push flag is set\), \d+ hops$`, out, "the hit says what its flag means")
	assert.Contains(t, out, "verified SHA-1")
	// No wall-clock bound here: the demo bounds itself (20 s, demo.go)
	// and fails past it, and the servents' teardown after it took 0.7 s
	// more on a loaded machine.

	// Hop counts agree: the hit's count is the number of links in the
	// path it prints, and no less than the shortest path.
	hit := regexp.MustCompile(`(?m)hit: .*, (\d+) hops?$`).FindStringSubmatch(out)
	path := regexp.MustCompile(`(?m)reverse path: (.*)$`).FindStringSubmatch(out)
	shortest := regexp.MustCompile(`(?m)is firewalled, (\d+) hops from n00 by the shortest path$`).FindStringSubmatch(out)
	require.NotNil(t, hit, out)
	require.NotNil(t, path, out)
	require.NotNil(t, shortest, out)
	hops, _ := strconv.Atoi(hit[1])
	min, _ := strconv.Atoi(shortest[1])
	assert.Equal(t, strings.Count(path[1], " -> "), hops, "hit %q, path %q", hit[0], path[1])
	assert.GreaterOrEqual(t, hops, min)
}

func TestDemoRejectsNodeCount(t *testing.T) {
	code, _, errOut := runCLI(t, "", "demo", "--nodes", "3")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "want 8 to 16")
}

func TestSearchAndDownload(t *testing.T) {
	share := t.TempDir()
	body := bytes.Repeat([]byte("strawberry fields "), 4096)
	require.NoError(t, os.WriteFile(filepath.Join(share, "strawberry fields.ogg"), body, 0o644))
	s, err := servent.New(servent.Config{Listen: "127.0.0.1:0", ShareDir: share, HashBeforeStart: true, AllowPrivate: true})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	defer s.Close()

	dir := t.TempDir()
	code, out, errOut := runCLI(t, "", "search", "--peer", s.Addr().String(), "--listen", "127.0.0.1:0",
		"--timeout", "5s", "--download", "1", "--dir", dir, "strawberry")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "  1. strawberry fields.ogg")
	assert.Contains(t, out, "SHA-1 verified")
	got, err := os.ReadFile(filepath.Join(dir, "strawberry fields.ogg"))
	require.NoError(t, err)
	assert.Equal(t, body, got)

	code, out, _ = runCLI(t, "", "search", "--peer", s.Addr().String(), "--listen", "127.0.0.1:0",
		"--timeout", "300ms", "--json", "nothing matches this")
	require.Equal(t, 0, code)
	assert.Equal(t, `{"results":0,"reason":"timeout"}`+"\n", out, "no results: still a JSON line")
}

// A search whose peers are all down fails with one line naming each
// peer and its reason.
func TestSearchNoPeer(t *testing.T) {
	code, _, errOut := runCLI(t, "", "search", "--peer", "127.0.0.1:1", "--listen", "127.0.0.1:0", "xyz")
	assert.Equal(t, 1, code)
	assert.Regexp(t, `^govent: no peer could be reached: connect to 127\.0\.0\.1:1: connection refused\n$`, errOut)

	code, _, errOut = runCLI(t, "", "search", "--peer", "127.0.0.1:1", "--peer", "127.0.0.1:2", "--listen", "127.0.0.1:0", "xyz")
	assert.Equal(t, 1, code)
	assert.Regexp(t, `^govent: no peer could be reached: connect to 127\.0\.0\.1:1: connection refused; connect to 127\.0\.0\.1:2: connection refused\n$`, errOut)
}

func TestCaptureDecode(t *testing.T) {
	code, out, errOut := runCLI(t, "", "capture", "decode", "../../testdata/leaf-deflate.pcap")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.NotEmpty(t, lines)
	assert.Contains(t, lines[0], "127.0.0.1:45872 -> 127.0.0.1:6350")
	// The three handshake blocks come first, in time order, then the
	// inflated descriptors: 1 Ping, 2 Queries, QRP, Bye from the probe;
	// 2 vendor messages, 1 Pong, 2 QueryHits from gtk-gnutella.
	assert.Contains(t, lines[1], `HANDSHAKE "GNUTELLA CONNECT/0.6"`)
	assert.Contains(t, lines[2], `HANDSHAKE "GNUTELLA/0.6 200 OK" (572 bytes)`)
	assert.Contains(t, lines[3], `HANDSHAKE "GNUTELLA/0.6 200 OK"`)
	count := func(typ string) int { return strings.Count(out, " "+typ+" ") }
	assert.Equal(t, 1, count("PING"))
	assert.Equal(t, 1, count("PONG"))
	assert.Equal(t, 2, count("QUERY"))
	assert.Equal(t, 2, count("QUERYHIT"))
	assert.Equal(t, 2, count("VENDOR"))
	assert.Equal(t, 2, count("QRP"))
	assert.Equal(t, 1, count("BYE"))
	assert.NotContains(t, out, "error")
	assert.Contains(t, out, `name="penny lane.mp3"`)

	code, _, errOut = runCLI(t, "", "capture", "decode", "main_test.go")
	assert.Equal(t, 1, code)
	assert.Equal(t, "govent: main_test.go: not a pcap or pcapng file (it starts 7061636b, no capture's magic number)\n", errOut)
}

// A file of descriptor bytes given to capture decode is pointed to wire
// decode, as a capture given to wire decode is pointed here; it used to
// get "unknown magic 23205155".
func TestCaptureDecodeRefusesDescriptors(t *testing.T) {
	pong, err := hex.DecodeString(pongHex)
	require.NoError(t, err)
	raw := filepath.Join(t.TempDir(), "pong.bin")
	require.NoError(t, os.WriteFile(raw, pong, 0o644))
	empty := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	query := filepath.Join("..", "..", "testdata", "golden", "query.hex")
	for _, tc := range []struct{ path, why string }{
		{query, "it is hex text"},
		{raw, "it starts with a PONG descriptor's header"},
		{empty, "it is empty"},
	} {
		code, out, errOut := runCLI(t, "", "capture", "decode", tc.path)
		assert.Equal(t, 1, code)
		assert.Empty(t, out)
		want := fmt.Sprintf("govent: %s: not a pcap or pcapng file (%s); for descriptor bytes use govent wire decode %s\n", tc.path, tc.why, tc.path)
		if tc.path == empty {
			want = "govent: " + empty + ": not a pcap or pcapng file (it is empty)\n"
		}
		assert.Equal(t, want, errOut)
		if tc.path == empty {
			continue
		}
		// The hint works.
		code, out, errOut = runCLI(t, "", "wire", "decode", tc.path)
		assert.Equal(t, 0, code, errOut)
		assert.NotEmpty(t, out)
	}
	// A file that cannot be opened says so, as before.
	missing := filepath.Join(t.TempDir(), "missing.pcap")
	code, _, errOut := runCLI(t, "", "capture", "decode", missing)
	assert.Equal(t, 1, code)
	assert.Equal(t, "govent: open "+missing+": no such file or directory\n", errOut)
}

// A TLS-upgraded link and a Gnutella2 connection are reported as what
// they are, both as text and as JSON, with no error line.
func TestCaptureDecodeTLSAndG2(t *testing.T) {
	code, out, errOut := runCLI(t, "", "capture", "decode", "../../testdata/tls/upgrade-we-dial.pcap")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 6, out)
	assert.Equal(t, "connection 1: 127.0.0.1:49332 -> 127.0.0.1:16446 (gnutella/0.6+tls / gnutella/0.6+tls)", lines[0])
	assert.Contains(t, lines[3], `HANDSHAKE "GNUTELLA/0.6 200 OK" (71 bytes)`)
	assert.Contains(t, lines[4], "127.0.0.1:49332 -> 127.0.0.1:16446 TLS ClientHello TLS 1.3 (13 cipher suites), 11 records, 1915 bytes, encrypted")
	assert.Contains(t, lines[5], "127.0.0.1:16446 -> 127.0.0.1:49332 TLS ServerHello TLS 1.3 TLS_AES_128_GCM_SHA256, 9 records, 2231 bytes, encrypted")

	code, out, errOut = runCLI(t, "", "capture", "decode", "--json", "../../testdata/tls/direct-gtkg-dials.pcap")
	require.Equal(t, 0, code, errOut)
	var hellos []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		assert.Equal(t, "tls", m["kind"], l)
		hellos = append(hellos, m)
	}
	require.Len(t, hellos, 4, "two connections, TLS from the first byte both ways")
	assert.Equal(t, "ClientHello", hellos[0]["hello"])
	assert.Equal(t, "TLS 1.3", hellos[0]["version"])
	assert.Equal(t, "ServerHello", hellos[1]["hello"])
	assert.Equal(t, "TLS_AES_128_GCM_SHA256", hellos[1]["cipher_suite"])
	assert.Equal(t, 13.0, hellos[0]["records"])

	code, out, errOut = runCLI(t, "", "capture", "decode", "../../testdata/g2/shareaza-handshake.pcap")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "(gnutella2 / gnutella2)")
	assert.Equal(t, 2, strings.Count(out, "G2 /LNI "), out)
	assert.Equal(t, 1, strings.Count(out, "G2 /KHL "), out)
	assert.Equal(t, 2, strings.Count(out, "G2 /PI (0 bytes)"), out)
	for _, s := range []string{"ERROR", "error", "PING", "QUERY"} {
		assert.NotContains(t, out, s)
	}
}

func TestGetByURN(t *testing.T) {
	share := t.TempDir()
	body := bytes.Repeat([]byte("penny lane "), 50000)
	require.NoError(t, os.WriteFile(filepath.Join(share, "penny lane.mp3"), body, 0o644))
	s, err := servent.New(servent.Config{Listen: "127.0.0.1:0", ShareDir: share, HashBeforeStart: true})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	defer s.Close()
	files := s.Library().All()
	require.Len(t, files, 1)
	urn := files[0].SHA1.String()

	dir := t.TempDir()
	code, out, errOut := runCLI(t, "", "get", "--source", s.Addr().String(), "--name", "lane.mp3", "--dir", dir, urn)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "progress: ")
	assert.Contains(t, out, "SHA-1 verified "+urn)
	got, err := os.ReadFile(filepath.Join(dir, "lane.mp3"))
	require.NoError(t, err)
	assert.Equal(t, body, got)

	// A source that does not have the file: a clear failure, exit 1, and
	// nothing under the final name.
	other := t.TempDir()
	code, _, errOut = runCLI(t, "", "get", "--source", s.Addr().String(), "--name", "x.bin", "--dir", other,
		"urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "download")
	_, err = os.Stat(filepath.Join(other, "x.bin"))
	assert.True(t, os.IsNotExist(err))

	code, _, errOut = runCLI(t, "", "get", "--source", s.Addr().String(), "not-a-urn")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "urn")
}

// A GIV connection reads as it happened: the uploader's GIV line, the
// downloader's GET, and the uploader's HTTP response, each named for
// what it is (the response was labelled "giv" and the GIV a handshake).
func TestCaptureDecodeGIV(t *testing.T) {
	code, out, errOut := runCLI(t, "", "capture", "decode", "../../testdata/push-giv.pcap")
	require.Equal(t, 0, code, errOut)
	_, giv, ok := strings.Cut(out, "connection 2: 127.0.0.1:54247 -> 127.0.0.1:7000 (giv / http)\n")
	require.True(t, ok, out)
	lines := strings.Split(strings.TrimSpace(giv), "\n")
	require.Len(t, lines, 3, giv)
	assert.Contains(t, lines[0], `127.0.0.1:54247 -> 127.0.0.1:7000 GIV "GIV 2:48c831020b29cc9f54ca85f81b70fef8/file" (45 bytes)`)
	assert.Contains(t, lines[1], `127.0.0.1:7000 -> 127.0.0.1:54247 http "GET /get/2/penny%20lane.mp3 HTTP/1.1" (113 bytes)`)
	assert.Contains(t, lines[2], `127.0.0.1:54247 -> 127.0.0.1:7000 http "HTTP/1.1 200 OK" (103005 bytes)`)

	code, out, errOut = runCLI(t, "", "capture", "decode", "--json", "../../testdata/push-giv.pcap")
	require.Equal(t, 0, code, errOut)
	var kinds []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		if m["connection"] == 2.0 {
			kinds = append(kinds, fmt.Sprint(m["kind"]))
		}
	}
	assert.Equal(t, []string{"giv", "http", "http"}, kinds)
}
