package httpxfer

import (
	"context"
	"crypto/rand"
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

	"github.com/govent/govent/wire"
)

const testChunk = 64 << 10

func randomData(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// testDownloader is the Downloader of most tests: over TCP, or with
// ends, over pipes to them (pipeDialer).
func testDownloader(dir string, w *waitRecorder, ends ...pipeEnd) *Downloader {
	cfg := DownloaderConfig{
		Dir: dir, ChunkSize: testChunk, MaxFailures: 2,
		ResponseTimeout: 10 * time.Second, Wait: w.wait,
	}
	if len(ends) > 0 {
		cfg.Dialer = newPipeDialer(ends...)
	}
	return NewDownloader(cfg)
}

// assertFinished checks the final file and that nothing else is left.
func assertFinished(t *testing.T, dir string, res Result, want []byte, name string) {
	t.Helper()
	assertSaved(t, dir, res, want, name)
	assert.Equal(t, wire.SHA1(sha1.Sum(want)), res.SHA1)
}

// assertFinishedByTree: the download by d finished, proved by the tree
// alone (Request.RootNamed): nothing was read for the SHA-1 once the tree
// was set, and it was not computed.
func assertFinishedByTree(t *testing.T, d *Downloader, dir string, res Result, want []byte, name string) {
	t.Helper()
	assertSaved(t, dir, res, want, name)
	assert.True(t, res.TreeVerified)
	assert.Zero(t, res.SHA1, "SHA-1 not computed")
	assert.Zero(t, d.sha1Read.Load(), "no SHA-1 read once the tree was set")
}

// assertTreeFinished: the download by d finished, every byte checked
// against the tree; by the tree alone when named (Request.RootNamed),
// else by the SHA-1 too.
func assertTreeFinished(t *testing.T, d *Downloader, dir string, res Result, want []byte, name string, named bool) {
	t.Helper()
	if named {
		assertFinishedByTree(t, d, dir, res, want, name)
		return
	}
	assertFinished(t, dir, res, want, name)
	assert.True(t, res.TreeVerified)
}

func assertSaved(t *testing.T, dir string, res Result, want []byte, name string) {
	t.Helper()
	assert.Equal(t, filepath.Join(dir, name), res.Path)
	got, err := os.ReadFile(res.Path)
	require.NoError(t, err)
	assert.Equal(t, sha1.Sum(want), sha1.Sum(got), "content")
	assert.Equal(t, int64(len(want)), res.Size)
	assert.Equal(t, []string{name}, dirNames(t, dir), "no .part or state left")
}

func TestDownloadSingleSource(t *testing.T) {
	lib := &memLibrary{}
	f, data := shareFile(t, t.TempDir(), 7, "penny lane.mp3", 300000) // not chunk-aligned
	lib.add(f)
	srv := startUploader(t, UploaderConfig{Library: lib})
	src := Source{Addr: srv.addr, Index: 7, Name: "penny lane.mp3"}
	tests := []struct {
		name string
		req  Request
	}{
		{"by urn with known size", Request{Name: "penny lane.mp3", Size: f.Size, SHA1: f.SHA1}},
		{"by /get/ without urn", Request{Name: "penny lane.mp3", Size: f.Size}},
		{"size asked with HEAD", Request{Name: "penny lane.mp3", SHA1: f.SHA1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.req.Sources = []Source{src}
			res, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), tc.req)
			require.NoError(t, err)
			assertFinished(t, dir, res, data, "penny lane.mp3")
			assert.Empty(t, res.Dropped)
			assert.Zero(t, res.Resumed)
		})
	}
}

func TestDownloadNeverOverwrites(t *testing.T) {
	data := randomData(1000)
	fs := startFake(t, data, honest)
	dir := t.TempDir()
	for _, n := range []string{"song.mp3", "song (1).mp3"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("mine"), 0o644))
	}
	res, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), Request{
		Name: "song.mp3", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
	})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "song (2).mp3"), res.Path)
	for _, n := range []string{"song.mp3", "song (1).mp3"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		require.NoError(t, err)
		assert.Equal(t, "mine", string(b))
	}
	assert.ElementsMatch(t, []string{"song.mp3", "song (1).mp3", "song (2).mp3"}, dirNames(t, dir))
}

func TestDownloadHostileName(t *testing.T) {
	data := randomData(100)
	fs := startFake(t, data, honest)
	dir := t.TempDir()
	res, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), Request{
		Name: "../../etc/pass\x00wd", Size: 100, SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
	})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "passwd"), res.Path)
}

