package smallfile

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte{'x'}, n), 0o600))
		return path
	}
	t.Run("exactly at the limit", func(t *testing.T) {
		b, err := Read(write("at", 100), 100)
		require.NoError(t, err)
		assert.Len(t, b, 100)
	})
	t.Run("one byte over", func(t *testing.T) {
		path := write("over", 101)
		b, err := Read(path, 100)
		require.ErrorIs(t, err, ErrTooLarge)
		assert.Nil(t, b)
		assert.Equal(t, path+": over 100 bytes: file over its size limit", err.Error(), "names the file and the limit")
	})
	t.Run("empty", func(t *testing.T) {
		b, err := Read(write("empty", 0), 100)
		require.NoError(t, err)
		assert.Empty(t, b)
	})
	t.Run("missing", func(t *testing.T) {
		_, err := Read(filepath.Join(dir, "missing"), 100)
		require.ErrorIs(t, err, fs.ErrNotExist)
		assert.Contains(t, err.Error(), filepath.Join(dir, "missing"))
	})
	t.Run("a directory", func(t *testing.T) {
		_, err := Read(dir, 100)
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrTooLarge)
	})
}

// TestReadEndless: a file whose size says nothing (a device standing in
// for a state file) is read only to one byte past the limit.
func TestReadEndless(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero here")
	}
	path := filepath.Join(t.TempDir(), "hosts.json")
	require.NoError(t, os.Symlink("/dev/zero", path))
	_, err := Read(path, 1<<20)
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Contains(t, err.Error(), "over 1048576 bytes")
}
