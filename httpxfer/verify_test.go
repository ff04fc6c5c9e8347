package httpxfer

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

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
		for _, named := range []bool{false, true} {
			t.Run(fmt.Sprint(tc.chunk, "/rootNamed=", named), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { testThexCatchesBadChunk(t, int(tc.size), tc.chunk, tc.seg, named) })
			})
		}
	}
}

func testThexCatchesBadChunk(t *testing.T, size int, chunk, seg int64, rootNamed bool) {
	lib := &memLibrary{}
	f, data := shareFile(t, t.TempDir(), 1, "song.ogg", size)
	f = lib.addWithTree(f, data)
	// All at one rate in virtual time: each fetches a chunk from the
	// start, the liar included, and none is twice as fast as another (no
	// endgame).
	const bps = 1 << 20
	a := newPipeUploader(t, "127.0.0.1:7001", bps, UploaderConfig{Library: lib})
	b := newPipeUploader(t, "127.0.0.1:7002", bps, UploaderConfig{Library: lib})
	var lied int64
	liar := newPipeFake(t, "127.0.0.1:7003", data, throttledLiar(bps, &lied, func(int) bool { return true }))
	defer a.stop()
	defer b.stop()
	defer liar.stop()
	tr := treeOf(data)
	require.Equal(t, seg, tr.ChunkSize())

	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: chunk, MaxFailures: 2, Wait: (&waitRecorder{}).wait,
		Dialer: newPipeDialer(a, b, liar)})
	res, err := d.Download(t.Context(), Request{
		Name: "song.ogg", Size: f.Size, SHA1: f.SHA1, TTH: f.TTH, HasTTH: true, RootNamed: rootNamed,
		Sources: []Source{liar.source(), {Addr: a.addr}, {Addr: b.addr}},
	})
	require.NoError(t, err)
	assertTreeFinished(t, d, dir, res, data, "song.ogg", rootNamed)
	assert.GreaterOrEqual(t, res.BadChunks, 1)
	require.Len(t, res.Dropped, 1, "only the liar is dropped: %v", res.Dropped)
	assert.Equal(t, liar.source(), res.Dropped[0].Source)
	assert.ErrorIs(t, res.Dropped[0].Err, ErrHashMismatch)
	var me *thex.MismatchError
	require.True(t, errors.As(res.Dropped[0].Err, &me), "blamed for a chunk: %v", res.Dropped[0].Err)
	assert.Equal(t, int64(0), me.Offset%tr.ChunkSize())
	// The tree caught it, not the SHA-1: the reason says which.
	assert.EqualError(t, res.Dropped[0].Err, me.Error())
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
//
// Three sources fetch at once, at one rate in virtual time: the endgame
// (which needs a source twice as fast) never moves a part of chunk 0 to
// another writer, so each lie is written whole, by one source, while the
// others fetch the rest of the file.
func TestDownloadThexRechecksRefetchedChunk(t *testing.T) {
	synctest.Test(t, testThexRechecksRefetchedChunk)
}

func testThexRechecksRefetchedChunk(t *testing.T) {
	data := randomData(2 << 20) // 16 segments of 128 KiB, 8 chunks of two
	tr := treeOf(data)
	seg := int(tr.ChunkSize())
	require.Equal(t, 128<<10, seg)
	sum := wire.SHA1(sha1.Sum(data))
	var mu sync.Mutex
	chunk0 := 0 // fetches of chunk 0 served so far, by any source
	lying := func(start int, body []byte) []byte {
		if start != 0 {
			return body
		}
		body = append([]byte(nil), body...)
		mu.Lock()
		defer mu.Unlock()
		switch chunk0 {
		case 0:
			body[seg+100] ^= 0xff
		case 1:
			body[100] ^= 0xff
		}
		chunk0++
		return body
	}
	var fakes []pipeEnd
	var srcs []Source
	for i := range 3 {
		var served int64
		fs := newPipeFake(t, fmt.Sprintf("127.0.0.1:%d", 7001+i), data, throttledBody(1<<20, &served, lying, tr))
		defer fs.stop()
		fakes = append(fakes, fs)
		srcs = append(srcs, fs.source())
	}
	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: 2 * int64(seg), MaxConns: 3, MaxFailures: 2,
		Wait: (&waitRecorder{}).wait, Dialer: newPipeDialer(fakes...)})
	res, err := d.Download(t.Context(), Request{
		Name: "x.bin", Size: int64(len(data)), SHA1: sum, TTH: tr.Root(), HasTTH: true, Sources: srcs,
	})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "x.bin")
	assert.True(t, res.TreeVerified)
	assert.Zero(t, res.Splits)
	assert.Equal(t, 2, res.BadChunks)
	assert.Equal(t, 3, chunk0, "chunk 0 fetched three times")
	// Each liar wrote its chunk alone, so each is named at its chunk.
	require.Len(t, res.Dropped, 2, "%v", res.Dropped)
	for _, f := range res.Dropped {
		var me *thex.MismatchError
		require.True(t, errors.As(f.Err, &me), "blamed for a chunk: %v", f.Err)
		assert.Equal(t, int64(0), me.Offset%int64(seg))
	}
}

