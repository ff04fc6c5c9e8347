package httpxfer

import (
	"bufio"
	"context"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawClient speaks HTTP by hand; responses are parsed by net/http, which
// is independent of our code.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, addr netip.AddrPort) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr.String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	return &rawClient{conn: conn, br: bufio.NewReader(conn)}
}

func (c *rawClient) send(t *testing.T, raw string) {
	t.Helper()
	_, err := io.WriteString(c.conn, raw)
	require.NoError(t, err)
}

func (c *rawClient) read(t *testing.T, method string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// do sends one HTTP/1.1 request with extra header lines and reads the reply.
func (c *rawClient) do(t *testing.T, method, target string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n")
	for _, h := range hdr {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	c.send(t, b.String())
	return c.read(t, method)
}

// closed reports whether the server closed the connection. A reset counts:
// closing with unread request bytes makes the kernel send RST.
func (c *rawClient) closed(t *testing.T) bool {
	t.Helper()
	_, err := c.br.ReadByte()
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET)
}

// assertOpen checks that the connection still answers requests.
func (c *rawClient) assertOpen(t *testing.T) {
	t.Helper()
	resp, _ := c.do(t, "GET", "/get/9/still-open")
	assert.Equal(t, 404, resp.StatusCode)
}

func newTestUploader(t *testing.T, cfg UploaderConfig) (*uploadServer, File, []byte) {
	t.Helper()
	lib := &memLibrary{}
	f, data := shareFile(t, t.TempDir(), 2, "penny lane.mp3", 102400)
	lib.add(f)
	cfg.Mesh = NewMesh(0)
	cfg.Mesh.Add(f.SHA1, // most recent first in X-Alt
		netip.MustParseAddrPort("10.0.0.2:6347"),
		netip.MustParseAddrPort("127.0.0.1:7000"), // the client itself: left out
		netip.MustParseAddrPort("10.0.0.1:6346"))
	cfg.Library = lib
	return startUploader(t, cfg), f, data
}

func TestUploadReplies(t *testing.T) {
	srv, f, data := newTestUploader(t, UploaderConfig{Server: "govent-test", MaxUploads: 100, MaxUploadsPerIP: 100})
	urn := f.SHA1.String()
	size := strconv.Itoa(len(data))
	tests := []struct {
		name      string
		method    string
		target    string
		hdr       []string
		status    int
		body      []byte // nil: empty
		cRange    string // Content-Range, "" for none
		knownFile bool
		close     bool
	}{
		{name: "get by index and name", method: "GET", target: "/get/2/penny%20lane.mp3", status: 200, body: data, knownFile: true},
		{name: "Clip2 trailing slash", method: "GET", target: "/get/2/penny%20lane.mp3/", status: 200, body: data, knownFile: true},
		// Old servents send names as they are (Gnutella 0.6 section 4.1:
		// "servents SHOULD accept non-encoded requests"); gtk-gnutella takes
		// everything between the method and " HTTP/" as the target.
		{name: "name not URL-encoded", method: "GET", target: "/get/2/penny lane.mp3", status: 200, body: data, knownFile: true},
		{name: "name not URL-encoded, Clip2 slash", method: "GET", target: "/get/2/penny lane.mp3/", hdr: []string{"Range: bytes=0-99"}, status: 206, body: data[:100], cRange: "bytes 0-99/" + size, knownFile: true},
		{name: "unencoded name that differs", method: "GET", target: "/get/2/penny  lane.mp3", status: 404},
		{name: "unencoded dot-dot with a space", method: "GET", target: "/get/2/../etc/pass wd", status: 400, close: true},
		{name: "unencoded bare percent", method: "GET", target: "/get/2/100% penny.mp3", status: 400, close: true},
		{name: "space before the target", method: "GET", target: " /get/2/penny%20lane.mp3", status: 400, close: true},
		{name: "space after the target", method: "GET", target: "/get/2/penny%20lane.mp3 ", status: 400, close: true},
		{name: "get by urn", method: "GET", target: "/uri-res/N2R?" + urn, status: 200, body: data, knownFile: true},
		{name: "urn in lower case", method: "GET", target: "/uri-res/n2r?" + strings.ToLower(urn), status: 200, body: data, knownFile: true},
		{name: "head", method: "HEAD", target: "/uri-res/N2R?" + urn, status: 200, knownFile: true},
		{name: "head with range", method: "HEAD", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=0-99"}, status: 206, cRange: "bytes 0-99/" + size, knownFile: true},
		{name: "range first bytes", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=0-99"}, status: 206, body: data[:100], cRange: "bytes 0-99/" + size, knownFile: true},
		{name: "range open end", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=102300-"}, status: 206, body: data[102300:], cRange: "bytes 102300-102399/" + size, knownFile: true},
		{name: "suffix range", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=-10"}, status: 206, body: data[102390:], cRange: "bytes 102390-102399/" + size, knownFile: true},
		{name: "suffix longer than file", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=-999999"}, status: 206, body: data, cRange: "bytes 0-102399/" + size, knownFile: true},
		{name: "range end past file is clamped", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=102399-200000"}, status: 206, body: data[102399:], cRange: "bytes 102399-102399/" + size, knownFile: true},
		{name: "unknown range unit is ignored", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: pages=1-2"}, status: 200, body: data, knownFile: true},
		{name: "range start past end", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=200000-200099"}, status: 416, cRange: "bytes */" + size, knownFile: true},
		{name: "range starting at size", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=102400-"}, status: 416, cRange: "bytes */" + size, knownFile: true},
		{name: "inverted range", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=99-10"}, status: 416, cRange: "bytes */" + size, knownFile: true},
		{name: "empty suffix range", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=-0"}, status: 416, cRange: "bytes */" + size, knownFile: true},
		{name: "garbled range", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=abc"}, status: 400, knownFile: true, close: true},
		{name: "negative range", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=-5-10"}, status: 400, knownFile: true, close: true},
		{name: "negative start", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=--5"}, status: 400, knownFile: true, close: true},
		{name: "multiple ranges", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=0-1,5-6"}, status: 400, knownFile: true, close: true},
		{name: "range without equals", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes 0-1"}, status: 400, knownFile: true, close: true},
		{name: "two range headers", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=0-1", "Range: bytes=5-6"}, status: 400, close: true},
		{name: "range overflowing int64", method: "GET", target: "/get/2/penny%20lane.mp3", hdr: []string{"Range: bytes=0-99999999999999999999"}, status: 400, knownFile: true, close: true},
		{name: "unknown index", method: "GET", target: "/get/9/nosuchfile.mp3", status: 404},
		{name: "name does not match index", method: "GET", target: "/get/2/strawberry%20fields.ogg", status: 404},
		{name: "name differs in case", method: "GET", target: "/get/2/Penny%20Lane.mp3", status: 404},
		{name: "unknown urn", method: "GET", target: "/uri-res/N2R?urn:sha1:7GUGJ7RVJ6XJ54V2CFGBVYQJHQFR6KYF", status: 404},
		{name: "garbled urn", method: "GET", target: "/uri-res/N2R?urn:sha1:XYZ", status: 400, close: true},
		{name: "other uri-res service", method: "GET", target: "/uri-res/N2X?" + urn, status: 404},
		{name: "unknown path", method: "GET", target: "/index.html", status: 404},
		{name: "dot-dot segments", method: "GET", target: "/get/2/../../etc/passwd", status: 400, close: true},
		{name: "encoded dot-dot slash", method: "GET", target: "/get/2/%2e%2e%2fetc%2fpasswd", status: 400, close: true},
		{name: "encoded dot-dot alone", method: "GET", target: "/get/2/%2e%2e", status: 400, close: true},
		{name: "absolute path as name", method: "GET", target: "/get/2//etc/passwd", status: 400, close: true},
		{name: "backslash traversal", method: "GET", target: "/get/2/..%5c..%5cboot.ini", status: 400, close: true},
		{name: "NUL byte in name", method: "GET", target: "/get/2/penny%20lane.mp3%00.txt", status: 400, close: true},
		{name: "bad percent escape", method: "GET", target: "/get/2/penny%zz", status: 400, close: true},
		{name: "index not a number", method: "GET", target: "/get/two/penny%20lane.mp3", status: 400, close: true},
		{name: "index over 32 bits", method: "GET", target: "/get/4294967298/penny%20lane.mp3", status: 400, close: true},
		{name: "absolute-form target", method: "GET", target: "http://127.0.0.1/get/2/penny%20lane.mp3", status: 400, close: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, srv.addr)
			resp, body := c.do(t, tc.method, tc.target, tc.hdr...)
			require.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, "govent-test", resp.Header.Get("Server"))
			assert.Equal(t, tc.cRange, resp.Header.Get("Content-Range"))
			assert.Equal(t, string(tc.body), string(body))
			wantLen := int64(len(tc.body))
			if tc.method == "HEAD" {
				wantLen = int64(len(data))
				if tc.cRange != "" {
					wantLen = 100
				}
			}
			assert.Equal(t, strconv.FormatInt(wantLen, 10), resp.Header.Get("Content-Length"))
			if tc.knownFile {
				assert.Equal(t, urn, resp.Header.Get("X-Gnutella-Content-URN"))
				assert.Equal(t, "10.0.0.1:6346, 10.0.0.2:6347", resp.Header.Get("X-Alt"))
			} else {
				assert.Empty(t, resp.Header.Get("X-Gnutella-Content-URN"))
			}
			if tc.status == 200 || tc.status == 206 {
				assert.Equal(t, mime.TypeByExtension(".mp3"), resp.Header.Get("Content-Type"))
				assert.Equal(t, "Sun, 22 Nov 2026 03:48:24 GMT", resp.Header.Get("Last-Modified"))
			}
			if tc.close {
				assert.True(t, c.closed(t), "connection closed")
			} else {
				c.assertOpen(t)
			}
		})
	}
}

func TestUploadContentTypeFallback(t *testing.T) {
	lib := &memLibrary{}
	f, _ := shareFile(t, t.TempDir(), 1, "data.govent-unknown", 10)
	lib.add(f)
	srv := startUploader(t, UploaderConfig{Library: lib})
	resp, _ := dialRaw(t, srv.addr).do(t, "HEAD", "/get/1/data.govent-unknown")
	assert.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
	assert.Equal(t, "govent", resp.Header.Get("Server"))
	assert.Empty(t, resp.Header.Get("X-Alt"))
}

// A firewalled uploader lists its push proxies in every reply; one with
// none (or not firewalled) sends no X-Push-Proxy.
func TestUploadPushProxies(t *testing.T) {
	var proxies []netip.AddrPort
	srv, _, _ := newTestUploader(t, UploaderConfig{PushProxies: func() []netip.AddrPort { return proxies }})
	resp, _ := dialRaw(t, srv.addr).do(t, "HEAD", "/get/2/penny%20lane.mp3")
	assert.Empty(t, resp.Header.Values("X-Push-Proxy"))
	proxies = []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:6346"), netip.MustParseAddrPort("10.0.0.2:6347")}
	for _, target := range []string{"/get/2/penny%20lane.mp3", "/get/9/missing"} {
		resp, _ = dialRaw(t, srv.addr).do(t, "HEAD", target)
		assert.Equal(t, "10.0.0.1:6346,10.0.0.2:6347", resp.Header.Get("X-Push-Proxy"), target)
	}
}

func TestUploadFileChangedOnDisk(t *testing.T) {
	lib := &memLibrary{}
	f, _ := shareFile(t, t.TempDir(), 1, "a.bin", 10)
	f.Size = 11 // the library's idea no longer matches the disk
	lib.add(f)
	srv := startUploader(t, UploaderConfig{Library: lib})
	resp, _ := dialRaw(t, srv.addr).do(t, "GET", "/get/1/a.bin")
	assert.Equal(t, 404, resp.StatusCode)
}

func TestUploadKeepAlive(t *testing.T) {
	srv, f, data := newTestUploader(t, UploaderConfig{MaxUploads: 100, MaxUploadsPerIP: 100})
	urn := f.SHA1.String()

	t.Run("HTTP/1.1 several requests on one connection", func(t *testing.T) {
		c := dialRaw(t, srv.addr)
		resp, body := c.do(t, "GET", "/get/2/penny%20lane.mp3", "Range: bytes=0-99")
		assert.Equal(t, 206, resp.StatusCode)
		assert.Equal(t, data[:100], body)
		resp, _ = c.do(t, "HEAD", "/uri-res/N2R?"+urn)
		assert.Equal(t, 200, resp.StatusCode)
		resp, _ = c.do(t, "GET", "/get/9/nosuchfile.mp3")
		assert.Equal(t, 404, resp.StatusCode)
		resp, body = c.do(t, "GET", "/uri-res/N2R?"+urn, "Range: bytes=100-")
		assert.Equal(t, 206, resp.StatusCode)
		assert.Equal(t, data[100:], body)
		resp, body = c.do(t, "GET", "/get/2/penny%20lane.mp3", "Range: bytes=102399-", "Connection: close")
		assert.Equal(t, 206, resp.StatusCode)
		assert.Equal(t, data[102399:], body)
		assert.True(t, resp.Close, "Connection: close")
		assert.True(t, c.closed(t))
	})
	t.Run("HTTP/1.1 pipelined requests", func(t *testing.T) {
		c := dialRaw(t, srv.addr)
		c.send(t, "HEAD /get/2/penny%20lane.mp3 HTTP/1.1\r\n\r\n"+
			"GET /get/2/penny%20lane.mp3 HTTP/1.1\r\nRange: bytes=-5\r\n\r\n")
		resp, _ := c.read(t, "HEAD")
		assert.Equal(t, 200, resp.StatusCode)
		resp, body := c.read(t, "GET")
		assert.Equal(t, 206, resp.StatusCode)
		assert.Equal(t, data[len(data)-5:], body)
	})
	t.Run("HTTP/1.0 closes by default", func(t *testing.T) {
		c := dialRaw(t, srv.addr)
		c.send(t, "GET /get/2/penny%20lane.mp3 HTTP/1.0\r\nUser-Agent: GoFixtureProbe/0.1\r\n\r\n")
		resp, body := c.read(t, "GET")
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, data, body)
		assert.True(t, resp.Close, "Connection: close")
		assert.True(t, c.closed(t))
	})
	t.Run("HTTP/1.0 with Keep-Alive", func(t *testing.T) {
		c := dialRaw(t, srv.addr)
		for i := range 3 {
			c.send(t, "GET /get/2/penny%20lane.mp3/ HTTP/1.0\r\nConnection: Keep-Alive\r\nRange: bytes="+strconv.Itoa(i)+"-"+strconv.Itoa(i)+"\r\n\r\n")
			resp, body := c.read(t, "GET")
			assert.Equal(t, 206, resp.StatusCode)
			assert.Equal(t, data[i:i+1], body)
			assert.Equal(t, "Keep-Alive", resp.Header.Get("Connection"))
		}
	})
}

func TestUploadBadRequests(t *testing.T) {
	srv, _, _ := newTestUploader(t, UploaderConfig{})
	tests := []struct {
		name   string
		raw    string
		status int
	}{
		{"garbled request line", "HELLO\r\n\r\n", 400},
		{"unknown method", "POST /get/2/penny%20lane.mp3 HTTP/1.1\r\n\r\n", 501},
		{"unknown version", "GET /get/2/penny%20lane.mp3 HTTP/2.0\r\n\r\n", 505},
		{"header without colon", "GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n", 400},
		{"folded header", "GET / HTTP/1.1\r\nX-A: 1\r\n  more\r\n\r\n", 400},
		{"request with a body", "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400},
		{"too many header lines", "GET / HTTP/1.1\r\n" + strings.Repeat("X-A: 1\r\n", 100) + "\r\n", 431},
		{"header block too long", "GET / HTTP/1.1\r\nX-A: " + strings.Repeat("a", 9000) + "\r\n\r\n", 431},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, srv.addr)
			c.send(t, tc.raw)
			resp, _ := c.read(t, "GET")
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.True(t, c.closed(t))
		})
	}
}

func TestUploadTimeouts(t *testing.T) {
	srv, _, _ := newTestUploader(t, UploaderConfig{HeaderTimeout: 100 * time.Millisecond, IdleTimeout: 100 * time.Millisecond})

	t.Run("idle keep-alive connection is closed", func(t *testing.T) {
		c := dialRaw(t, srv.addr)
		resp, _ := c.do(t, "HEAD", "/get/2/penny%20lane.mp3")
		require.Equal(t, 200, resp.StatusCode)
		start := time.Now()
		assert.True(t, c.closed(t))
		assert.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("head that never ends gets 408", func(t *testing.T) {
		c := dialRaw(t, srv.addr)
		c.send(t, "GET /get/2/penny%20lane.mp3 HTTP/1.1\r\nHost: 127.0.0.1\r\n")
		resp, _ := c.read(t, "GET")
		assert.Equal(t, 408, resp.StatusCode)
		assert.True(t, c.closed(t))
	})
}

func TestUploadSlots(t *testing.T) {
	t.Run("global limit", func(t *testing.T) {
		srv, _, data := newTestUploader(t, UploaderConfig{MaxUploads: 1, MaxUploadsPerIP: 5, QueuePoll: 42 * time.Second})
		a := dialRaw(t, srv.addr)
		resp, _ := a.do(t, "GET", "/get/2/penny%20lane.mp3", "Range: bytes=0-0")
		require.Equal(t, 206, resp.StatusCode)
		assert.Equal(t, 1, srv.u.ActiveUploads())

		b := dialRaw(t, srv.addr)
		resp, _ = b.do(t, "HEAD", "/get/2/penny%20lane.mp3") // HEAD needs no slot
		assert.Equal(t, 200, resp.StatusCode)
		resp, _ = b.do(t, "GET", "/get/2/penny%20lane.mp3")
		assert.Equal(t, "503 Queued", resp.Status, "queued, passively: it did not send X-Queue")
		assert.Equal(t, "42", resp.Header.Get("Retry-After"))
		assert.Empty(t, resp.Header.Get("X-Queued"))
		assert.NotEmpty(t, resp.Header.Get("X-Gnutella-Content-URN"))
		assert.Equal(t, 1, srv.u.QueueLength())
		b.conn.Close()

		// The slot holder keeps it across keep-alive requests.
		resp, _ = a.do(t, "GET", "/get/2/penny%20lane.mp3", "Range: bytes=1-1")
		assert.Equal(t, 206, resp.StatusCode)
		a.conn.Close()
		<-srv.done // b's connection
		<-srv.done // a's: its slot is free now
		assert.Equal(t, 0, srv.u.ActiveUploads())

		resp, body := dialRaw(t, srv.addr).do(t, "GET", "/get/2/penny%20lane.mp3")
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, data, body)
	})
	t.Run("per-IP limit", func(t *testing.T) {
		srv, _, _ := newTestUploader(t, UploaderConfig{MaxUploads: 10, MaxUploadsPerIP: 1})
		a := dialRaw(t, srv.addr)
		resp, _ := a.do(t, "GET", "/get/2/penny%20lane.mp3", "Range: bytes=0-0")
		require.Equal(t, 206, resp.StatusCode)
		resp, _ = dialRaw(t, srv.addr).do(t, "GET", "/get/2/penny%20lane.mp3", "Range: bytes=0-0")
		assert.Equal(t, "503 Queued", resp.Status, "free slots, but not for this address")
		assert.Equal(t, "30", resp.Header.Get("Retry-After"))

		// Another loopback address is another client.
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		conn, err := d.Dial("tcp", srv.addr.String())
		require.NoError(t, err)
		defer conn.Close()
		c := &rawClient{conn: conn, br: bufio.NewReader(conn)}
		resp, _ = c.do(t, "GET", "/get/2/penny%20lane.mp3", "Range: bytes=0-0")
		assert.Equal(t, 206, resp.StatusCode)
		assert.Equal(t, 2, srv.u.ActiveUploads())
	})
}

func TestUploadContextEndsConnection(t *testing.T) {
	lib := &memLibrary{}
	u := NewUploader(UploaderConfig{Library: lib})
	client, server := net.Pipe()
	defer client.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.ServeConn(ctx, server, nil) }()
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func TestUploadDropsClientThatDoesNotRead(t *testing.T) {
	lib := &memLibrary{}
	f, _ := shareFile(t, t.TempDir(), 1, "big.bin", 32<<20) // more than the socket buffers hold
	lib.add(f)
	srv := startUploader(t, UploaderConfig{Library: lib, SlowUploadTime: 100 * time.Millisecond})
	c := dialRaw(t, srv.addr)
	c.send(t, "GET /get/1/big.bin HTTP/1.1\r\n\r\n") // and never read
	err := <-srv.done
	assert.ErrorIs(t, err, ErrSlowReader)
	assert.Equal(t, 0, srv.u.ActiveUploads(), "slot released")
}
