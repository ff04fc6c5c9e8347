package httpxfer

import (
	"context"
	"crypto/sha1"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

// A download stopped (Ctrl-C, or a crash after a commit) while a faster
// source was fetching the tail of a chunk split in the endgame keeps that
// tail's bytes as it keeps the prefix's: the next run resumes every byte
// written before the stop and asks for the others only. The resumed bytes
// are trusted no more than before: the tree checks them, or the SHA-1.
func TestResumeKeepsEndgameTail(t *testing.T) {
	for _, withTree := range []bool{false, true} {
		t.Run(fmt.Sprint("tree=", withTree), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testResumeKeepsEndgameTail(t, withTree) })
		})
	}
}

func testResumeKeepsEndgameTail(t *testing.T, withTree bool) {
	const chunk = 1 << 20
	data := randomData(4 * chunk)
	tree := treeOf(data)
	var trees []*thex.Tree
	if withTree {
		trees = append(trees, tree)
	}
	req := Request{Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), TTH: tree.Root(), HasTTH: withTree}
	dir := t.TempDir()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var slowN, fastN, againN int64
	slow := newPipeFake(t, "127.0.0.1:7001", data, throttled(32<<10, &slowN, trees...))
	fastBody := throttled(4<<20, &fastN, trees...)
	fast := newPipeFake(t, "127.0.0.1:7002", data, func(fs *fakeSource, conn net.Conn, r *http.Request, n int) bool {
		if a, _ := askedRange(r, len(data)); r.Header.Get("Range") != "" && a%chunk != 0 {
			// The tail of the split chunk: stop once some 200 KiB are in.
			time.AfterFunc(50*time.Millisecond, cancel)
		}
		return fastBody(fs, conn, r, n)
	})
	d := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: chunk, MaxConns: 2, Dialer: newPipeDialer(slow, fast)})
	req.Sources = []Source{slow.source(), fast.source()}
	res, err := d.Download(ctx, req)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, res.Splits)
	var written int64 // every byte written once, and committed at the stop
	for _, st := range res.Sources {
		written += st.Bytes
	}
	slow.stop()
	fast.stop()
	require.Less(t, written, int64(len(data)))
	st, err := loadState(filepath.Join(dir, "f.bin.part.state"))
	require.NoError(t, err)
	assert.Equal(t, withTree, len(st.Tree) > 0, "the state keeps the tree")

	again := newPipeFake(t, "127.0.0.1:7003", data, throttled(64<<20, &againN, trees...))
	defer again.stop()
	d = NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: chunk, Dialer: newPipeDialer(again)})
	req.Sources = []Source{again.source()}
	res, err = d.Download(t.Context(), req)
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "f.bin")
	assert.Equal(t, withTree, res.TreeVerified)
	assert.Equal(t, written, res.Resumed, "every byte written before the stop is resumed")
	assert.Equal(t, int64(len(data))-written, rangeBytes(again.requestRanges()), "only the bytes not written are asked for: %v", again.requestRanges())
}

// Tail claims the .part cannot back, or that overlap the prefix or pass
// the chunk's end, are no progress: the download starts over.
func TestResumeRefusesBadTailClaims(t *testing.T) {
	data := randomData(2 * testChunk)
	sum := wire.SHA1(sha1.Sum(data))
	for _, tc := range []struct {
		name    string
		c       stateChunk
		resumed int64
	}{
		{"good", stateChunk{Index: 0, Have: 100, TailAt: 1000, TailHave: 500}, 600},
		{"prefix past the tail", stateChunk{Index: 0, Have: 1001, TailAt: 1000, TailHave: 500}, 0},
		{"past the chunk", stateChunk{Index: 0, Have: 100, TailAt: testChunk - 10, TailHave: 11}, 0},
		{"tail at 0", stateChunk{Index: 0, TailAt: 0, TailHave: 10}, 0},
		{"negative", stateChunk{Index: 0, Have: 100, TailAt: 1000, TailHave: -5}, 0},
		{"past the .part", stateChunk{Index: 1, Have: 0, TailAt: 1000, TailHave: testChunk - 1000}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "f.bin.part"), data[:testChunk+2000], 0o644))
			writeState(t, dir, "f.bin", stateFile{Version: stateVersion, URN: sum.String(), Size: int64(len(data)),
				ChunkSize: testChunk, Chunks: []stateChunk{tc.c}})
			fs := startFake(t, data, honest)
			res, err := testDownloader(dir, &waitRecorder{}).Download(t.Context(), Request{
				Name: "f.bin", Size: int64(len(data)), SHA1: sum, Sources: []Source{fs.source()},
			})
			require.NoError(t, err)
			assert.Equal(t, tc.resumed, res.Resumed)
			assertFinished(t, dir, res, data, "f.bin")
		})
	}
}

