package httpxfer

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

func treeOf(data []byte) *thex.Tree {
	b := thex.NewBuilder()
	b.Write(data)
	return b.Tree()
}

// thexFake serves data honestly, announces tree in X-Thex-URI (with root
// in the header) and serves tree at N2X.
func thexFake(tree *thex.Tree, root wire.TTH, sum wire.SHA1) func(*fakeSource, net.Conn, *http.Request, int) bool {
	return func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		if strings.HasPrefix(req.URL.Path, "/uri-res/N2X") {
			body := tree.AppendDIME(nil)
			_, _ = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/dime\r\nContent-Length: %d\r\n\r\n", len(body))
			_, _ = conn.Write(body)
			return true
		}
		a, b := askedRange(req, len(fs.data))
		reply206(conn, len(fs.data), a, b, fs.data[a:b+1], "X-Thex-URI: "+thex.FormatThexURI(sum, root))
		return true
	}
}

// Three sources, one of which corrupts every body: THEX catches it at the
// first bad segment, blames it at once, and the segment is fetched again
// from the others; no whole-file blame round happens.
//
// With chunks shorter than the tree's segments (a segment then has several
// writers), the segment is fetched again by one source alone, which names
// the liar: the honest sources are never blamed.
func TestDownloadThexCatchesBadChunk(t *testing.T) {
	for _, tc := range []struct{ size, chunk, seg int64 }{
		{1<<20 + 5000, 256 << 10, 256 << 10},
		{3<<20 + 5000, 64 << 10, 256 << 10},
	} {
		t.Run(fmt.Sprint(tc.chunk), func(t *testing.T) { testThexCatchesBadChunk(t, int(tc.size), tc.chunk, tc.seg) })
	}
}

func testThexCatchesBadChunk(t *testing.T, size int, chunk, seg int64) {
	lib := &memLibrary{}
	f, data := shareFile(t, t.TempDir(), 1, "song.ogg", size)
	f = lib.addWithTree(f, data)
	a := startUploader(t, UploaderConfig{Library: lib})
	b := startUploader(t, UploaderConfig{Library: lib})
	liar := startFake(t, data, corruptEvery)
	tr := treeOf(data)
	require.Equal(t, seg, tr.ChunkSize())

	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: chunk, MaxFailures: 2, Wait: (&waitRecorder{}).wait})
	res, err := d.Download(t.Context(), Request{
		Name: "song.ogg", Size: f.Size, SHA1: f.SHA1, TTH: f.TTH, HasTTH: true,
		Sources: []Source{liar.source(), {Addr: a.addr}, {Addr: b.addr}},
	})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "song.ogg")
	assert.True(t, res.TreeVerified)
	assert.GreaterOrEqual(t, res.BadChunks, 1)
	require.Len(t, res.Dropped, 1, "only the liar is dropped: %v", res.Dropped)
	assert.Equal(t, liar.source(), res.Dropped[0].Source)
	assert.ErrorIs(t, res.Dropped[0].Err, ErrHashMismatch)
	var me *thex.MismatchError
	require.True(t, errors.As(res.Dropped[0].Err, &me), "blamed for a chunk: %v", res.Dropped[0].Err)
	assert.Equal(t, int64(0), me.Offset%tr.ChunkSize())
}

// A tree from the wire that does not hash up to the root the request
// gives is refused: the download goes on, checked by SHA-1 at the end
// only. A source whose X-Thex-URI names another root is not asked.
func TestDownloadRefusesWrongTree(t *testing.T) {
	data := randomData(600 << 10)
	other := randomData(600 << 10)
	good := treeOf(data)
	sum := wire.SHA1(sha1.Sum(data))
	for _, tc := range []struct {
		name     string
		tree     *thex.Tree
		header   wire.TTH
		askedN2X bool
	}{
		{"tree of another file", treeOf(other), good.Root(), true},
		{"another root announced", treeOf(other), treeOf(other).Root(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := startFake(t, data, thexFake(tc.tree, tc.header, sum))
			dir := t.TempDir()
			res, err := testDownloader(dir, &waitRecorder{}).Download(t.Context(), Request{
				Name: "x.bin", Size: int64(len(data)), SHA1: sum, TTH: good.Root(), HasTTH: true,
				Sources: []Source{fs.source()},
			})
			require.NoError(t, err)
			assertFinished(t, dir, res, data, "x.bin")
			assert.False(t, res.TreeVerified)
			// Every file request carries a Range; the tree request does not.
			assert.Equal(t, tc.askedN2X, slices.Contains(fs.requestRanges(), ""))
		})
	}
}

