package httpxfer

import (
	"context"
	"crypto/sha1"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The .part has the blocks of the whole file from the start, its size
// still what was written (a resume reads the size as before): writeback
// then allocates no blocks while workers write (it held ext4's i_data_sem
// against their pwrites and splices).
func TestPartPreallocated(t *testing.T) {
	const size = 8 * testChunk
	data := randomData(size)
	src := startFake(t, data, sendHalfThenDie)
	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: testChunk, MaxFailures: 1, Wait: (&waitRecorder{}).wait})
	_, err := d.Download(context.Background(), Request{Name: "f.bin", Size: size, SHA1: sha1.Sum(data), Sources: []Source{src.source()}})
	require.ErrorIs(t, err, ErrNoSources)
	fi, err := os.Stat(filepath.Join(dir, "f.bin.part"))
	require.NoError(t, err)
	assert.Equal(t, int64(testChunk/2), fi.Size(), "the size is what was written")
	if !canFallocate(t, dir) {
		t.Skip("the file system of the temporary directory has no fallocate")
	}
	st := fi.Sys().(*syscall.Stat_t)
	assert.GreaterOrEqual(t, st.Blocks*512, int64(size), "blocks for the whole file")
}

func canFallocate(t *testing.T, dir string) bool {
	f, err := os.CreateTemp(dir, "fallocate")
	require.NoError(t, err)
	defer os.Remove(f.Name())
	defer f.Close()
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, 1<<20) == nil
}
