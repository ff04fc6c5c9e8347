package httpxfer

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// holdSecond serves its first request in full on a connection it closes
// (so nothing is pipelined and the first chunk is in the .part), then
// holds every later request until the test ends; asked is closed when the
// second request arrives.
func holdSecond(t *testing.T, asked chan struct{}) func(*fakeSource, net.Conn, *http.Request, int) bool {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		if n == 0 {
			a, b := askedRange(req, len(fs.data))
			reply206(conn, len(fs.data), a, b, fs.data[a:b+1], "Connection: close")
			return false
		}
		if n == 1 {
			close(asked)
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
		return false
	}
}

// Two Downloaders on one directory: the second is refused while the first
// holds the .part, and does not touch it.
func TestDownloadPartLockedInProcess(t *testing.T) {
	data := randomData(4 * testChunk)
	asked := make(chan struct{})
	fs := startFake(t, data, holdSecond(t, asked))
	dir := t.TempDir()
	req := Request{Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()}}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := testDownloader(dir, &waitRecorder{}).Download(ctx, req)
		first <- err
	}()
	<-asked
	before, err := os.ReadFile(filepath.Join(dir, "f.bin.part"))
	require.NoError(t, err)
	require.Equal(t, data[:testChunk], before[:testChunk])

	_, err = testDownloader(dir, &waitRecorder{}).Download(context.Background(), req)
	require.ErrorIs(t, err, ErrBusy)
	assert.Contains(t, err.Error(), filepath.Join(dir, "f.bin.part")+" is locked by another download")
	after, err := os.ReadFile(filepath.Join(dir, "f.bin.part"))
	require.NoError(t, err)
	assert.Equal(t, before, after, "the refused download left the .part alone")

	cancel()
	require.ErrorIs(t, <-first, context.Canceled)
	// The lock went with the first download: a new one resumes.
	res, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), Request{
		Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{startFake(t, data, honest).source()},
	})
	require.NoError(t, err)
	assert.Equal(t, int64(testChunk), res.Resumed)
	assertFinished(t, dir, res, data, "f.bin")
}

// The same across processes: this test binary, started again, runs the
// first download (TestHelperDownloadChild) and is killed while it holds
// the lock.
func TestDownloadPartLockedAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second process")
	}
	data := randomData(4 * testChunk)
	asked := make(chan struct{})
	fs := startFake(t, data, holdSecond(t, asked))
	dir := t.TempDir()
	sum := sha1.Sum(data)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDownloadChild$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		"GOVENT_TEST_CHILD_DIR="+dir, "GOVENT_TEST_CHILD_SOURCE="+fs.addr.String(),
		"GOVENT_TEST_CHILD_SIZE="+strconv.Itoa(len(data)), "GOVENT_TEST_CHILD_SHA1="+hex.EncodeToString(sum[:]))
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	select {
	case <-asked:
	case err := <-exited:
		t.Fatalf("the child ended before its second request: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the child never asked for its second chunk")
	}
	before, err := os.ReadFile(filepath.Join(dir, "f.bin.part"))
	require.NoError(t, err)

	req := Request{Name: "f.bin", Size: int64(len(data)), SHA1: sum, Sources: []Source{startFake(t, data, honest).source()}}
	_, err = testDownloader(dir, &waitRecorder{}).Download(context.Background(), req)
	require.ErrorIs(t, err, ErrBusy)
	assert.Contains(t, err.Error(), "is locked by another download")
	after, err := os.ReadFile(filepath.Join(dir, "f.bin.part"))
	require.NoError(t, err)
	assert.Equal(t, before, after)

	// A killed process holds no lock.
	require.NoError(t, cmd.Process.Kill())
	<-exited
	exited <- nil // for the cleanup
	res, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), req)
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "f.bin")
}

// TestHelperDownloadChild is the first download of
// TestDownloadPartLockedAcrossProcesses, in its own process.
func TestHelperDownloadChild(t *testing.T) {
	dir := os.Getenv("GOVENT_TEST_CHILD_DIR")
	if dir == "" {
		t.Skip("run by TestDownloadPartLockedAcrossProcesses")
	}
	size, err := strconv.Atoi(os.Getenv("GOVENT_TEST_CHILD_SIZE"))
	require.NoError(t, err)
	var sum [20]byte
	_, err = hex.Decode(sum[:], []byte(os.Getenv("GOVENT_TEST_CHILD_SHA1")))
	require.NoError(t, err)
	src := Source{Addr: netip.MustParseAddrPort(os.Getenv("GOVENT_TEST_CHILD_SOURCE"))}
	_, err = testDownloader(dir, &waitRecorder{}).Download(context.Background(), Request{
		Name: "f.bin", Size: int64(size), SHA1: sum, Sources: []Source{src},
	})
	t.Fatalf("the download was to be killed, it returned %v", err)
}

