package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// contexts are the words a layer puts before an error it wraps: each may
// lead a part of the message (the text between ": ") at most once.
var contexts = []string{"capture", "httpxfer", "servent", "link", "control", "conform", "download", "browse", "search", "get", "dial", "peer"}

// assertSaidOnce fails when a layer's context is said twice in msg, as in
// "download: httpxfer: download ...: httpxfer: ...".
func assertSaidOnce(t *testing.T, msg string) {
	t.Helper()
	seen := map[string]int{}
	for _, part := range strings.Split(msg, ": ") {
		if m := regexp.MustCompile(`^(?:govent )?([a-z]+)\b`).FindStringSubmatch(strings.TrimSpace(part)); m != nil {
			seen[m[1]]++
		}
	}
	for _, w := range contexts {
		assert.LessOrEqual(t, seen[w], 1, "%q said %d times in %q", w, seen[w], msg)
	}
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestErrorsSayEachContextOnce: the failures of the verbs that reach
// other hosts name each layer's context once.
func TestErrorsSayEachContextOnce(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	httpOnly := strings.TrimPrefix(notFound.URL, "http://")
	refused := closedAddr(t)
	const urn = "urn:sha1:PLSTHIPQQ2DXIGD4GAGQGU3GJJUSD6NA"
	for _, tc := range []struct {
		args []string
		want string // the whole message, or a part of it
	}{
		// get from a refused port retries for 30 s (httpxfer's
		// TestDownloadRefusedSourceBacksOff and TestDownloadFailureReasons
		// check its words): not run here.
		{[]string{"get", urn, "--source", httpOnly, "--dir", t.TempDir(), "--name", "f.bin"},
			`govent: httpxfer: download "f.bin": no usable source left: ` + httpOnly + ": HEAD: 404 Not Found\n"},
		{[]string{"browse", refused}, "govent: browse: dial tcp " + refused + ": connect: connection refused\n"},
		{[]string{"browse", httpOnly}, "govent: " + httpOnly + ": httpxfer: browse: 404 Not Found\n"},
		{[]string{"conform", "--timeout", "1s", refused}, "govent: conform: cannot reach " + refused + ": link: dial tcp "},
		{[]string{"search", "x", "--peer", refused, "--timeout", "1s"}, "govent: no peer could be reached: "},
		{[]string{"capture", "decode", filepath.Join(t.TempDir(), "none.pcap")}, "govent: capture: open "},
		// Not a servent: say what answered.
		{[]string{"search", "x", "--peer", httpOnly, "--timeout", "1s"}, "govent: no peer could be reached: peer " + httpOnly +
			": servent: handshake with " + httpOnly + `: wire: "HTTP/1.1 400 Bad Request": an HTTP server, not a Gnutella servent` + "\n"},
		{[]string{"conform", "--timeout", "1s", httpOnly}, "govent: conform: " + httpOnly +
			`: link: answer: wire: "HTTP/1.1 400 Bad Request": an HTTP server, not a Gnutella servent` + "\n"},
	} {
		code, _, errOut := runCLI(t, "", tc.args...)
		assert.Equal(t, 1, code, "%v: %s", tc.args, errOut)
		if strings.HasSuffix(tc.want, "\n") {
			assert.Equal(t, tc.want, errOut, "%v", tc.args)
		} else {
			assert.Contains(t, errOut, tc.want, "%v", tc.args)
		}
		assertSaidOnce(t, errOut)
	}
}
