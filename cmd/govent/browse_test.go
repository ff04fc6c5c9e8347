package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent"
)

func shareServent(t *testing.T, cfg servent.Config, files map[string]string) *servent.Servent {
	t.Helper()
	share := t.TempDir()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(share, name), []byte(body), 0o644))
	}
	cfg.ShareDir, cfg.HashBeforeStart, cfg.AllowPrivate = share, true, true
	if !cfg.NoListen {
		cfg.Listen = "127.0.0.1:0"
	}
	s, err := servent.New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBrowseCommand(t *testing.T) {
	s := shareServent(t, servent.Config{}, map[string]string{"blackbird.ogg": "singing in the dead of night", "julia.mp3": "half of what I say"})
	urns := map[string]string{}
	for _, f := range s.Library().All() {
		urns[f.Name] = f.SHA1.String()
	}

	code, out, errOut := runCLI(t, "", "browse", s.Addr().String())
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, s.Addr().String()+" ("+servent.UserAgent+", servent "+s.GUID().String()+"): 2 files\n")
	assert.Regexp(t, `(?m)^   \d\. blackbird\.ogg  28 B  `+urns["blackbird.ogg"]+`$`, out)
	assert.Regexp(t, `(?m)^   \d\. julia\.mp3  18 B  `+urns["julia.mp3"]+`$`, out)

	code, out, _ = runCLI(t, "", "browse", "--json", s.Addr().String())
	require.Equal(t, 0, code)
	lines := jsonLines(t, out)
	require.Len(t, lines, 2)
	for _, l := range lines {
		assert.Equal(t, urns[l["name"].(string)], l["urn"])
		assert.Equal(t, s.GUID().String(), l["servent"])
	}

	one := shareServent(t, servent.Config{}, map[string]string{"yesterday.ogg": "all my troubles"})
	code, out, errOut = runCLI(t, "", "browse", one.Addr().String())
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "): 1 file\n", "one file, not 1 files")

	code, _, errOut = runCLI(t, "", "browse", "localhost:6346")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "want IP:PORT")
	code, _, errOut = runCLI(t, "", "browse", "127.0.0.1:1")
	assert.Equal(t, 1, code)
	assert.Equal(t, "govent: browse 127.0.0.1:1: connection refused\n", errOut)
}

// search --browse reaches a servent without a listening port through a
// Push routed by the peer we search through.
func TestSearchBrowseThroughPush(t *testing.T) {
	middle := shareServent(t, servent.Config{}, nil)
	hidden := shareServent(t, servent.Config{NoListen: true}, map[string]string{"rocky raccoon.ogg": "now somewhere", "michelle.mp3": "ma belle"})
	require.NoError(t, hidden.Connect(middle.Addr()))
	for end := time.Now().Add(10 * time.Second); len(middle.Peers()) == 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	require.Len(t, middle.Peers(), 1)

	code, out, errOut := runCLI(t, "", "search", "--peer", middle.Addr().String(), "--listen", "127.0.0.1:0",
		"--timeout", "5s", "--browse", "1", "raccoon")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "  1. rocky raccoon.ogg")
	assert.Contains(t, out, "push:"+hidden.GUID().String()+" ("+servent.UserAgent+", servent "+hidden.GUID().String()+"): 2 files\n")
	assert.Contains(t, out, ". michelle.mp3  8 B  urn:sha1:")

	code, _, errOut = runCLI(t, "", "search", "--peer", middle.Addr().String(), "--download", "1", "--browse", "1", "xyz")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "one at a time")
}

// A servent that shares nothing has no QueryHit to name its GUID: the
// header says 0 files and no GUID of zeros. A server that refuses the
// browse gets no header at all, only the error.
func TestBrowseEmptyAndRefused(t *testing.T) {
	empty := shareServent(t, servent.Config{}, nil)
	code, out, errOut := runCLI(t, "", "browse", empty.Addr().String())
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Equal(t, empty.Addr().String()+" ("+servent.UserAgent+"): 0 files\n", out)

	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Server", "control/1")
		http.Error(w, "no token", http.StatusUnauthorized)
	}))
	t.Cleanup(refusing.Close)
	addr := strings.TrimPrefix(refusing.URL, "http://")
	code, out, errOut = runCLI(t, "", "browse", addr)
	assert.Equal(t, 1, code)
	assert.Empty(t, out, "nothing was browsed")
	assert.Equal(t, "govent: browse "+addr+": 401 Unauthorized\n", errOut)
}

// A browse that Ctrl-C cut after some files prints them, then one line
// saying the list is only those.
func TestBrowseInterruptedAfterFiles(t *testing.T) {
	var out bytes.Buffer
	res := &httpxfer.BrowseResult{Files: []httpxfer.BrowseFile{{Name: "a.mp3", Size: 1000}, {Name: "b.mp3", Size: 2000}}}
	err := browseInterrupted(&out, "127.0.0.1:6346", res, false)
	assert.EqualError(t, err, "browse: interrupted after 2 files from 127.0.0.1:6346: the list above is only those")
	assert.Equal(t, "127.0.0.1:6346: 2 files\n   1. a.mp3  1000 B  \n   2. b.mp3  2.0 KiB  \n", out.String())
}