func TestSanitizeName(t *testing.T) {
	tests := map[string]string{
		"penny lane.mp3":         "penny lane.mp3",
		"../../etc/passwd":       "passwd",
		`C:\Windows\evil.exe`:    "evil.exe",
		"/abs/path.txt":          "path.txt",
		"a\x00b\nc":              "abc",
		"":                       "download",
		"..":                     "download",
		"dir/":                   "download",
		strings.Repeat("x", 300): strings.Repeat("x", 200),
	}
	for in, want := range tests {
		assert.Equal(t, want, sanitizeName(in), "%q", in)
	}
}

// Kill the source mid-transfer, then resume with another: the second
// download asks only for what the .part lacks.
func TestDownloadResume(t *testing.T) {
	data := randomData(300000)
	const cut = 150000 // bytes the first source sends before dying
	sent := 0
	dying := startFake(t, data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		a, b := askedRange(req, len(fs.data))
		body := fs.data[a : b+1]
		if sent+len(body) >= cut {
			body = body[:cut-sent]
			defer fs.kill()
		}
		sent += len(body)
		head := "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " + strconv.Itoa(a) + "-" + strconv.Itoa(b) + "/300000\r\nContent-Length: " + strconv.Itoa(b-a+1) + "\r\n\r\n"
		_, _ = conn.Write(append([]byte(head), body...))
		return true
	})
	dir := t.TempDir()
	req := Request{Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{dying.source()}}
	res, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), req)
	require.ErrorIs(t, err, ErrNoSources)
	assert.Empty(t, res.Path)
	assert.ElementsMatch(t, []string{"f.bin.part", "f.bin.part.state"}, dirNames(t, dir))

	second := startFake(t, data, honest)
	req.Sources = []Source{second.source()}
	res, err = testDownloader(dir, &waitRecorder{}).Download(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, int64(cut), res.Resumed)
	ranges := second.requestRanges()
	require.NotEmpty(t, ranges)
	// 150000 lies in the third 64 KiB chunk [131072, 196607].
	assert.Equal(t, "bytes=150000-196607", ranges[0])
	assert.Equal(t, []string{"bytes=150000-196607", "bytes=196608-262143", "bytes=262144-299999"}, ranges)
	assertFinished(t, dir, res, data, "f.bin")
}

// A state file that does not match the request (other file) and records
// no progress is not used. (One with progress refuses the download:
// TestDownloadKeepsOtherFilesPart.)
func TestDownloadIgnoresForeignState(t *testing.T) {
	data := randomData(200000)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f.bin.part"), randomData(200000), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f.bin.part.state"),
		[]byte(`{"version":1,"urn":"urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O","size":200000,"chunk_size":65536,"chunks":[]}`), 0o644))
	fs := startFake(t, data, honest)
	res, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), Request{
		Name: "f.bin", Size: 200000, SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
	})
	require.NoError(t, err)
	assert.Zero(t, res.Resumed)
	assert.Equal(t, "bytes=0-65535", fs.requestRanges()[0])
	assertFinished(t, dir, res, data, "f.bin")
}