// Planted symbolic links are refused, never followed: their targets stay.
func TestDownloadRefusesSymlinks(t *testing.T) {
	tests := []struct {
		planted string
		refused bool
	}{
		{"f.bin.part", true},
		{"f.bin.part.state", true},
		{"f.bin.part.state.tmp", false}, // a leftover of ours: replaced, not followed
	}
	for _, tc := range tests {
		t.Run(tc.planted, func(t *testing.T) {
			data := randomData(3 * testChunk)
			fs := startFake(t, data, honest)
			dir, elsewhere := t.TempDir(), t.TempDir()
			victim := filepath.Join(elsewhere, "victim")
			require.NoError(t, os.WriteFile(victim, []byte("precious"), 0o644))
			require.NoError(t, os.Symlink(victim, filepath.Join(dir, tc.planted)))
			res, err := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: testChunk, CommitBytes: 1, Wait: (&waitRecorder{}).wait}).
				Download(context.Background(), Request{Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()}})
			if tc.refused {
				require.Error(t, err)
				assert.Contains(t, err.Error(), filepath.Join(dir, tc.planted)+" is a symbolic link")
				assert.Empty(t, fs.requestRanges(), "nothing fetched")
			} else {
				require.NoError(t, err)
				assertFinished(t, dir, res, data, "f.bin")
			}
			b, err := os.ReadFile(victim)
			require.NoError(t, err)
			assert.Equal(t, "precious", string(b))
		})
	}
}

// A .part whose state records another file's progress is not wiped by a
// download of a different file under the same name.
func TestDownloadKeepsOtherFilesPart(t *testing.T) {
	dir := t.TempDir()
	part := randomData(200000)
	state := `{"version":1,"urn":"urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O","size":200000,"chunk_size":65536,"chunks":[{"i":0,"have":65536}]}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f.bin.part"), part, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f.bin.part.state"), []byte(state), 0o644))
	data := randomData(200000)
	fs := startFake(t, data, honest)
	_, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), Request{
		Name: "f.bin", Size: 200000, SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
	})
	require.ErrorIs(t, err, ErrOtherDownload)
	assert.Contains(t, err.Error(), "holds 65536 bytes of urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O")
	assert.Empty(t, fs.requestRanges())
	b, err := os.ReadFile(filepath.Join(dir, "f.bin.part"))
	require.NoError(t, err)
	assert.Equal(t, part, b)
	b, err = os.ReadFile(filepath.Join(dir, "f.bin.part.state"))
	require.NoError(t, err)
	assert.Equal(t, state, string(b))
}

// The .part is locked before any network work: while a first download
// still waits for a silent source's answer to HEAD, a second one of the
// same name into the same directory, by another Downloader, is refused at
// once. A download that ends before any byte leaves no empty .part.
func TestDownloadPartLockedBeforeHead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		data := randomData(1000)
		silent := newPipeFake(t, "127.0.0.1:7001", data, neverAnswer)
		defer silent.stop()
		dir := t.TempDir()
		req := Request{Name: "f.bin", SHA1: sha1.Sum(data), Sources: []Source{silent.source()}}
		newD := func() *Downloader { return NewDownloader(DownloaderConfig{Dir: dir, Dialer: newPipeDialer(silent)}) }
		ctx, cancel := context.WithCancel(context.Background())
		first := make(chan error, 1)
		go func() {
			_, err := newD().Download(ctx, req)
			first <- err
		}()
		synctest.Wait() // the first waits for the answer to its HEAD
		start := time.Now()
		_, err := newD().Download(context.Background(), req)
		require.ErrorIs(t, err, ErrBusy)
		assert.Zero(t, time.Since(start), "refused before any network work")
		cancel()
		require.ErrorIs(t, <-first, context.Canceled)
		assert.NoFileExists(t, filepath.Join(dir, "f.bin.part"))
	})
}