// With the right tree, a lone honest source's download is verified chunk
// by chunk.
func TestDownloadVerifiesWithTree(t *testing.T) {
	data := randomData(600 << 10)
	tr := treeOf(data)
	sum := wire.SHA1(sha1.Sum(data))
	fs := startFake(t, data, thexFake(tr, tr.Root(), sum))
	dir := t.TempDir()
	res, err := testDownloader(dir, &waitRecorder{}).Download(t.Context(), Request{
		Name: "x.bin", Size: int64(len(data)), SHA1: sum, TTH: tr.Root(), HasTTH: true,
		Sources: []Source{fs.source()},
	})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "x.bin")
	assert.True(t, res.TreeVerified)
	assert.Zero(t, res.BadChunks)
}

// A chunk holds two segments. Its first writer lies in the second
// segment only: the first segment matches, the second does not, and the
// whole chunk is thrown away. Its second writer lies in the first segment
// only. Both segments must be checked again against those new bytes (the
// first one's earlier match was of bytes now gone): the second writer is
// caught at that chunk too, the third fetch is honest, and the download
// finishes verified, rather than matching the tree on paper and failing
// the SHA-1 at the end.
func TestDownloadThexRechecksRefetchedChunk(t *testing.T) {
	data := randomData(600 << 10) // segments of 256 KiB: 0, 1 and a short 2
	tr := treeOf(data)
	seg := int(tr.ChunkSize())
	require.Equal(t, 256<<10, seg)
	sum := wire.SHA1(sha1.Sum(data))
	var mu sync.Mutex
	chunk0 := 0 // fetches of chunk 0 served so far, by any source
	behave := func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		if strings.HasPrefix(req.URL.Path, "/uri-res/N2X") {
			return thexFake(tr, tr.Root(), sum)(fs, conn, req, n)
		}
		a, b := askedRange(req, len(fs.data))
		body := append([]byte(nil), fs.data[a:b+1]...)
		if a == 0 {
			mu.Lock()
			switch chunk0 {
			case 0:
				body[seg+100] ^= 0xff
			case 1:
				body[100] ^= 0xff
			}
			chunk0++
			mu.Unlock()
		}
		reply206(conn, len(fs.data), a, b, body, "X-Thex-URI: "+thex.FormatThexURI(sum, tr.Root()))
		return true
	}
	var srcs []Source
	for range 3 {
		srcs = append(srcs, startFake(t, data, behave).source())
	}
	dir := t.TempDir()
	// One connection at a time: each writer of chunk 0 writes it whole. With
	// two at once, the endgame could hand chunk 0's second segment to an
	// idle source measured faster (rates are wall-clock), and the first lie
	// would never be written.
	d := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: 2 * int64(seg), MaxConns: 1, MaxFailures: 2, Wait: (&waitRecorder{}).wait})
	res, err := d.Download(t.Context(), Request{
		Name: "x.bin", Size: int64(len(data)), SHA1: sum, TTH: tr.Root(), HasTTH: true, Sources: srcs,
	})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "x.bin")
	assert.True(t, res.TreeVerified)
	assert.Zero(t, res.Splits)
	assert.Equal(t, 2, res.BadChunks)
	// Each liar is named at its chunk, but a chunk that two sources wrote
	// (an exchange cut short and resumed by another source) blames neither
	// at its first failure (maxMixedFails): so one or two are dropped, and
	// only for a chunk.
	require.NotEmpty(t, res.Dropped)
	require.LessOrEqual(t, len(res.Dropped), 2, "%v", res.Dropped)
	for _, f := range res.Dropped {
		var me *thex.MismatchError
		require.True(t, errors.As(f.Err, &me), "blamed for a chunk: %v", f.Err)
		assert.Equal(t, int64(0), me.Offset%int64(seg))
	}
}
