package httpxfer

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

// gtk-gnutella's replies in http.pcap announce the file's tree in
// X-Thex-URI and read X-Falt (fwalt in X-Features). The root it announces
// is the one we compute for the captured file; a download given that
// root (as a bitprint hit or magnet would give it) fetches the tree at
// the very path the header names, and checks every chunk against it.
func TestThexFromGtkGnutellaReplies(t *testing.T) {
	_, head206, data := gtkCaptures(t)
	h, err := readHead(bufio.NewReader(strings.NewReader(head206)))
	require.NoError(t, err)
	v, ok := h.Get("X-Thex-URI")
	require.True(t, ok)
	path, root, hasRoot, err := thex.ParseThexURI(v)
	require.NoError(t, err)
	require.True(t, hasRoot)
	assert.Equal(t, "/uri-res/N2X?"+pennyURN, path)
	assert.Equal(t, "3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI", root.Base32())
	assert.Equal(t, root, thex.Root(data), "gtk-gnutella's root is ours")
	assert.True(t, hasFeature(h, "fwalt"), "gtk-gnutella reads X-Falt")

	tr := treeOf(data)
	var mu sync.Mutex
	var treePaths []string
	fs := startFake(t, data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		if req.Header.Get("Range") == "" {
			mu.Lock()
			treePaths = append(treePaths, req.URL.RequestURI())
			mu.Unlock()
			body := tr.AppendDIME(nil)
			_, _ = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/dime\r\nContent-Length: %d\r\n\r\n", len(body))
			_, _ = conn.Write(body)
			return true
		}
		a, b := askedRange(req, len(fs.data))
		hd := contentRangeRE.ReplaceAllString(head206, fmt.Sprintf("Content-Range: bytes %d-%d/", a, b))
		hd = contentLengthRE.ReplaceAllString(hd, fmt.Sprintf("Content-Length: %d\r\n", b-a+1))
		_, _ = conn.Write(append([]byte(hd), fs.data[a:b+1]...))
		return true
	})
	d, err := wire.ParseURN(pennyURN)
	require.NoError(t, err)
	dir := t.TempDir()
	res, err := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: testChunk, Wait: (&waitRecorder{}).wait}).
		Download(t.Context(), Request{Name: "penny lane.mp3", Size: 102400, SHA1: d, TTH: root, HasTTH: true, Sources: []Source{fs.source()}})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "penny lane.mp3")
	assert.True(t, res.TreeVerified)
	mu.Lock()
	defer mu.Unlock()
	// net/http reads the target as a URI: the urn's colons come back as is.
	require.Len(t, treePaths, 1)
	assert.Equal(t, path, treePaths[0])
}
