package httpxfer

import (
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/smallfile"
)

// A slow download commits on time, not only every CommitBytes: what a
// crash would leave (the state file, read while the download runs) holds
// the bytes of all but the last few seconds.
func TestDownloadCommitsOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		data := randomData(1 << 20)
		var sent atomic.Int64
		slow := func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
			_ = conn.SetDeadline(time.Time{})
			a, b := askedRange(req, len(fs.data))
			_, _ = fmt.Fprintf(conn, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n\r\n", a, b, len(fs.data), b-a+1)
			for off := a; off <= b; off += 2 << 10 { // 20 KiB/s
				if _, err := conn.Write(fs.data[off:min(off+2<<10, b+1)]); err != nil {
					return false
				}
				sent.Add(2 << 10)
				time.Sleep(100 * time.Millisecond)
			}
			_, _ = io.Copy(io.Discard, conn)
			return false
		}
		fs := newPipeFake(t, "127.0.0.1:7001", data, slow)
		defer fs.stop()
		dir := t.TempDir()
		d := NewDownloader(DownloaderConfig{Dir: dir, Dialer: newPipeDialer(fs)}) // 16 MiB, 5 s
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := d.Download(ctx, Request{Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()}})
			done <- err
		}()
		time.Sleep(12 * time.Second)
		synctest.Wait()
		st, err := loadState(filepath.Join(dir, "f.bin.part.state"))
		require.NoError(t, err, "a state file after 12 s")
		var have int64
		for _, c := range st.Chunks {
			have += c.Have
		}
		// The commit at 10 s holds what had arrived then, minus a segment.
		assert.GreaterOrEqual(t, have, int64(160<<10))
		assert.LessOrEqual(t, have, sent.Load())
		part, err := os.ReadFile(filepath.Join(dir, "f.bin.part"))
		require.NoError(t, err)
		assert.Equal(t, data[:have], part[:have], "the bytes the state claims are there")
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
	})
}

// A file already complete in the directory is found, not fetched again
// as "name (1)".
func TestDownloadAlreadyComplete(t *testing.T) {
	data := randomData(3*testChunk + 1)
	tests := []struct {
		name   string
		files  map[string][]byte
		noSize bool
		want   string
	}{
		{name: "under its name", files: map[string][]byte{"f.bin": data}, want: "f.bin"},
		{name: "under its name, size from HEAD", files: map[string][]byte{"f.bin": data}, noSize: true, want: "f.bin"},
		{name: "as an earlier copy", files: map[string][]byte{"f.bin": randomData(len(data)), "f (1).bin": data}, want: "f (1).bin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := startFake(t, data, rebuilding(0, ""))
			dir := t.TempDir()
			for n, b := range tc.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, n), b, 0o644))
			}
			req := Request{Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()}}
			if tc.noSize {
				req.Size = 0
			}
			res, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), req)
			require.NoError(t, err)
			assert.True(t, res.AlreadyComplete)
			assert.Equal(t, filepath.Join(dir, tc.want), res.Path)
			assert.Equal(t, int64(len(data)), res.Size)
			assert.Equal(t, [20]byte(sha1.Sum(data)), [20]byte(res.SHA1))
			assert.Len(t, dirNames(t, dir), len(tc.files), "no new file, no .part")
			for _, r := range fs.requestRanges() {
				assert.Empty(t, r, "no GET, at most the HEAD")
			}
		})
	}

	t.Run("same name, other content: downloaded beside it", func(t *testing.T) {
		fs := startFake(t, data, honest)
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "f.bin"), randomData(len(data)), 0o644))
		res, err := testDownloader(dir, &waitRecorder{}).Download(context.Background(), Request{
			Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
		})
		require.NoError(t, err)
		assert.False(t, res.AlreadyComplete)
		assert.Equal(t, filepath.Join(dir, "f (1).bin"), res.Path)
	})
}

// TestLoadStateBounded: a state file is read up to maxStateBytes, and one
// larger is refused with an error naming it and the limit (the download
// then starts over) instead of being read whole.
func TestLoadStateBounded(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) string {
		head := `{"version":1,"urn":"urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O","size":200000,"chunk_size":65536,"chunks":[]}`
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, append([]byte(head), bytes.Repeat([]byte{' '}, size-len(head))...), 0o600))
		return path
	}
	st, err := loadState(write("at.part.state", maxStateBytes))
	require.NoError(t, err, "exactly at the limit")
	assert.EqualValues(t, 200000, st.Size)

	over := write("over.part.state", maxStateBytes+1)
	_, err = loadState(over)
	require.ErrorIs(t, err, smallfile.ErrTooLarge)
	assert.ErrorContains(t, err, fmt.Sprintf("%s: over %d bytes", over, maxStateBytes))

	_, err = loadState(filepath.Join(dir, "missing.part.state"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