// A segment can fail THEX between the last byte of its last chunk and
// that chunk's writer settling it (the verifier runs on its own). The
// chunk, thrown away, stays its writer's until it settles: no other
// source takes it meanwhile, and the settle gives it back idle. (Else a
// second source fetched it while the first still held it, the writer's
// settle marked it idle under the second, a third took it too, its byte
// count went past its length, and the download waited for it for ever.)
func TestThrownAwayChunkStaysWithItsWriter(t *testing.T) {
	j := &job{cfg: &DownloaderConfig{}, size: 2 * testChunk, chunkSize: testChunk, wake: make(chan struct{})}
	j.chunks = make([]chunk, 2)
	j.chunks[1].have = testChunk // only chunk 0 is left
	j.addSources(Source{Addr: netip.MustParseAddrPort("10.0.0.1:6346")}, Source{Addr: netip.MustParseAddrPort("10.0.0.2:6346")})
	a, b := j.srcs[0], j.srcs[1]
	ci, _ := j.pick(a)
	require.Equal(t, 0, ci)
	(&sink{j: j, w: 0, s: a}).credit(testChunk) // its last byte is in
	j.mu.Lock()
	j.resetChunkLocked(0) // its segment failed
	j.mu.Unlock()
	ci, _ = j.pick(b)
	assert.Equal(t, -1, ci, "b took the chunk a still holds")
	j.settle(t.Context(), a, 0, nil)
	ci, _ = j.pick(b)
	assert.Equal(t, 0, ci, "given back by a, b takes it")
	j.mu.Lock()
	defer j.mu.Unlock()
	assert.Zero(t, j.have)
	assert.True(t, j.chunks[0].busy)
	assert.Same(t, b, j.chunks[0].holder)
}

// A root named with the SHA-1 (Request.RootNamed): once a tree that hashes
// up to it proved every byte, the SHA-1 is neither followed nor computed.
// The request's SHA-1 here is another file's: the download succeeds on
// the tree alone; with a root from a search hit (not named) the same
// download fails, the file matching its root but not its SHA-1.
func TestDownloadRootNamedSkipsSHA1(t *testing.T) {
	data := randomData(900 << 10)
	tr := treeOf(data)
	wrong := wire.SHA1(sha1.Sum(randomData(10)))
	for _, named := range []bool{true, false} {
		t.Run(fmt.Sprint("rootNamed=", named), func(t *testing.T) {
			fs := startFake(t, data, thexFake(tr, tr.Root(), wrong))
			dir := t.TempDir()
			d := testDownloader(dir, &waitRecorder{})
			res, err := d.Download(t.Context(), Request{
				Name: "x.bin", Size: int64(len(data)), SHA1: wrong, TTH: tr.Root(), HasTTH: true, RootNamed: named,
				Sources: []Source{fs.source()},
			})
			if named {
				require.NoError(t, err)
				assertFinishedByTree(t, d, dir, res, data, "x.bin")
				return
			}
			require.ErrorIs(t, err, ErrHashMismatch)
			assert.ErrorContains(t, err, "matches its tiger tree root but not its SHA-1")
			assert.Positive(t, d.sha1Read.Load())
			assert.Equal(t, []string(nil), dirNames(t, dir), "nothing kept")
		})
	}
}

// RootNamed, but nothing proves the file by its tree: no source offers
// one, or the one offered hashes to another root. The SHA-1 end check
// then runs as without it: a wrong SHA-1 is caught, the right one
// reported.
func TestDownloadRootNamedWithoutTreeChecksSHA1(t *testing.T) {
	data := randomData(600 << 10)
	good := treeOf(data)
	sum := wire.SHA1(sha1.Sum(data))
	wrong := wire.SHA1(sha1.Sum(randomData(10)))
	for _, tc := range []struct {
		name   string
		behave func(*fakeSource, net.Conn, *http.Request, int) bool
	}{
		{"no tree offered", honest},
		{"tree of another file", thexFake(treeOf(randomData(600<<10)), good.Root(), sum)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := startFake(t, data, tc.behave)
			dir := t.TempDir()
			res, err := testDownloader(dir, &waitRecorder{}).Download(t.Context(), Request{
				Name: "x.bin", Size: int64(len(data)), SHA1: sum, TTH: good.Root(), HasTTH: true, RootNamed: true,
				Sources: []Source{fs.source()},
			})
			require.NoError(t, err)
			assertFinished(t, dir, res, data, "x.bin")
			assert.False(t, res.TreeVerified)

			fs = startFake(t, data, tc.behave)
			dir = t.TempDir()
			_, err = testDownloader(dir, &waitRecorder{}).Download(t.Context(), Request{
				Name: "x.bin", Size: int64(len(data)), SHA1: wrong, TTH: good.Root(), HasTTH: true, RootNamed: true,
				Sources: []Source{fs.source()},
			})
			require.ErrorIs(t, err, ErrHashMismatch)
		})
	}
}
