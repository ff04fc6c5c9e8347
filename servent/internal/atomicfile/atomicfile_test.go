package atomicfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteReplacesAndLeavesNoTemporaries(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	name := filepath.Join(dir, "state.json")
	require.NoError(t, Write(name, []byte("first")))
	require.NoError(t, Write(name, []byte("second")))
	got, err := os.ReadFile(name)
	require.NoError(t, err)
	assert.Equal(t, "second", string(got))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file is left behind")
}

func TestWriteFailureKeepsTheOldFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "state.json")
	require.NoError(t, Write(name, []byte("old")))
	// A directory in the way of the rename makes it fail.
	blocked := filepath.Join(dir, "blocked")
	require.NoError(t, os.MkdirAll(filepath.Join(blocked, "child"), 0o755))
	assert.Error(t, Write(blocked, []byte("new")))
	got, err := os.ReadFile(name)
	require.NoError(t, err)
	assert.Equal(t, "old", string(got))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "the failed write left no temporary file")
}
