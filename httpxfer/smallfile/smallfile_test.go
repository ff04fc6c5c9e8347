package smallfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

func TestReadJSON(t *testing.T) {
	dir := t.TempDir()
	type file struct {
		Format int `json:"format"`
		X      int `json:"x"`
	}
	for _, tc := range []struct {
		name, content string
		found, bad    bool
		x             int
	}{
		{"missing", "", false, false, 0},
		{"good", `{"format":2,"x":7}`, true, false, 7},
		{"other format", `{"format":1,"x":7}`, true, true, 0},
		{"not JSON", `{"format":2,`, true, true, 0},
		{"wrong shape", `{"format":2,"x":"seven"}`, true, true, 0},
		{"over the limit", `{"format":2,"x":7}` + strings.Repeat(" ", 100), true, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if tc.content != "" {
				require.NoError(t, os.WriteFile(name, []byte(tc.content), 0o600))
			}
			var f file
			found, err := ReadJSON(name, 64, 2, &f)
			assert.Equal(t, tc.found, found)
			assert.Equal(t, tc.bad, errors.Is(err, ErrBad), "%v", err)
			if !tc.bad {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.x, f.X)
		})
	}
}