func TestDownloadMisbehavingSource(t *testing.T) {
	const size = 5*testChunk + 1234
	type behaviour = func(*fakeSource, net.Conn, *http.Request, int) bool
	tests := []struct {
		name      string
		bad       behaviour
		withGood  bool // an honest second source, held until bad answered once
		blamed    bool // bad is dropped for the SHA-1 mismatch
		dropped   bool // bad is dropped for another reason
		mayDrop   bool // bad may or may not be dropped (timing)
		waits     []time.Duration
		badRanges []string // exact requests bad sees; nil: not checked
	}{
		{name: "corrupts every chunk", bad: corruptEvery, withGood: true, blamed: true},
		// Its port then refuses: tried again after the 2 s backoff.
		{name: "dies mid-chunk", bad: sendHalfThenDie, withGood: true, mayDrop: true, waits: []time.Duration{2 * time.Second}},
		{name: "503 then works", bad: busyFirst("17"), waits: []time.Duration{17 * time.Second}},
		{name: "503 with Retry-After under the floor", bad: busyFirst("2"), waits: []time.Duration{minPoll}},
		{name: "503 with Retry-After over the bound", bad: busyFirst("999999"), waits: []time.Duration{5 * time.Minute}},
		{name: "503 without a usable Retry-After", bad: busyFirst("soon"), waits: []time.Duration{30 * time.Second}},
		{name: "sends more bytes than promised", bad: tooManyBytes},
		{name: "Content-Range wider than asked", bad: widerRange},
		{name: "sends fewer bytes than promised", bad: tooFewFirst, badRanges: []string{
			"bytes=0-65535", "bytes=32768-65535", "bytes=65536-131071", "bytes=131072-196607",
			"bytes=196608-262143", "bytes=262144-327679", "bytes=327680-328913"}},
		{name: "404", bad: status(404, "Not Found"), withGood: true, dropped: true},
		{name: "416", bad: status(416, "Requested Range Not Satisfiable"), withGood: true, dropped: true},
		// A 200 is fine for a chunk at 0; bad is dropped once asked for another.
		{name: "200 ignoring Range", bad: ignoresRange, withGood: true, mayDrop: true},
		{name: "wrong total size", bad: wrongSize, withGood: true, dropped: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				data := randomData(size)
				bad := newPipeFake(t, "127.0.0.1:7001", data, tc.bad)
				defer bad.stop()
				sources := []Source{bad.source()}
				ends := []pipeEnd{bad}
				var good *fakeSource
				if tc.withGood {
					good = newPipeFake(t, "127.0.0.1:7002", data, honest, bad.first)
					defer good.stop()
					sources = append(sources, good.source())
					ends = append(ends, good)
				}
				dir := t.TempDir()
				w := &waitRecorder{}
				res, err := testDownloader(dir, w, ends...).Download(context.Background(), Request{
					Name: "f.bin", Size: size, SHA1: sha1.Sum(data), Sources: sources,
				})
				require.NoError(t, err)
				assertFinished(t, dir, res, data, "f.bin")
				assert.Equal(t, tc.waits, w.recorded())
				if tc.badRanges != nil {
					assert.Equal(t, tc.badRanges, bad.requestRanges())
				}
				switch {
				case tc.mayDrop:
					for _, sf := range res.Dropped {
						assert.NotErrorIs(t, sf.Err, ErrHashMismatch)
					}
				case tc.blamed:
					require.Len(t, res.Dropped, 1)
					assert.Equal(t, bad.source(), res.Dropped[0].Source)
					assert.ErrorIs(t, res.Dropped[0].Err, ErrHashMismatch)
				case tc.dropped:
					require.Len(t, res.Dropped, 1)
					assert.Equal(t, bad.source(), res.Dropped[0].Source)
					assert.NotErrorIs(t, res.Dropped[0].Err, ErrHashMismatch)
				default:
					assert.Empty(t, res.Dropped)
				}
				if tc.name == "dies mid-chunk" {
					// Nothing the dying source wrote is fetched again.
					var fetched int
					for _, r := range good.requestRanges() {
						a, b := askedRange(&http.Request{Header: http.Header{"Range": {r}}}, size)
						fetched += b - a + 1
					}
					assert.Equal(t, size-testChunk/2, fetched)
				}
			})
		})
	}
}

func TestDownloadGtkCap(t *testing.T) {
	data := randomData(3 << 19) // 1.5 MiB
	fs := startFake(t, data, gtkCap)
	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir, Wait: (&waitRecorder{}).wait}) // 1 MiB chunks
	res, err := d.Download(context.Background(), Request{Name: "big.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()}})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "big.bin")
	assert.Equal(t, []string{"bytes=0-1048575", "bytes=524288-1048575", "bytes=1048576-1572863"}, fs.requestRanges())
}

func TestDownloadOnlyLiarKeepsNothing(t *testing.T) {
	data := randomData(3 * testChunk)
	fs := startFake(t, data, corruptEvery)
	dir := t.TempDir()
	res, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), Request{
		Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
	})
	require.ErrorIs(t, err, ErrHashMismatch)
	assert.Empty(t, res.Path)
	assert.Empty(t, dirNames(t, dir), "no final file, .part or state")
	require.Len(t, res.Dropped, 1)
	assert.ErrorIs(t, res.Dropped[0].Err, ErrHashMismatch)
	// It says the mismatch once, and what the source did: nothing was
	// replaced, nothing verified.
	assert.EqualError(t, err, `download "f.bin": no usable source left: `+fs.source().String()+
		": SHA-1 mismatch: it wrote every chunk, and the file does not match")
}

