package atomicfile

import (
	"io/fs"
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

// A symbolic link at the name or at its temporary is replaced, never
// written through: the files they point at keep their content.
func TestWriteNeverFollowsLinks(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	name := filepath.Join(dir, "state.json")
	for _, planted := range []string{name, name + ".tmp"} {
		victim := filepath.Join(elsewhere, filepath.Base(planted))
		require.NoError(t, os.WriteFile(victim, []byte("precious"), 0o644))
		require.NoError(t, os.Symlink(victim, planted))
	}
	require.NoError(t, Write(name, []byte("new")))
	fi, err := os.Lstat(name)
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular(), "the link at the name was replaced by the file")
	got, err := os.ReadFile(name)
	require.NoError(t, err)
	assert.Equal(t, "new", string(got))
	for _, v := range []string{"state.json", "state.json.tmp"} {
		b, err := os.ReadFile(filepath.Join(elsewhere, v))
		require.NoError(t, err)
		assert.Equal(t, "precious", string(b), v)
	}
	_, err = os.Lstat(name + ".tmp")
	assert.ErrorIs(t, err, os.ErrNotExist, "no temporary is left")
}

// WritePerm's file has its permissions from the start, whatever the old
// file or a leftover temporary had: a private key is never left readable.
func TestWritePermReplacesPermissions(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "key.pem")
	require.NoError(t, Write(name, []byte("old")))
	require.NoError(t, os.WriteFile(name+".tmp", []byte("leftover"), 0o644))
	require.NoError(t, WritePerm(name, []byte("secret"), 0o600))
	fi, err := os.Stat(name)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	got, err := os.ReadFile(name)
	require.NoError(t, err)
	assert.Equal(t, "secret", string(got))
	require.NoError(t, WritePerm(name, []byte("public"), 0o644))
	fi, err = os.Stat(name)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "WritePerm replaces the permissions")
	// The state files (host cache, library index, resume state, GUID) are
	// the user's own business: Write keeps them owner-only, as they were
	// when each was written with os.CreateTemp.
	require.NoError(t, Write(name, []byte("state")))
	fi, err = os.Stat(name)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "Write makes owner-only files")
}

// Last writes a file only when its bytes differ from what it last wrote
// there: a marker put in the file by hand survives a write of the same
// bytes, and is replaced by new ones, or by the same bytes to another name
// and back.
func TestLastSkipsUnchanged(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "state.json")
	other := filepath.Join(dir, "other.json")
	var l Last
	content := func() string {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		return string(b)
	}

	wrote, err := l.Write(name, []byte("first"))
	require.NoError(t, err)
	assert.True(t, wrote)
	assert.Equal(t, "first", content())

	require.NoError(t, os.WriteFile(name, []byte("marker"), 0o600))
	wrote, err = l.Write(name, []byte("first"))
	require.NoError(t, err)
	assert.False(t, wrote, "the same bytes again")
	assert.Equal(t, "marker", content(), "nothing written")

	wrote, err = l.Write(name, []byte("second"))
	require.NoError(t, err)
	assert.True(t, wrote)
	assert.Equal(t, "second", content())

	wrote, err = l.Write(other, []byte("second"))
	require.NoError(t, err)
	assert.True(t, wrote, "the same bytes to another file")
	require.NoError(t, os.WriteFile(name, []byte("marker"), 0o600))
	wrote, err = l.Write(name, []byte("second"))
	require.NoError(t, err)
	assert.True(t, wrote, "it remembers only the last file it wrote")
	assert.Equal(t, "second", content())
}

// A write that fails is not remembered: the same bytes are tried again.
func TestLastRetriesAfterFailure(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "state.json")
	var l Last
	// A directory where the temporary file goes makes the write fail.
	require.NoError(t, os.Mkdir(name+".tmp", 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(name+".tmp", "x"), nil, 0o600))
	_, err := l.Write(name, []byte("first"))
	require.Error(t, err)
	require.NoError(t, os.RemoveAll(name+".tmp"))
	wrote, err := l.Write(name, []byte("first"))
	require.NoError(t, err)
	assert.True(t, wrote)
	got, err := os.ReadFile(name)
	require.NoError(t, err)
	assert.Equal(t, "first", string(got))
}

// TestCreateKeepsTheFirst: Create makes a file whole with its permissions,
// and a second Create of the name fails with fs.ErrExist and leaves the
// first content, as two daemons making one secret at once need.
func TestCreateKeepsTheFirst(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	name := filepath.Join(dir, "secret")
	require.NoError(t, Create(name, []byte("first\n"), 0o600))
	err := Create(name, []byte("second\n"), 0o600)
	require.ErrorIs(t, err, fs.ErrExist)
	got, err := os.ReadFile(name)
	require.NoError(t, err)
	assert.Equal(t, "first\n", string(got))
	fi, err := os.Stat(name)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file is left behind")
}
