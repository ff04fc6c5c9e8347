//go:build unix

package servent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A second servent on a data directory in use does not start: it names
// the directory and the pid holding it. Once the first closes, the
// directory is free again.
func TestDataDirLockedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.DataDir = dir
	first, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, first.Start(context.Background()))

	second, err := New(cfg)
	require.NoError(t, err)
	err = second.Start(context.Background())
	require.Error(t, err, "two servents run on one data directory")
	assert.ErrorIs(t, err, ErrDataDirInUse)
	assert.Contains(t, err.Error(), dir)
	assert.Contains(t, err.Error(), fmt.Sprintf("pid %d", os.Getpid()))
	require.NoError(t, second.Close(), "a servent that did not start closes")

	require.NoError(t, first.Close())
	again, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, again.Start(context.Background()), "the lock outlived Close")
	require.NoError(t, again.Close())
	assert.FileExists(t, filepath.Join(dir, LockFile))
}
