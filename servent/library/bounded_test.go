package library_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/govent/govent/httpxfer/smallfile"
	"github.com/govent/govent/servent/library"
)

// A state file over its bound is refused before it is read: the error
// names the file and the limit, and the library stays empty, to be
// rehashed. (An endless one is refused once the bound is read: smallfile's
// TestReadEndless; here it would cost reading 128 MiB.)
func TestLoadStateBounded(t *testing.T) {
	data := t.TempDir()
	name := filepath.Join(data, library.StateFile)
	f, err := os.Create(name)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(library.MaxStateFile+1)) // sparse: no disk taken
	require.NoError(t, f.Close())
	l := newLibrary(t, library.Config{DataDir: data})
	err = l.Load()
	require.ErrorIs(t, err, library.ErrCorruptState)
	require.ErrorIs(t, err, smallfile.ErrTooLarge)
	assert.ErrorContains(t, err, name+": over "+strconv.Itoa(library.MaxStateFile)+" bytes")
	assert.Zero(t, l.Count())
}

// A tree cache file over the largest tree the library writes, or endless,
// is not served; the warning names the file and the limit. One of exactly
// the limit is read, and refused for what it holds.
func TestTreeFileBounded(t *testing.T) {
	root, data := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "f.bin"), bytes.Repeat([]byte("tiger "), 100<<10), 0o644))
	_, f := hashedLibrary(t, root, data)
	require.True(t, f.HasTTH)
	name := filepath.Join(data, library.TreeDir, f.TTH.Base32())
	lookup := func() (bool, string) {
		t.Helper()
		core, logs := observer.New(zapcore.WarnLevel)
		l := newLibrary(t, library.Config{Dirs: []string{root}, DataDir: data, Logger: zap.New(core)})
		require.NoError(t, l.Load())
		_, ok := l.Tree(f.TTH)
		var warned string
		for _, e := range logs.All() {
			warned += e.Message + ": " + e.ContextMap()["error"].(string) + "\n"
		}
		return ok, warned
	}
	ok, warned := lookup()
	require.True(t, ok, "the cached tree is served: %s", warned)

	tooLarge := name + ": over " + strconv.Itoa(library.MaxTreeFile) + " bytes"
	// The nodes the file holds, then zeros to the size: 9 bytes of size
	// and depth as before, and nodes of zeros after them.
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	for _, size := range []int{library.MaxTreeFile, library.MaxTreeFile + 1} {
		require.NoError(t, os.WriteFile(name, append(b, make([]byte, size-len(b))...), 0o644))
		ok, warned = lookup()
		assert.False(t, ok, "a tree file of %d bytes is served", size)
		if size > library.MaxTreeFile {
			assert.Contains(t, warned, tooLarge)
		} else {
			assert.NotContains(t, warned, "over")
			assert.Contains(t, warned, name)
		}
	}

	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero here")
	}
	require.NoError(t, os.Remove(name))
	require.NoError(t, os.Symlink("/dev/zero", name)) // a file that never ends
	ok, warned = lookup()
	assert.False(t, ok)
	assert.Contains(t, warned, tooLarge)
}