func TestDownloadManySourcesMisbehaving(t *testing.T) {
	const size = 40*testChunk + 77
	data := randomData(size)
	lib := &memLibrary{}
	f := File{Index: 1, Name: "f.bin", Size: size, SHA1: sha1.Sum(data), Path: filepath.Join(t.TempDir(), "f.bin")}
	require.NoError(t, os.WriteFile(f.Path, data, 0o644))
	lib.add(f)
	up := startUploader(t, UploaderConfig{Library: lib})
	liar := startFake(t, data, corruptEvery)
	sources := []Source{liar.source()}
	for _, b := range []func(*fakeSource, net.Conn, *http.Request, int) bool{
		sendHalfThenDie, busyFirst("3"), tooManyBytes, tooFewFirst, widerRange, gtkCap,
	} {
		sources = append(sources, startFake(t, data, b).source())
	}
	sources = append(sources, Source{Addr: up.addr})
	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: testChunk, MaxConns: 8, MaxFailures: 2, Wait: (&waitRecorder{}).wait})
	res, err := d.Download(context.Background(), Request{Name: "f.bin", Size: size, SHA1: f.SHA1, Sources: sources})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "f.bin")
	for _, sf := range res.Dropped {
		if sf.Source.String() == liar.source().String() {
			assert.ErrorIs(t, sf.Err, ErrHashMismatch)
		} else {
			assert.NotErrorIs(t, sf.Err, ErrHashMismatch, "%s blamed", sf.Source)
		}
	}
}

func TestDownloadCancelThenResume(t *testing.T) {
	data := randomData(4 * testChunk)
	ctx, cancel := context.WithCancel(context.Background())
	stalls := startFake(t, data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		if n == 1 {
			cancel() // the caller gives up while the second chunk is asked
			return false
		}
		return honest(fs, conn, req, n)
	})
	dir := t.TempDir()
	req := Request{Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{stalls.source()}}
	_, err := testDownloader(dir, &waitRecorder{}).Download(ctx, req)
	require.ErrorIs(t, err, context.Canceled)

	fs := startFake(t, data, honest)
	req.Sources = []Source{fs.source()}
	res, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), req)
	require.NoError(t, err)
	// The cancel lands while the first chunk's body is still arriving or
	// just after it: whatever reached the .part is kept and the resume asks
	// for exactly the rest, never for bytes it already has.
	require.Greater(t, res.Resumed, int64(0), "nothing of the first chunk was kept")
	require.LessOrEqual(t, res.Resumed, int64(testChunk))
	end := int64(testChunk) - 1
	if res.Resumed == testChunk {
		end = 2*testChunk - 1
	}
	assert.Equal(t, fmt.Sprintf("bytes=%d-%d", res.Resumed, end), fs.requestRanges()[0])
	assertFinished(t, dir, res, data, "f.bin")
}

func TestDownloadSameNameTwice(t *testing.T) {
	data := randomData(1000)
	release := make(chan struct{})
	fs := startFake(t, data, honest, release)
	dir := t.TempDir()
	d := testDownloader(dir, &waitRecorder{})
	req := Request{Name: "f.bin", Size: 1000, SHA1: sha1.Sum(data), Sources: []Source{fs.source()}}
	done := make(chan error, 1)
	go func() {
		_, err := d.Download(context.Background(), req)
		done <- err
	}()
	<-fs.arrived // the first download holds the name now
	_, err := d.Download(context.Background(), req)
	assert.ErrorIs(t, err, ErrBusy)
	close(release)
	assert.NoError(t, <-done)
}

// A source that accepts and never answers holds its chunk only until the
// response time limit; a source with a huge head is not read past the limit.
func TestDownloadSlowAndHugeHeadSources(t *testing.T) {
	synctest.Test(t, testSlowAndHugeHeadSources)
}

func testSlowAndHugeHeadSources(t *testing.T) {
	data := randomData(4 * testChunk)
	never := make(chan struct{}) // closed only when the test ends
	defer close(never)
	silent := newPipeFake(t, "127.0.0.1:7001", data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		return false
	}, never)
	huge := newPipeFake(t, "127.0.0.1:7002", data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		_, _ = conn.Write([]byte("HTTP/1.1 206 Partial Content\r\n" + strings.Repeat("X-Pad: 0123456789\r\n", 1000)))
		return false
	})
	good := newPipeFake(t, "127.0.0.1:7003", data, honest, huge.first)
	defer silent.stop()
	defer huge.stop()
	defer good.stop()
	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: testChunk, MaxFailures: 1,
		AnswerTimeout: 200 * time.Millisecond, ResponseTimeout: 200 * time.Millisecond, Wait: (&waitRecorder{}).wait, Dialer: newPipeDialer(silent, huge, good)})
	res, err := d.Download(context.Background(), Request{Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data),
		Sources: []Source{silent.source(), huge.source(), good.source()}})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "f.bin")
	var dropped []Source
	for _, sf := range res.Dropped {
		dropped = append(dropped, sf.Source)
	}
	assert.Contains(t, dropped, huge.source())
}