// After a crash the .part holds bytes past what the state claims (written
// since the last commit). With the tree the previous run kept in the
// state, a resume keeps those of them it proves, whole segments up to the
// first that does not match; without it, what the state claims only.
func TestResumeKeepsBytesTheTreeProves(t *testing.T) {
	const chunk = 1 << 20
	data := randomData(4 * chunk)
	tree := treeOf(data)
	require.Equal(t, int64(128<<10), tree.ChunkSize())
	// On disk: chunk 0 whole, chunk 1 to 900 KiB, chunk 2 to 300 KiB with
	// a bad byte at 200 KiB; the state claims chunk 0 and 100 KiB of 1.
	disk := append([]byte(nil), data[:2*chunk+300<<10]...)
	clear(disk[chunk+900<<10 : 2*chunk]) // a hole
	disk[2*chunk+200<<10] ^= 0xff
	for _, tc := range []struct {
		name    string
		tree    []byte
		resumed int64
	}{
		{"with the tree", tree.AppendDIME(nil), chunk + 7*128<<10 + 128<<10},
		{"without", nil, chunk + 100<<10},
		{"with another file's tree", treeOf(randomData(4 * chunk)).AppendDIME(nil), chunk + 100<<10},
	} {
		for _, named := range []bool{false, true} {
			t.Run(fmt.Sprint(tc.name, "/rootNamed=", named), func(t *testing.T) { resumeProved(t, disk, data, tree, tc.tree, tc.resumed, named) })
		}
	}
}

// resumeProved resumes the download of data from the .part disk and a
// state that keeps kept as its tree, and checks that it resumed from
// resumed bytes. With named (Request.RootNamed) the tree alone proves the
// file: nothing is read for the SHA-1 once the tree is set.
func resumeProved(t *testing.T, disk, data []byte, tree *thex.Tree, kept []byte, resumed int64, named bool) {
	const chunk = 1 << 20
	sum := wire.SHA1(sha1.Sum(data))
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "f.bin.part"), disk, 0o644))
		writeState(t, dir, "f.bin", stateFile{Version: stateVersion, URN: sum.String(), Size: int64(len(data)),
			ChunkSize: chunk, Tree: kept, Chunks: []stateChunk{{Index: 0, Have: chunk}, {Index: 1, Have: 100 << 10}}})
		var n int64
		src := newPipeFake(t, "127.0.0.1:7003", data, throttled(64<<20, &n, tree))
		defer src.stop()
		d := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: chunk, Dialer: newPipeDialer(src)})
		res, err := d.Download(t.Context(), Request{Name: "f.bin", Size: int64(len(data)), SHA1: sum,
			TTH: tree.Root(), HasTTH: true, RootNamed: named, Sources: []Source{src.source()}})
		require.NoError(t, err)
		assertTreeFinished(t, d, dir, res, data, "f.bin", named)
		assert.Equal(t, resumed, res.Resumed)
		assert.Equal(t, int64(len(data))-resumed, rangeBytes(src.requestRanges()), "only what is not proved is fetched: %v", src.requestRanges())
	})
}

// rangeBytes sums the "bytes=a-b" ranges of requests; "" (the tree) counts
// nothing.
func rangeBytes(ranges []string) int64 {
	var n int64
	for _, r := range ranges {
		if r == "" {
			continue
		}
		a, b, _ := strings.Cut(strings.TrimPrefix(r, "bytes="), "-")
		first, _ := strconv.ParseInt(a, 10, 64)
		last, _ := strconv.ParseInt(b, 10, 64)
		n += last - first + 1
	}
	return n
}
