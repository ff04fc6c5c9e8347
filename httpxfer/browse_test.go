package httpxfer

import (
	"bufio"
	"compress/zlib"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// testBrowser lists a fixed set of files in QueryHits from 10.0.0.9:6346,
// each with a new GUID, or with guid when it is set.
type testBrowser struct {
	files []File
	guid  wire.GUID
}

var testServent = wire.GUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

func (b testBrowser) SharedFiles() []File { return b.files }

func (b testBrowser) QueryHit(files []File) ([]byte, error) {
	if b.guid != (wire.GUID{}) {
		return encodeHitAs(b.guid, files)
	}
	return encodeHit(files)
}

func encodeHit(files []File) ([]byte, error) { return encodeHitAs(wire.NewGUID(), files) }

func encodeHitAs(guid wire.GUID, files []File) ([]byte, error) {
	qh := wire.QueryHit{Port: 6346, Addr: netip.MustParseAddr("10.0.0.9"), Speed: 1000, ServentGUID: testServent}
	for _, f := range files {
		r := wire.Result{Index: f.Index, Size: uint32(f.Size), Name: []byte(f.Name), Ext: wire.ExtArea{Terminated: true}}
		if f.SHA1 != (wire.SHA1{}) {
			r.Ext.Blocks = []wire.ExtBlock{wire.NewSHA1Block(f.SHA1)}
		}
		qh.Results = append(qh.Results, r)
	}
	m := wire.Message{Header: wire.Header{GUID: guid, Type: wire.TypeQueryHit, TTL: 1}, QueryHit: qh}
	return m.Append(nil)
}

// browseFiles are 23 files (three QueryHits), one with a name that HTML
// must escape.
func browseFiles() []File {
	var files []File
	for i := range 23 {
		name := "file " + string(rune('a'+i)) + ".ogg"
		if i == 3 {
			name = `<b>"rock" & roll</b>.mp3`
		}
		files = append(files, File{Index: uint32(i + 1), Name: name, Size: int64(1000 + i), SHA1: sha1.Sum([]byte(name))})
	}
	files[22].SHA1 = wire.SHA1{} // not hashed yet: linked by /get/
	return files
}

func TestBrowseHost(t *testing.T) {
	files := browseFiles()
	srv := startUploader(t, UploaderConfig{Library: &memLibrary{}, Browser: testBrowser{files: files}, Server: "govent-test"})

	conn, err := net.Dial("tcp", srv.addr.String())
	require.NoError(t, err)
	res, err := Browse(context.Background(), conn, srv.addr.String(), BrowseOptions{})
	require.NoError(t, err)
	assert.Equal(t, "govent-test", res.Server)
	assert.Equal(t, 3, res.Hits)
	assert.Equal(t, testServent, res.ServentGUID)
	assert.Equal(t, netip.MustParseAddrPort("10.0.0.9:6346"), res.Addr)
	require.Len(t, res.Files, 23)
	for i, f := range res.Files {
		assert.Equal(t, files[i].Name, f.Name)
		assert.Equal(t, files[i].Index, f.Index)
		assert.Equal(t, uint32(files[i].Size), f.Size)
		assert.Equal(t, files[i].SHA1 != (wire.SHA1{}), f.HasSHA1)
		assert.Equal(t, files[i].SHA1, f.SHA1)
	}
}

func TestBrowseHostEncodings(t *testing.T) {
	files := browseFiles()
	srv := startUploader(t, UploaderConfig{Library: &memLibrary{}, Browser: testBrowser{files: files}, Server: "govent-test"})
	get := func(hdr ...string) (*http.Response, []byte) {
		c := dialRaw(t, srv.addr)
		return c.do(t, "GET", "/", hdr...)
	}

	t.Run("packets, plain", func(t *testing.T) {
		resp, body := get("Accept: text/html, application/x-gnutella-packets")
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "application/x-gnutella-packets", resp.Header.Get("Content-Type"))
		assert.Empty(t, resp.Header.Get("Content-Encoding"))
		r := wire.NewReader(strings.NewReader(string(body)), 0)
		n := 0
		for {
			m, err := r.ReadMessage()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			n += len(m.QueryHit.Results)
		}
		assert.Equal(t, 23, n)
	})
	t.Run("packets, deflated", func(t *testing.T) {
		resp, body := get("Accept: application/x-gnutella-packets", "Accept-Encoding: gzip, deflate")
		assert.Equal(t, "deflate", resp.Header.Get("Content-Encoding"))
		zr, err := zlib.NewReader(strings.NewReader(string(body)))
		require.NoError(t, err)
		plain, err := io.ReadAll(zr)
		require.NoError(t, err)
		r := wire.NewReader(strings.NewReader(string(plain)), 0)
		for _, n := range []int{10, 10, 3} {
			m, err := r.ReadMessage()
			require.NoError(t, err)
			assert.Len(t, m.QueryHit.Results, n)
		}
		_, err = r.ReadMessage()
		assert.ErrorIs(t, err, io.EOF)
	})
	t.Run("HTML for a browser", func(t *testing.T) {
		resp, body := get("Accept: text/html,application/xhtml+xml,*/*;q=0.8")
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		page := string(body)
		assert.Contains(t, page, "<title>govent-test: shared files</title>")
		assert.Contains(t, page, `&lt;b&gt;&#34;rock&#34; &amp; roll&lt;/b&gt;.mp3</a>`)
		assert.NotContains(t, page, "<b>")
		assert.Contains(t, page, `<a href="/uri-res/N2R?`+files[0].SHA1.String()+`">file a.ogg</a> (1000 bytes)`)
		assert.Contains(t, page, `<a href="/get/23/file%20w.ogg">file w.ogg</a>`)
	})
	t.Run("nothing acceptable", func(t *testing.T) {
		resp, _ := get("Accept: image/png")
		assert.Equal(t, 406, resp.StatusCode)
	})
	t.Run("files are still served", func(t *testing.T) {
		resp, _ := get()
		assert.Equal(t, 200, resp.StatusCode, "GET / with no Accept is the HTML index")
		resp, _ = dialRaw(t, srv.addr).do(t, "GET", "/get/1/nothing")
		assert.Equal(t, 404, resp.StatusCode)
	})
}

