package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent"
	"github.com/govent/govent/servent/control"
	"github.com/govent/govent/wire"
)

// The search stops at whichever comes first: --max-results results, or
// the timeout. In virtual time, so "at once" and "after exactly 5 s" are
// facts, not guesses.
func TestCollectResultsStopsAtLimitOrTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		results := make(chan servent.Result, 8)
		for i := range 5 {
			results <- servent.Result{Name: fmt.Sprint(i)}
		}
		var emitted []int
		start := time.Now()
		got := collectResults(t.Context(), results, time.Hour, 3, func(n int, _ servent.Result) { emitted = append(emitted, n) })
		assert.Len(t, got, 3)
		assert.Equal(t, []int{1, 2, 3}, emitted)
		assert.Zero(t, time.Since(start), "stopped as the third result arrived, not at the timeout")

		// Fewer results than the limit: the timeout ends it.
		start = time.Now()
		got = collectResults(t.Context(), results, 5*time.Second, 3, func(int, servent.Result) {})
		assert.Len(t, got, 2, "the two left")
		assert.Equal(t, 5*time.Second, time.Since(start))

		// A result that arrives late, but in time, still counts.
		go func() {
			time.Sleep(4 * time.Second)
			results <- servent.Result{Name: "late"}
		}()
		start = time.Now()
		got = collectResults(t.Context(), results, 5*time.Second, 1, func(int, servent.Result) {})
		require.Len(t, got, 1)
		assert.Equal(t, "late", got[0].Name)
		assert.Equal(t, 4*time.Second, time.Since(start))
	})
}

func TestResultLine(t *testing.T) {
	guid := wire.GUID{0xde, 0xad, 0xbe, 0xef}
	r := servent.Result{
		Addr: netip.MustParseAddrPort("127.0.0.1:6346"), ServentGUID: guid, Vendor: "GTKG",
		Name: "song.ogg", Size: 2048, Hops: 1, HasSHA1: true, SHA1: wire.SHA1{1},
	}
	line := formatResult(1, r)
	assert.Equal(t, "  1. song.ogg  2.0 KiB  from 127.0.0.1:6346 (GTKG, 1 hop)  "+r.SHA1.String(), line)
	assert.NotContains(t, line, guid.String(), "the servent is named by its address")

	r.Hops, r.Push, r.Busy, r.Vendor = 3, true, true, ""
	assert.Contains(t, formatResult(12, r), " 12. song.ogg  2.0 KiB  from 127.0.0.1:6346 (3 hops)  ")
	assert.True(t, strings.HasSuffix(formatResult(12, r), " [push] [busy]"))

	m := control.NewSearchResult(1, r)
	assert.Equal(t, guid.String(), m.ServentGUID, "--json keeps the GUID")
	assert.EqualValues(t, 3, m.Hops)
	assert.Equal(t, "127.0.0.1:6346", m.Addr)
}

// Against a real servent: the search ends when --max-results arrived,
// long before its timeout; the lines say "1 hop".
func TestSearchMaxResults(t *testing.T) {
	files := map[string]string{}
	for i := range 4 {
		files[fmt.Sprintf("penguin %d.ogg", i)] = strings.Repeat("p", 100+i)
	}
	s := shareFiles(t, files)
	code, out, errOut := runCLI(t, "", "search", "penguin", "--peer", s.Addr().String(), "--listen", "127.0.0.1:0",
		"--max-results", "2", "--timeout", "1h")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	lines := regexp.MustCompile(`(?m)^\s+\d+\. penguin \d\.ogg .* from `+regexp.QuoteMeta(s.Addr().String())+` \(GOVT, 1 hop\)  urn:sha1:`).FindAllString(out, -1)
	assert.Len(t, lines, 2, out)
	assert.Contains(t, out, "stopped at --max-results 2")
	assert.NotContains(t, errOut, "INFO", "a short-lived search logs warnings only, by default")

	code, _, errOut = runCLI(t, "", "search", "penguin", "--peer", s.Addr().String(), "--max-results", "2", "--download", "3")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--download 3: past --max-results 2")
	code, _, errOut = runCLI(t, "", "search", "penguin", "--peer", s.Addr().String(), "--max-results", "0")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--max-results 0: must be 1 or more")
}

