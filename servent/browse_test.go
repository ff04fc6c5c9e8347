package servent

import (
	"bufio"
	"crypto/sha1"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer"
)

func browsedNames(t *testing.T, res *httpxfer.BrowseResult, want map[string]string) {
	t.Helper()
	var names []string
	for _, f := range res.Files {
		names = append(names, f.Name)
		body, ok := want[f.Name]
		require.True(t, ok, f.Name)
		assert.True(t, f.HasSHA1)
		assert.Equal(t, sha1.Sum([]byte(body)), [20]byte(f.SHA1), f.Name)
		assert.EqualValues(t, len(body), f.Size)
	}
	sort.Strings(names)
	assert.Len(t, names, len(want))
}

// One Govent browses another: every shared file, with its urn:sha1, in
// the QueryHits of the stream.
func TestBrowseHostDirect(t *testing.T) {
	files := map[string]string{"let it be.mp3": "let it be", "yesterday.ogg": "all my troubles", "<help>.txt": "&"}
	cfg := testConfig(t)
	cfg.ShareDir = shareDir(t, files)
	host := startServent(t, cfg)
	browser := startServent(t, testConfig(t))

	res, err := browser.Browse(searchCtx(t), httpxfer.Source{Addr: host.Addr()}, httpxfer.BrowseOptions{})
	require.NoError(t, err)
	browsedNames(t, res, files)
	assert.Equal(t, host.GUID(), res.ServentGUID)
	assert.Equal(t, UserAgent, res.Server)
	assert.False(t, res.Push)
}

// A firewalled Govent (no listening port at all) is browsed through a
// Push routed by the middle servent: it connects back with a GIV and
// serves the browse on that connection.
func TestBrowseHostThroughPush(t *testing.T) {
	files := map[string]string{"hidden one.bin": "one", "hidden two.bin": "two two"}
	cfgH := testConfig(t)
	cfgH.NoListen = true
	cfgH.ShareDir = shareDir(t, files)
	host := startServent(t, cfgH)
	middle := startServent(t, testConfig(t))
	browser := startServent(t, testConfig(t))
	require.NoError(t, host.Connect(middle.Addr()))
	require.NoError(t, browser.Connect(middle.Addr()))
	waitFor(t, "middle has both", func() bool { return len(middle.Peers()) == 2 })

	// The Push route is learned from a QueryHit, as for a download.
	sr, err := browser.Search(searchCtx(t), "hidden")
	require.NoError(t, err)
	hits := collect(t, sr, 1, 5*time.Second)
	require.NotEmpty(t, hits)
	require.True(t, hits[0].Push)

	res, err := browser.Browse(searchCtx(t), SourceOf(hits[0]), httpxfer.BrowseOptions{})
	require.NoError(t, err)
	browsedNames(t, res, files)
	assert.Equal(t, host.GUID(), res.ServentGUID)
	assert.True(t, res.Push, "its QueryHits say it is firewalled")
}

// An uploader that queued our download calls back with QUEUE on our
// listening port: the sniffer routes it to the download, which polls on
// that connection at once instead of after the 10 minutes it was told.
func TestQueueCallbackReachesDownload(t *testing.T) {
	body := randomBytes(64<<10, 9)
	src, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer src.Close()
	nodes := make(chan string, 1)
	go func() {
		c, err := src.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		nodes <- req.Header.Get("X-Node")
		_, _ = io.WriteString(c, "HTTP/1.1 503 Queued\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 600\r\n"+
			"X-Queued: ID=0123abcd; position=2; length=2; lifetime=700\r\n\r\n")
	}()

	cfg := testConfig(t)
	cfg.DownloadDir = t.TempDir()
	s := startServent(t, cfg)
	done := make(chan error, 1)
	go func() {
		_, err := s.Download(searchCtx(t), httpxfer.Request{Name: "queued.bin", Size: int64(len(body)), SHA1: sha1.Sum(body),
			Sources: []httpxfer.Source{{Addr: addrPortOf(src.Addr())}}})
		done <- err
	}()
	assert.Equal(t, s.Addr().String(), <-nodes, "X-Node: where to call back")

	// Until the download waits in the queue, a QUEUE for it finds nobody.
	var c net.Conn
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		c, err = net.Dial("tcp", s.Addr().String())
		require.NoError(t, err)
		_, err = io.WriteString(c, "QUEUE 0123abcd "+src.Addr().String()+"\r\n")
		require.NoError(t, err)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			c.Close()
			continue
		}
		assert.Equal(t, "position=2; ID=0123abcd", req.Header.Get("X-Queued"))
		_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", len(body))
		_, _ = c.Write(body)
		c.Close()
		break
	}
	require.NoError(t, <-done)
	data, err := os.ReadFile(filepath.Join(cfg.DownloadDir, "queued.bin"))
	require.NoError(t, err)
	assert.Equal(t, body, data)
}

func TestQueueLineWithoutDownloadIsClosed(t *testing.T) {
	s := startServent(t, testConfig(t))
	for _, line := range []string{"QUEUE 0123abcd 127.0.0.1:1\r\n", "QUEUE garbage\r\n"} {
		p := dialRaw(t, s.Addr())
		p.writeString(line)
		p.expectClosed()
	}
	assert.Empty(t, s.Peers())
}
