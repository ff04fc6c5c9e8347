package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// search --magnet prints a magnet per result; the hit came with a
// bitprint in GGEP "H" (our Query sets 0x0800), so the magnet has it, and
// get of that magnet downloads from its xs with every chunk checked
// against the Tiger tree the source serves.
func TestSearchMagnetThenGet(t *testing.T) {
	body := strings.Repeat("magnetic penguin ", 40000) // 680 KB: a tree of depth 2
	s := shareFiles(t, map[string]string{"magnetic penguin.ogg": body})
	code, out, errOut := runCLI(t, "", "search", "magnetic", "--peer", s.Addr().String(), "--listen", "127.0.0.1:0",
		"--max-results", "1", "--magnet")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	link := regexp.MustCompile(`(?m)^\s+(magnet:\?\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, link, out)
	m, err := wire.ParseMagnet(link[1])
	require.NoError(t, err)
	f := s.Library().All()[0]
	assert.Equal(t, f.SHA1, m.URN.SHA1)
	require.True(t, m.URN.HasTTH, "the bitprint came through GGEP H: %s", link[1])
	assert.Equal(t, f.TTH, m.URN.TTH)
	assert.Equal(t, "magnetic penguin.ogg", m.Name)
	assert.EqualValues(t, len(body), m.Size)
	require.Len(t, m.Sources, 1)
	assert.Equal(t, s.Addr(), m.Sources[0].Addr)

	dir := t.TempDir()
	code, out, errOut = runCLI(t, "", "get", link[1], "--dir", dir)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "every chunk checked against its Tiger tree")
	got, err := os.ReadFile(filepath.Join(dir, "magnetic penguin.ogg"))
	require.NoError(t, err)
	assert.Equal(t, body, string(got))
}

// Magnets get refuses, and one it takes without a source but --source.
func TestGetMagnetShapes(t *testing.T) {
	code, _, errOut := runCLI(t, "", "get", "magnet:?xt=urn:btih:abc&dn=x")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "without urn:sha1")
	code, _, errOut = runCLI(t, "", "get", "magnet:?xt=urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&dn=x")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--source: required: the magnet link names no source")
	// The link's one source is skipped: the error says that is why
	// --source is needed, not as if the link had named none.
	code, _, errOut = runCLI(t, "", "get", "magnet:?xt=urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&xs=http://example.com:6346/uri-res/N2R?urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	assert.Equal(t, 2, code, "a host name is no source")
	assert.Contains(t, errOut, "skipped: a host name")
	assert.Contains(t, errOut, "--source: required: the magnet link names no source by IP address (1 skipped)")
}

// search --magnet --json gives the link as it is pasted, & and all: not
// the \u0026 that encoding/json writes by default for HTML.
func TestSearchMagnetJSONKeepsAmpersands(t *testing.T) {
	s := shareFiles(t, map[string]string{"salt & pepper.ogg": "push it"})
	code, out, errOut := runCLI(t, "", "search", "pepper", "--peer", s.Addr().String(), "--listen", "127.0.0.1:0",
		"--max-results", "1", "--magnet", "--json")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.NotContains(t, out, `\u0026`)
	assert.Contains(t, out, `"name":"salt & pepper.ogg"`)
	assert.Regexp(t, `"magnet":"magnet:\?xt=urn:[^"]*&dn=salt%20%26%20pepper\.ogg&xl=7&xs=http://`, out)
}
