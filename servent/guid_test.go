//go:build linux

package servent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A write of the servent GUID file that stops half way (in a child process
// whose file size limit cuts every write after 8 bytes, as a full disk or
// a crash would) leaves no torn file: the next start finds none, writes a
// whole one, and keeps it from then on.
func TestGUIDFileNeverTorn(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperGUIDChild$", "-test.count=1", "-test.v")
	// A race-enabled child would sleep a second at exit to wait for reports.
	cmd.Env = append(os.Environ(), "GOVENT_TEST_GUID_DIR="+dir, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS: TestHelperGUIDChild", "the child ran")

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "the cut write left no GUID file and no temporary")

	g, err := loadOrCreateGUID(Config{DataDir: dir})
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "servent-guid"))
	require.NoError(t, err)
	assert.Equal(t, g.String()+"\n", string(b))
	again, err := loadOrCreateGUID(Config{DataDir: dir})
	require.NoError(t, err)
	assert.Equal(t, g, again)
}

// TestHelperGUIDChild is TestGUIDFileNeverTorn's first start, in its own
// process.
func TestHelperGUIDChild(t *testing.T) {
	dir := os.Getenv("GOVENT_TEST_GUID_DIR")
	if dir == "" {
		t.Skip("run by TestGUIDFileNeverTorn")
	}
	// Go ignores SIGXFSZ, so a write past the limit fails with EFBIG after
	// writing what fits.
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 8, Max: 8}))
	_, err := loadOrCreateGUID(Config{DataDir: dir})
	require.ErrorIs(t, err, syscall.EFBIG)
}

// A servent-guid file that is not one line of a GUID (much longer than
// one, or /dev/zero linked in its place) is read no further than 1 KiB and
// replaced by a new GUID, the link itself and not its target.
func TestGUIDFileBounded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "servent-guid")
	old, err := loadOrCreateGUID(Config{DataDir: dir})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(old.String()+"\n"+strings.Repeat(" ", 1<<10)), 0o600))
	g, err := loadOrCreateGUID(Config{DataDir: dir})
	require.NoError(t, err)
	assert.NotEqual(t, old, g, "over 1 KiB: not read")

	require.NoError(t, os.Remove(path))
	require.NoError(t, os.Symlink("/dev/zero", path))
	g, err = loadOrCreateGUID(Config{DataDir: dir})
	require.NoError(t, err)
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular(), "the link was replaced")
	again, err := loadOrCreateGUID(Config{DataDir: dir})
	require.NoError(t, err)
	assert.Equal(t, g, again)
}
