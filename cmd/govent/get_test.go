package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent"
)

// A second get of a file already in the directory says so and leaves no
// "name (1)"; a failed get says why, per source.
func TestGetAlreadyCompleteAndReasons(t *testing.T) {
	share := t.TempDir()
	body := bytes.Repeat([]byte("come together "), 20000)
	require.NoError(t, os.WriteFile(filepath.Join(share, "come together.ogg"), body, 0o644))
	s, err := servent.New(servent.Config{Listen: "127.0.0.1:0", ShareDir: share, HashBeforeStart: true})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	defer s.Close()
	urn := s.Library().All()[0].SHA1.String()
	src := s.Addr().String()

	dir := t.TempDir()
	code, out, errOut := runCLI(t, "", "get", "--source", src, "--name", "song.ogg", "--dir", dir, urn)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	code, out, errOut = runCLI(t, "", "get", "--source", src, "--name", "song.ogg", "--dir", dir, urn)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "already complete, not downloaded again: "+filepath.Join(dir, "song.ogg"))
	assert.NotContains(t, out, "progress: ")
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, ents, 1, "no song (1).ogg")

	code, _, errOut = runCLI(t, "", "get", "--source", src, "--name", "x.bin", "--dir", t.TempDir(),
		"urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no usable source left: "+src+": HEAD: 404 Not Found")
}