// A name too long for the download directory keeps its extension when it
// is shortened.
func TestSearchDownloadKeepsExtension(t *testing.T) {
	long := strings.Repeat("very long penguin title ", 9) + ".ogg" // 220 bytes
	body := strings.Repeat("penguin ", 2000)
	s := shareFiles(t, map[string]string{long: body})
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "", "search", "penguin", "--peer", s.Addr().String(), "--listen", "127.0.0.1:0",
		"--download", "1", "--dir", dir)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.NotContains(t, out, "--max-results", "the user asked for result 1, not for a number of results")
	names := dirNames(t, dir)
	require.Len(t, names, 1)
	assert.True(t, strings.HasSuffix(names[0], ".ogg"), "%q", names[0])
	assert.True(t, strings.HasPrefix(long, strings.TrimSuffix(names[0], ".ogg")), "%q", names[0])
	got, err := os.ReadFile(filepath.Join(dir, names[0]))
	require.NoError(t, err)
	assert.Equal(t, body, string(got))
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// The name a download is saved under: the first usable of --name, the
// search result's name (and, later, a magnet's dn), else the hash.
func TestSaveName(t *testing.T) {
	sha := wire.SHA1{0xab}
	assert.Equal(t, "mine.ogg", saveName(sha, "mine.ogg", "theirs.ogg"))
	assert.Equal(t, "theirs.ogg", saveName(sha, "", "theirs.ogg"))
	assert.Equal(t, "x.ogg", saveName(sha, "../../x.ogg"), "reduced to one path element")
	assert.Equal(t, "theirs.ogg", saveName(sha, "dir/", "theirs.ogg"), "nothing usable left of --name: the next one")
	assert.Equal(t, sha.Base32(), saveName(sha, "", ".."), "the hash only as a last resort")
	assert.Equal(t, sha.Base32(), saveName(sha))
	assert.Equal(t, "download", saveName(wire.SHA1{}, ".."), "no hash either")
	long := strings.Repeat("é", 150) + ".flac"
	got := saveName(sha, long)
	assert.True(t, strings.HasSuffix(got, "é.flac"), "%q", got)
	assert.LessOrEqual(t, len(got), 200)
}

// search --json ends with a summary line, so that a search without
// results prints valid JSON lines too (it printed nothing).
func TestSearchJSONSummary(t *testing.T) {
	s := shareFiles(t, map[string]string{"penguin parade.ogg": strings.Repeat("penguin ", 1000)})
	peer := s.Addr().String()
	code, out, errOut := runCLI(t, "", "search", "nothing matches", "--peer", peer, "--listen", "127.0.0.1:0", "--timeout", "500ms", "--json")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, `{"results":0,"reason":"timeout"}`+"\n", out)

	code, out, errOut = runCLI(t, "", "search", "penguin", "--peer", peer, "--listen", "127.0.0.1:0", "--timeout", "5s", "--max-results", "1", "--json")
	require.Equal(t, 0, code, errOut)
	lines := jsonLines(t, out)
	require.Len(t, lines, 2, out)
	assert.Equal(t, "penguin parade.ogg", lines[0]["name"])
	assert.Equal(t, map[string]any{"results": 1.0, "reason": "max_results"}, lines[1])
}

// --timeout bounds the whole wait, the handshake with --peer included: a
// peer that accepts the connection and never answers took the handshake's
// own 10 s.
func TestSearchTimeoutBoundsHandshake(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() { // accepts and stays silent
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	start := time.Now()
	code, _, errOut := runCLI(t, "", "search", "sunset", "--peer", ln.Addr().String(), "--listen", "127.0.0.1:0", "--timeout", "300ms")
	took := time.Since(start)
	assert.Equal(t, 1, code, errOut)
	assert.Contains(t, errOut, "no peer could be reached")
	assert.Less(t, took, 3*time.Second, "bounded by --timeout 300ms, not the handshake's 10 s")
}
