package httpxfer

import (
	"context"
	"crypto/sha1"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/thex"
)

// throttled serves honest 206 replies at about bps bytes a second (through
// a pacedConn) and counts the
// body bytes it wrote in served. With tree, it announces the tree in
// X-Thex-URI and serves it.
func throttled(bps int, served *int64, tree ...*thex.Tree) func(*fakeSource, net.Conn, *http.Request, int) bool {
	return throttledLiar(bps, served, nil, tree...)
}

// throttledLiar is throttled, but flips the first byte of each body whose
// range starts at an offset lie accepts.
func throttledLiar(bps int, served *int64, lie func(start int) bool, tree ...*thex.Tree) func(*fakeSource, net.Conn, *http.Request, int) bool {
	return throttledBody(bps, served, func(start int, body []byte) []byte {
		if lie != nil && lie(start) {
			return append([]byte{^body[0]}, body[1:]...)
		}
		return body
	}, tree...)
}

// throttledBody is throttled, but sends as the body of a range starting at
// start what alter makes of the file's bytes.
func throttledBody(bps int, served *int64, alter func(start int, body []byte) []byte, tree ...*thex.Tree) func(*fakeSource, net.Conn, *http.Request, int) bool {
	return func(fs *fakeSource, conn net.Conn, req *http.Request, _ int) bool {
		extra := ""
		if len(tree) > 0 {
			if strings.HasPrefix(req.URL.Path, "/uri-res/N2X") {
				body := tree[0].AppendDIME(nil)
				_, _ = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
				_, _ = conn.Write(body)
				return true
			}
			extra = "X-Thex-URI: " + thex.FormatThexURI(sha1.Sum(fs.data), tree[0].Root()) + "\r\n"
		}
		a, b := askedRange(req, len(fs.data))
		_, _ = fmt.Fprintf(conn, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n%s\r\n", a, b, len(fs.data), b-a+1, extra)
		body := alter(a, fs.data[a:b+1])
		paced := pacedConn{Conn: conn, bps: bps, wrote: func(n int) {
			fs.mu.Lock()
			*served += int64(n)
			fs.mu.Unlock()
		}}
		_, err := paced.Write(body)
		return err == nil
	}
}

// pacedConn writes at about bps bytes a second: in pieces of pacePiece,
// each followed by the time it takes at that rate (virtual time inside a
// synctest bubble). wrote, if set, learns of each piece written before
// that wait.
type pacedConn struct {
	net.Conn
	bps   int
	wrote func(n int)
}

const pacePiece = 4 << 10

func (c pacedConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := c.Conn.Write(p[done:min(done+pacePiece, len(p))])
		done += n
		if c.wrote != nil {
			c.wrote(n)
		}
		if err != nil {
			return done, err
		}
		time.Sleep(time.Duration(n) * time.Second / time.Duration(c.bps))
	}
	return done, nil
}

// servedBy reads a throttled source's counter.
func servedBy(fs *fakeSource, served *int64) int64 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return *served
}

// With one connection slot, the source that advertises the higher speed
// starts; once it is measured slower than the other advertises, the other
// gets the slot, and keeps it while it is measured faster. The result
// ranks them by what they delivered.
func TestDownloadRanksByMeasuredThroughput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		data := randomData(6 * testChunk)
		var slowN, fastN int64
		slow := newPipeFake(t, "127.0.0.1:7001", data, throttled(32<<10, &slowN))
		fast := newPipeFake(t, "127.0.0.1:7002", data, throttled(4<<20, &fastN))
		defer slow.stop()
		defer fast.stop()
		d := NewDownloader(DownloaderConfig{Dir: t.TempDir(), ChunkSize: testChunk, MaxConns: 1, Dialer: newPipeDialer(slow, fast)})
		slowSrc, fastSrc := slow.source(), fast.source()
		slowSrc.Speed = 10000 // kbit/s: 1.25 MB/s claimed, 32 KiB/s delivered
		fastSrc.Speed = 1000  // 125 kB/s claimed
		res, err := d.Download(context.Background(), Request{Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data),
			Sources: []Source{fastSrc, slowSrc}})
		require.NoError(t, err)
		assert.Equal(t, []string{"bytes=0-65535"}, slow.requestRanges(), "the best advertised starts, with the first chunk, and only that")
		assert.Equal(t, int64(testChunk), servedBy(slow, &slowN))
		assert.Equal(t, int64(5*testChunk), servedBy(fast, &fastN))
		require.Len(t, res.Sources, 2)
		assert.Equal(t, fastSrc.String(), res.Sources[0].Source.String(), "ranked first by measurement")
		assert.Equal(t, int64(5*testChunk), res.Sources[0].Bytes)
		assert.Equal(t, int64(testChunk), res.Sources[1].Bytes)
		assert.InDelta(t, 32<<10, res.Sources[1].Rate, 4<<10, "the slow one's measured rate")
		assert.Greater(t, res.Sources[0].Rate, float64(1<<20))
	})
}