// gtk-gnutella's browse reply in http.pcap (chunked, Connection: close)
// lists its three files.
func TestBrowseGtkGnutellaCapture(t *testing.T) {
	var reply []byte
	for k, s := range tcpStreams(t, "testdata/http.pcap") {
		if k[0] == 6350 && strings.Contains(string(s), "Content-Type: application/x-gnutella-packets") {
			reply = s
		}
	}
	require.NotEmpty(t, reply)
	client, server := net.Pipe()
	go func() {
		req, err := http.ReadRequest(bufio.NewReader(server))
		if err == nil && req.Header.Get("Accept") == "application/x-gnutella-packets" {
			_, _ = server.Write(reply)
		}
		server.Close()
	}()
	res, err := Browse(context.Background(), client, "127.0.0.1:6350", BrowseOptions{})
	require.NoError(t, err)
	assert.Contains(t, res.Server, "gtk-gnutella/1.2.3")
	assert.Equal(t, "48c831020b29cc9f54ca85f81b70fef8", res.ServentGUID.String())
	names := map[string]string{}
	for _, f := range res.Files {
		names[f.Name] = f.SHA1.String()
	}
	assert.Equal(t, map[string]string{
		"strawberry fields.ogg": "urn:sha1:7GUGJ7RVJ6XJ54V2CFGBVYQJHQFR6KYF",
		"penny lane.mp3":        "urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O",
		"readme test.txt":       "urn:sha1:M26QHSCJJMCTM5EQANTXFQTJUOMRAXMC",
	}, names)
}

// browseFrom runs Browse against a server that answers with head and
// then calls body, on a pipe, in a synctest bubble.
func browseFrom(t *testing.T, head string, body func(w io.Writer) error, opts BrowseOptions) (*BrowseResult, error) {
	var res *BrowseResult
	var err error
	synctest.Test(t, func(t *testing.T) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer server.Close()
			if _, err := http.ReadRequest(bufio.NewReader(server)); err != nil {
				return
			}
			if _, err := io.WriteString(server, head); err != nil {
				return
			}
			_ = body(server)
		}()
		res, err = Browse(context.Background(), client, "", opts)
		<-done
	})
	return res, err
}

const packetsHead = "HTTP/1.1 200 OK\r\nContent-Type: application/x-gnutella-packets\r\nConnection: close\r\n\r\n"

