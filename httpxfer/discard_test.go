package httpxfer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDiscard: a cancelled download's .part and state go; a running one's
// stay; a finished file of the same name is never touched.
func TestDiscard(t *testing.T) {
	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir})
	for _, n := range []string{"a.ogg", "a.ogg.part", "a.ogg.part.state"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644))
	}
	d.active["a.ogg"] = true
	assert.ErrorIs(t, d.Discard("a.ogg"), ErrBusy)
	assert.FileExists(t, filepath.Join(dir, "a.ogg.part"))
	delete(d.active, "a.ogg")
	require.NoError(t, d.Discard("../a.ogg"), "the name is reduced as Download reduces it")
	assert.NoFileExists(t, filepath.Join(dir, "a.ogg.part"))
	assert.NoFileExists(t, filepath.Join(dir, "a.ogg.part.state"))
	assert.FileExists(t, filepath.Join(dir, "a.ogg"))
	assert.NoError(t, d.Discard("a.ogg"), "nothing left is not an error")
}