// The order of the ranking: a free slot before a queue place (nearer
// first), then throughput (measured, else advertised), then direct before
// Push, then arrival.
func TestCompareSources(t *testing.T) {
	now := time.Unix(1000, 0)
	measured := func(key string, got int64, took time.Duration) *srcState {
		return &srcState{key: key, got: got, bodyTime: took}
	}
	free := measured("free", 10, time.Second)
	queued := measured("queued 3", 1<<20, time.Second)
	queued.queuePos = 3
	nearer := measured("queued 1", 10, time.Second)
	nearer.queuePos = 1
	fast := measured("fast", 1<<20, time.Second)
	claims := &srcState{key: "claims 1 Mbit/s", src: Source{Speed: 1000}} // 125,000 B/s
	direct := &srcState{key: "direct", order: 5}
	push := &srcState{key: "push", src: Source{Push: true}, order: 1}
	early := &srcState{key: "early", order: 0}
	dropped := measured("dropped", 1<<30, time.Second)
	dropped.dropped = true
	for _, tc := range []struct{ better, worse *srcState }{
		{free, queued}, {nearer, queued}, {fast, free}, {fast, claims}, {claims, free},
		{direct, push}, {early, direct}, {free, dropped},
	} {
		assert.Negative(t, compareSources(tc.better, tc.worse, now), "%s before %s", tc.better.key, tc.worse.key)
		assert.Positive(t, compareSources(tc.worse, tc.better, now), "%s after %s", tc.worse.key, tc.better.key)
	}
	// A body in progress counts with its time so far.
	inBody := &srcState{key: "in body", got: 1 << 20, bodyStart: now.Add(-4 * time.Second)}
	assert.InDelta(t, float64(1<<18), inBody.rateLocked(now), 1)
}

// The endgame: when the last chunk in flight is the slow source's, the
// fast source, idle, takes over its tail. The slow source keeps what it
// wrote and serves a small part of its chunk instead of all of it; every
// byte of the file is written once, and the file verifies (by SHA-1, and
// with a tree segment by segment, the split chunk included).
func TestDownloadEndgameSplitsSlowChunk(t *testing.T) {
	for _, withTree := range []bool{false, true} {
		t.Run(fmt.Sprint("tree=", withTree), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testEndgame(t, withTree) })
		})
	}
}