func TestBrowseStreamLimits(t *testing.T) {
	hit, err := encodeHit(browseFiles()[:BrowseBatch])
	require.NoError(t, err)
	endless := func(w io.Writer) error {
		for {
			if _, err := w.Write(hit); err != nil {
				return err
			}
		}
	}

	t.Run("endless, cut by QueryHit count", func(t *testing.T) {
		res, err := browseFrom(t, packetsHead, endless, BrowseOptions{MaxHits: 50, MaxBytes: 1 << 30})
		assert.ErrorIs(t, err, ErrBrowseLimit)
		assert.Equal(t, 50, res.Hits)
		assert.Len(t, res.Files, 500, "what came before the cut is kept")
	})
	t.Run("endless, cut by bytes", func(t *testing.T) {
		res, err := browseFrom(t, packetsHead, endless, BrowseOptions{MaxBytes: 100 << 10})
		assert.ErrorIs(t, err, ErrBrowseLimit)
		assert.Less(t, res.Hits*len(hit), 100<<10+len(hit))
	})
	t.Run("endless and deflated, cut by inflated bytes", func(t *testing.T) {
		head := strings.Replace(packetsHead, "\r\n\r\n", "\r\nContent-Encoding: deflate\r\n\r\n", 1)
		res, err := browseFrom(t, head, func(w io.Writer) error {
			zw := zlib.NewWriter(w)
			for {
				if _, err := zw.Write(hit); err != nil {
					return err
				}
				if err := zw.Flush(); err != nil { // a sync flush per hit, as a live stream
					return err
				}
			}
		}, BrowseOptions{MaxBytes: 64 << 10}) // under linkzip's 1 MiB ratio window
		assert.ErrorIs(t, err, ErrBrowseLimit)
		assert.ErrorContains(t, err, "over 65536 bytes")
		assert.Less(t, res.Hits*len(hit), 64<<10+len(hit))
	})
	t.Run("a trickle, cut by time", func(t *testing.T) {
		res, err := browseFrom(t, packetsHead, func(w io.Writer) error {
			for {
				if _, err := w.Write(hit); err != nil {
					return err
				}
				time.Sleep(time.Second)
			}
		}, BrowseOptions{Timeout: 30 * time.Second})
		assert.ErrorIs(t, err, ErrBrowseLimit)
		assert.InDelta(t, 30, res.Hits, 1)
	})
	t.Run("silent, cut by time", func(t *testing.T) {
		_, err := browseFrom(t, "", func(w io.Writer) error {
			_, err := io.Copy(io.Discard, w.(io.Reader)) // until we give up
			return err
		}, BrowseOptions{Timeout: 2 * time.Second})
		assert.EqualError(t, err, "browse: no answer within 2s")
	})
	t.Run("garbage", func(t *testing.T) {
		_, err := browseFrom(t, packetsHead, func(w io.Writer) error {
			_, err := io.WriteString(w, strings.Repeat("\xff", 40))
			return err
		}, BrowseOptions{})
		assert.Error(t, err)
		assert.NotErrorIs(t, err, ErrBrowseLimit)
	})
	t.Run("not QueryHits", func(t *testing.T) {
		ping := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePing, TTL: 1}}
		b, err := ping.Append(nil)
		require.NoError(t, err)
		_, err = browseFrom(t, packetsHead, func(w io.Writer) error { _, err := w.Write(b); return err }, BrowseOptions{})
		assert.ErrorIs(t, err, ErrMalformed)
	})
	t.Run("HTML only", func(t *testing.T) {
		_, err := browseFrom(t, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", func(w io.Writer) error { return nil }, BrowseOptions{})
		assert.ErrorContains(t, err, "Content-Type")
	})
}

// TestBrowseHostDeflateBytes pins the deflated bodies that browse host
// sent before its zlib writer moved to linkzip, as their length and
// SHA-256, for QueryHits of one GUID: a regression pin of our own output
// (what a client must read is TestBrowseHostEncodings').
func TestBrowseHostDeflateBytes(t *testing.T) {
	srv := startUploader(t, UploaderConfig{Library: &memLibrary{}, Browser: testBrowser{files: browseFiles(), guid: wire.GUID{0xb0, 0x75, 0xe5}}, Server: "govent-test"})
	for _, c := range []struct {
		name, accept string
		length       int
		sha256       string
	}{
		{"packets", "application/x-gnutella-packets", 853, "ebd3a68aabc90277968c0b2b0d3425468773bc1222e3249e707a30be9291cc6f"},
		{"HTML", "text/html", 929, "fad2e57c3560764696233c896acedfed0028fbc9a80294fc5a1c9dd6afed0ef1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := dialRaw(t, srv.addr).do(t, "GET", "/", "Accept: "+c.accept, "Accept-Encoding: deflate")
			require.Equal(t, 200, resp.StatusCode)
			require.Equal(t, "deflate", resp.Header.Get("Content-Encoding"))
			sum := sha256.Sum256(body)
			assert.Equal(t, []any{c.length, c.sha256}, []any{len(body), hex.EncodeToString(sum[:])})
		})
	}
}
