//go:build unix

package servent

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// dirFile is what a test compares of a file: its bytes, mode and mtime.
type dirFile struct {
	body  string
	mode  fs.FileMode
	mtime time.Time
}

// snapshot is every file under dir, by its path relative to dir.
func snapshot(t *testing.T, dir string) map[string]dirFile {
	t.Helper()
	files := map[string]dirFile{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		f := dirFile{mode: fi.Mode(), mtime: fi.ModTime()}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			f.body = string(b)
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel] = f
		return nil
	}))
	return files
}

// A second servent on a data directory that a first one holds is refused
// by New, whether the first has started or not, and before it writes
// anything there. The first holds nothing but its lock: it was given its
// GUID and no TLS, so the second, let go, would have written the
// servent-guid file and the TLS certificate and key. The error names the
// directory and the pid holding it. Once the first closes, the directory
// is free again.
func TestDataDirLockedFromNew(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.DataDir = dir
	held := cfg
	held.ServentGUID = wire.NewGUID()
	held.NoTLS = true
	first, err := New(held)
	require.NoError(t, err)
	before := snapshot(t, dir)
	require.Equal(t, []string{LockFile}, slices.Collect(maps.Keys(before)), "the first servent wrote only its lock")

	refused := func(when string) {
		t.Helper()
		second, err := New(cfg)
		require.Error(t, err, "%s: two servents on one data directory", when)
		assert.Nil(t, second)
		assert.ErrorIs(t, err, ErrDataDirInUse)
		assert.Equal(t, fmt.Sprintf("data directory %s is in use by another servent (pid %d); stop it first, or give this one a data directory of its own", dir, os.Getpid()), err.Error())
		assert.Equal(t, before, snapshot(t, dir), "%s: the refused servent changed the data directory", when)
	}
	refused("before Start")
	require.NoError(t, first.Start(context.Background()))
	before = snapshot(t, dir)
	refused("running")

	require.NoError(t, first.Close())
	again, err := New(cfg)
	require.NoError(t, err, "the lock outlived Close")
	require.NoError(t, again.Start(context.Background()))
	require.NoError(t, again.Close())
	assert.FileExists(t, filepath.Join(dir, "servent-guid"))
	assert.FileExists(t, filepath.Join(dir, TLSCertFile))
}

// A servent made and never started gives its data directory back at
// Close, and a second Close does nothing. Started after Close, it
// refuses: it no longer holds the directory.
func TestCloseAfterNewFreesDataDir(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.DataDir = dir
	s, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "a second Close")
	assert.ErrorContains(t, s.Start(context.Background()), "start after close")

	again, err := New(cfg)
	require.NoError(t, err, "Close after New alone kept the lock")
	assert.Equal(t, s.GUID(), again.GUID())
	require.NoError(t, again.Close())
}

// A New that fails after it took the lock gives it back.
func TestFailedNewFreesDataDir(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.DataDir = dir
	// A directory where the GUID file goes, with something in it: the
	// GUID cannot be saved, and New fails.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "servent-guid", "x"), 0o755))
	_, err := New(cfg)
	require.ErrorContains(t, err, "saving servent GUID")

	lock, err := lockDataDir(dir)
	require.NoError(t, err, "the failed New kept the lock")
	require.NoError(t, lock.Close())
}

// A Start that fails (its port is taken) gives the data directory back,
// whether or not its caller goes on to Close, and a Close after it
// writes nothing there.
func TestFailedStartFreesDataDir(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.DataDir = dir
	cfg.Listen = busy.Addr().String()
	s, err := New(cfg)
	require.NoError(t, err)
	require.Error(t, s.Start(context.Background()))

	cfg.Listen = "127.0.0.1:0"
	again, err := New(cfg)
	require.NoError(t, err, "the failed Start kept the lock")
	require.NoError(t, again.Close())
	before := snapshot(t, dir)
	require.NoError(t, s.Close(), "Close after a failed Start")
	assert.Equal(t, before, snapshot(t, dir), "Close after a failed Start wrote in a directory it no longer holds")
}