func testEndgame(t *testing.T, withTree bool) {
	// Segments of 128 KiB: with a tree, the split goes up to the next
	// segment boundary.
	const chunk = 1 << 20
	data := randomData(4 * chunk)
	tree := treeOf(data)
	var trees []*thex.Tree
	if withTree {
		trees = append(trees, tree)
	}
	var slowN, fastN int64
	slow := newPipeFake(t, "127.0.0.1:7001", data, throttled(32<<10, &slowN, trees...))
	fast := newPipeFake(t, "127.0.0.1:7002", data, throttled(4<<20, &fastN, trees...))
	res := slowAndFast(t, chunk, data, tree, withTree, slow, fast)
	assert.Equal(t, withTree, res.TreeVerified)
	assert.Equal(t, 1, res.Splits)
	// The slow source's first chunk (it gets one when the download starts).
	var first string
	for _, r := range slow.requestRanges() {
		if first == "" && r != "" { // "" asked for the tree
			first = r
		}
	}
	_, end, ok := strings.Cut(first, "-")
	require.True(t, ok && strings.HasPrefix(first, "bytes=") && (end == "1048575" || end == "2097151"), "the slow source's first range %q", first)
	// Without the endgame the slow source would send its whole chunk
	// while the fast one waits.
	assert.Less(t, servedBy(slow, &slowN), int64(chunk/4), "the slow source sent a small part of its chunk")
	got := map[string]int64{}
	for _, st := range res.Sources {
		got[st.Source.String()] = st.Bytes
	}
	assert.Positive(t, got[slow.source().String()], "the slow source's bytes are kept")
	assert.Equal(t, int64(len(data)), got[slow.source().String()]+got[fast.source().String()], "every byte written once")
	// The fast source fetched the tail of that chunk: a range that starts
	// inside it and ends with it.
	tail := ""
	for _, r := range fast.requestRanges() {
		if strings.HasSuffix(r, "-"+end) && r != first {
			tail = r
		}
	}
	assert.NotEmpty(t, tail, "the fast source asked for the tail of %q: %q", first, fast.requestRanges())
}

// slowAndFast downloads data from the two (slow listed first) over two
// connections, with tree's root when withTree, and checks the file.
func slowAndFast(t *testing.T, chunk int64, data []byte, tree *thex.Tree, withTree bool, slow, fast *fakeSource) Result {
	t.Helper()
	defer slow.stop()
	defer fast.stop()
	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: chunk, MaxConns: 2, Dialer: newPipeDialer(slow, fast)})
	res, err := d.Download(context.Background(), Request{Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data),
		TTH: tree.Root(), HasTTH: withTree, Sources: []Source{slow.source(), fast.source()}})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "f.bin")
	return res
}

// A fast source that lies in the tail it took over is caught by THEX at
// that segment and blamed; the chunk is fetched again from the honest
// source, and the file is right.
func TestDownloadEndgameTailLiarCaught(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Segments of 128 KiB in chunks of 1 MiB: the split falls on a
		// segment boundary, so the tail's segments are the liar's alone.
		const chunk = 1 << 20
		data := randomData(4 * chunk)
		tree := treeOf(data)
		require.Equal(t, int64(128<<10), tree.ChunkSize())
		var slowN, fastN int64
		slow := newPipeFake(t, "127.0.0.1:7001", data, throttled(32<<10, &slowN, tree))
		// Honest for whole chunks, lying in a tail (a range that starts
		// inside a chunk).
		fast := newPipeFake(t, "127.0.0.1:7002", data, throttledLiar(4<<20, &fastN, func(start int) bool { return start%chunk != 0 }, tree))
		res := slowAndFast(t, chunk, data, tree, true, slow, fast)
		assert.True(t, res.TreeVerified)
		assert.Equal(t, 1, res.Splits)
		assert.Positive(t, res.BadChunks)
		require.Len(t, res.Dropped, 1)
		assert.Equal(t, fast.source().String(), res.Dropped[0].Source.String())
		assert.ErrorIs(t, res.Dropped[0].Err, ErrHashMismatch)
	})
}

// The endgame moves a tail only to a source measured endgameSpeedup times
// faster: one half again as fast as the holder of the last chunk waits
// for it, and every chunk is fetched whole by one source.
func TestDownloadEndgameNeedsTwiceTheRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const chunk = 1 << 20
		data := randomData(4 * chunk)
		var slowN, fastN int64
		slow := newPipeFake(t, "127.0.0.1:7001", data, throttled(1<<20, &slowN))
		fast := newPipeFake(t, "127.0.0.1:7002", data, throttled(3<<19, &fastN))
		res := slowAndFast(t, chunk, data, treeOf(data), false, slow, fast)
		assert.Zero(t, res.Splits)
		for _, r := range append(slow.requestRanges(), fast.requestRanges()...) {
			a, _ := askedRange(&http.Request{Header: http.Header{"Range": {r}}}, len(data))
			assert.Zero(t, a%chunk, "every range a whole chunk: %q", r)
		}
		assert.Equal(t, int64(len(data)), servedBy(slow, &slowN)+servedBy(fast, &fastN), "every byte sent once")
	})
}
