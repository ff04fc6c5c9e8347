package library_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/servent/library"
	"github.com/govent/govent/wire"
)

// baseTime keeps modification times reproducible.
var baseTime = time.Date(2024, 3, 3, 12, 0, 0, 0, time.UTC)

// writeFile creates root/rel with content and a fixed modification time.
func writeFile(t testing.TB, root, rel, content string) string {
	t.Helper()
	p := filepath.Join(root, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	require.NoError(t, os.Chtimes(p, baseTime, baseTime))
	return p
}

// countingHasher wraps HashFile and remembers which paths it read.
type countingHasher struct {
	mu    sync.Mutex
	paths []string
}

func (h *countingHasher) hash(ctx context.Context, path string) (library.Digest, error) {
	h.mu.Lock()
	h.paths = append(h.paths, path)
	h.mu.Unlock()
	return library.HashFile(ctx, path)
}

func (h *countingHasher) reset() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.paths
	h.paths = nil
	sort.Strings(p)
	return p
}

func newLibrary(t testing.TB, cfg library.Config) *library.Library {
	t.Helper()
	l, err := library.New(cfg)
	require.NoError(t, err)
	return l
}

// indexed maps path relative to root -> index.
func indexed(t testing.TB, l *library.Library, root string) map[string]uint32 {
	t.Helper()
	m := make(map[string]uint32)
	for _, f := range l.All() {
		rel, err := filepath.Rel(root, f.Path)
		require.NoError(t, err)
		m[rel] = f.Index
	}
	return m
}

func mustSHA1(t testing.TB, hexDigest string) wire.SHA1 {
	t.Helper()
	var s wire.SHA1
	b, err := hex.DecodeString(hexDigest)
	require.NoError(t, err)
	require.Len(t, b, wire.SHA1Len)
	copy(s[:], b)
	return s
}

func TestHashFileKnownDigests(t *testing.T) {
	dir := t.TempDir()
	// Digests from FIPS 180 and the usual published examples.
	for _, tc := range []struct{ name, content, sha1 string }{
		{"empty", "", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
		{"abc", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{"fox", "The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, tc.name, tc.content)
			got, err := library.HashFile(t.Context(), p)
			require.NoError(t, err)
			assert.Equal(t, mustSHA1(t, tc.sha1), got.SHA1)
			require.NotNil(t, got.Tree)
			assert.Equal(t, thex.Root([]byte(tc.content)), got.Tree.Root())
		})
	}
	t.Run("empty file tiger root", func(t *testing.T) {
		// The THEX test vector for the empty file.
		got, err := library.HashFile(t.Context(), writeFile(t, dir, "e", ""))
		require.NoError(t, err)
		assert.Equal(t, "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ", got.Tree.Root().Base32())
	})
	t.Run("tree over several reads", func(t *testing.T) {
		content := bytes.Repeat([]byte("0123456789abcdef"), 40<<10) // 640 KiB: 3 reads, depth 2
		p := filepath.Join(dir, "big")
		require.NoError(t, os.WriteFile(p, content, 0o644))
		got, err := library.HashFile(t.Context(), p)
		require.NoError(t, err)
		want := thex.NewBuilder()
		want.Write(content)
		assert.Equal(t, want.Tree(), got.Tree)
		assert.Equal(t, 2, got.Tree.Depth())
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := library.HashFile(t.Context(), filepath.Join(dir, "nope"))
		assert.ErrorIs(t, err, os.ErrNotExist)
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := library.HashFile(ctx, filepath.Join(dir, "abc"))
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func TestRescanSharesOnlyVisibleRegularFiles(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	writeFile(t, root, "Penny Lane.mp3", "penny")
	writeFile(t, root, "sub/deeper/Beyoncé - Halo.ogg", "halo")
	writeFile(t, root, "日本語/歌.flac", "uta")
	writeFile(t, root, ".hidden.mp3", "hidden file")
	writeFile(t, root, ".hiddendir/inside.mp3", "in a hidden dir")
	writeFile(t, root, "movie.avi.part", "partial download")
	writeFile(t, root, "movie.avi.part.state", "resume state") // httpxfer's
	secret := writeFile(t, outside, "secret.txt", "outside the tree")
	require.NoError(t, os.Symlink(secret, filepath.Join(root, "escape.txt")))
	require.NoError(t, os.Symlink("Penny Lane.mp3", filepath.Join(root, "inside-link.mp3")))
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "linked-dir")))
	require.NoError(t, os.Symlink("nowhere", filepath.Join(root, "dangling.mp3")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(root, "pipe.mp3"), 0o644))

	l := newLibrary(t, library.Config{Dirs: []string{root}})
	ch, err := l.Rescan(t.Context())
	require.NoError(t, err)
	assert.Equal(t, library.Changes{Added: 3}, ch)

	// Fresh indexes start at 1 and follow path order.
	assert.Equal(t, map[string]uint32{
		"Penny Lane.mp3":                1,
		"sub/deeper/Beyoncé - Halo.ogg": 2,
		"日本語/歌.flac":                    3,
	}, indexed(t, l, root))

	f, ok := l.ByIndex(2)
	require.True(t, ok)
	assert.Equal(t, "Beyoncé - Halo.ogg", f.Name)
	assert.Equal(t, filepath.Join(root, "sub/deeper/Beyoncé - Halo.ogg"), f.Path)
	assert.True(t, filepath.IsAbs(f.Path))
	assert.Equal(t, int64(4), f.Size)
	assert.True(t, f.ModTime.Equal(baseTime))
	assert.False(t, f.Hashed, "hashing happens in HashPending")
	_, ok = l.ByIndex(0)
	assert.False(t, ok, "index 0 is never used")

	st := l.Stats()
	// .hidden.mp3, .hiddendir, two leftovers, four links, the FIFO.
	assert.Equal(t, 9, st.Skipped)
	assert.Equal(t, 3, st.Pending)
}

func TestRescanSkipsUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: chmod 000 does not stop root from reading; " +
			"FIFOs and dangling links are covered by TestRescanSharesOnlyVisibleRegularFiles")
	}
	root := t.TempDir()
	writeFile(t, root, "ok.txt", "ok")
	require.NoError(t, os.Chmod(writeFile(t, root, "locked.txt", "no"), 0))
	writeFile(t, root, "closed/inner.txt", "no")
	require.NoError(t, os.Chmod(filepath.Join(root, "closed"), 0))
	t.Cleanup(func() { os.Chmod(filepath.Join(root, "closed"), 0o755) })

	l := newLibrary(t, library.Config{Dirs: []string{root}})
	_, err := l.Rescan(t.Context())
	require.NoError(t, err)
	assert.Equal(t, map[string]uint32{"ok.txt": 1}, indexed(t, l, root))
	assert.Equal(t, 2, l.Stats().Unreadable)
}

func TestRescanNoticesChanges(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "a.txt", "a")
	writeFile(t, root, "b.txt", "b")
	writeFile(t, root, "c.txt", "c")
	writeFile(t, root, "d.txt", "d")
	var versions []uint64
	l := newLibrary(t, library.Config{Dirs: []string{root}, OnChange: func(v uint64) { versions = append(versions, v) }})
	_, err := l.Rescan(t.Context())
	require.NoError(t, err)
	require.Equal(t, map[string]uint32{"a.txt": 1, "b.txt": 2, "c.txt": 3, "d.txt": 4}, indexed(t, l, root))
	require.Len(t, versions, 1)

	t.Run("nothing changed", func(t *testing.T) {
		ch, err := l.Rescan(t.Context())
		require.NoError(t, err)
		assert.False(t, ch.Any())
		assert.Len(t, versions, 1, "no OnChange without a change")
	})

	t.Run("add, remove, rename, change size, change mtime", func(t *testing.T) {
		writeFile(t, root, "new.txt", "new")
		require.NoError(t, os.Remove(filepath.Join(root, "a.txt")))
		require.NoError(t, os.Rename(filepath.Join(root, "b.txt"), filepath.Join(root, "b-renamed.txt")))
		writeFile(t, root, "c.txt", "c grew")
		require.NoError(t, os.Chtimes(filepath.Join(root, "d.txt"), baseTime, baseTime.Add(time.Second)))

		ch, err := l.Rescan(t.Context())
		require.NoError(t, err)
		assert.Equal(t, library.Changes{Added: 2, Removed: 2, Changed: 2}, ch)
		// Retired indexes 1..4 are not handed out again; new ones follow
		// path order.
		assert.Equal(t, map[string]uint32{"b-renamed.txt": 5, "c.txt": 6, "d.txt": 7, "new.txt": 8}, indexed(t, l, root))
		for _, idx := range []uint32{1, 2, 3, 4} {
			_, ok := l.ByIndex(idx)
			assert.False(t, ok, "retired index %d", idx)
		}
		require.Len(t, versions, 2)
		assert.Greater(t, versions[1], versions[0])
		assert.Equal(t, versions[1], l.Version())
	})

	t.Run("a retired index is not reused for a returning path", func(t *testing.T) {
		writeFile(t, root, "a.txt", "a")
		_, err := l.Rescan(t.Context())
		require.NoError(t, err)
		assert.Equal(t, uint32(9), indexed(t, l, root)["a.txt"])
	})
}

func TestRestartKeepsIndexesAndDigests(t *testing.T) {
	root, data := t.TempDir(), t.TempDir()
	writeFile(t, root, "abc.txt", "abc")
	writeFile(t, root, "empty.txt", "")
	writeFile(t, root, "fox.txt", "The quick brown fox jumps over the lazy dog")
	writeFile(t, root, "gone.txt", "will be removed")
	h := &countingHasher{}
	cfg := library.Config{Dirs: []string{root}, DataDir: data, Hash: h.hash}

	first := newLibrary(t, cfg)
	require.NoError(t, first.Load())
	_, err := first.Rescan(t.Context())
	require.NoError(t, err)
	require.NoError(t, first.HashPending(t.Context()))
	require.Len(t, h.reset(), 4)
	require.NoError(t, os.Remove(filepath.Join(root, "gone.txt")))
	_, err = first.Rescan(t.Context())
	require.NoError(t, err)
	before := indexed(t, first, root)
	require.Equal(t, map[string]uint32{"abc.txt": 1, "empty.txt": 2, "fox.txt": 3}, before)

	t.Run("unchanged files are not read again", func(t *testing.T) {
		second := newLibrary(t, cfg)
		require.NoError(t, second.Load())
		_, err := second.Rescan(t.Context())
		require.NoError(t, err)
		require.NoError(t, second.HashPending(t.Context()))
		assert.Empty(t, h.reset(), "a restart must not rehash unchanged files")
		assert.Equal(t, before, indexed(t, second, root))
		f, ok := second.BySHA1(mustSHA1(t, "a9993e364706816aba3e25717850c26c9cd0d89d"))
		require.True(t, ok)
		assert.Equal(t, "abc.txt", f.Name)
		assert.True(t, f.Hashed)
		assert.Equal(t, 3, second.Stats().Hashed)
	})

	t.Run("changed files are rehashed and re-indexed", func(t *testing.T) {
		writeFile(t, root, "abc.txt", "abcd") // size changes
		require.NoError(t, os.Chtimes(filepath.Join(root, "empty.txt"), baseTime, baseTime.Add(time.Hour)))
		writeFile(t, root, "late.txt", "late")

		third := newLibrary(t, cfg)
		require.NoError(t, third.Load())
		_, err := third.Rescan(t.Context())
		require.NoError(t, err)
		require.NoError(t, third.HashPending(t.Context()))
		assert.Equal(t, []string{
			filepath.Join(root, "abc.txt"),
			filepath.Join(root, "empty.txt"),
			filepath.Join(root, "late.txt"),
		}, h.reset())
		// gone.txt's index 4 stays retired across the restart.
		assert.Equal(t, map[string]uint32{"abc.txt": 5, "empty.txt": 6, "fox.txt": 3, "late.txt": 7}, indexed(t, third, root))
		_, ok := third.BySHA1(mustSHA1(t, "a9993e364706816aba3e25717850c26c9cd0d89d"))
		assert.False(t, ok, "the old digest of abc.txt is gone")
		f, ok := third.BySHA1(mustSHA1(t, "81fe8bfe87576c3ecb22426f8e57847382917acf")) // SHA-1("abcd")
		require.True(t, ok)
		assert.Equal(t, uint32(5), f.Index)
	})
}

func TestLoadRejectsDamagedState(t *testing.T) {
	const good = `{"format":1,"next_index":3,"files":[{"path":"/s/a.txt","index":1,"size":3,"mtime_ns":0}]}`
	for _, tc := range []struct{ name, content string }{
		{"not json", "\x00garbage{"},
		{"truncated", good[:40]},
		{"unknown format", `{"format":99,"files":[]}`},
		{"index zero", `{"format":1,"files":[{"path":"/s/a","index":0}]}`},
		{"relative path", `{"format":1,"files":[{"path":"s/a","index":1}]}`},
		{"unclean path", `{"format":1,"files":[{"path":"/s/../a","index":1}]}`},
		{"negative size", `{"format":1,"files":[{"path":"/s/a","index":1,"size":-1}]}`},
		{"index listed twice", `{"format":1,"files":[{"path":"/s/a","index":1},{"path":"/s/b","index":1}]}`},
		{"path listed twice", `{"format":1,"files":[{"path":"/s/a","index":1},{"path":"/s/a","index":2}]}`},
		{"bad digest", `{"format":1,"files":[{"path":"/s/a","index":1,"sha1":"urn:sha1:XYZ"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(data, library.StateFile), []byte(tc.content), 0o644))
			l := newLibrary(t, library.Config{DataDir: data})
			assert.ErrorIs(t, l.Load(), library.ErrCorruptState)
			assert.Zero(t, l.Count(), "a damaged state leaves the library empty")
		})
	}
	t.Run("good state loads", func(t *testing.T) {
		data := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(data, library.StateFile), []byte(good), 0o644))
		l := newLibrary(t, library.Config{DataDir: data})
		require.NoError(t, l.Load())
		assert.Equal(t, 1, l.Count())
	})
	t.Run("missing state is no error", func(t *testing.T) {
		l := newLibrary(t, library.Config{DataDir: t.TempDir()})
		assert.NoError(t, l.Load())
	})
}

func TestCorruptStateIsReplaced(t *testing.T) {
	root, data := t.TempDir(), t.TempDir()
	writeFile(t, root, "a.txt", "abc")
	state := filepath.Join(data, library.StateFile)
	require.NoError(t, os.WriteFile(state, []byte("{{{{"), 0o644))
	l := newLibrary(t, library.Config{Dirs: []string{root}, DataDir: data})
	require.ErrorIs(t, l.Load(), library.ErrCorruptState)
	_, err := l.Rescan(t.Context())
	require.NoError(t, err)
	require.NoError(t, l.HashPending(t.Context()))

	again := newLibrary(t, library.Config{Dirs: []string{root}, DataDir: data})
	require.NoError(t, again.Load(), "the rescan rewrote the state file")
	f, ok := again.ByIndex(1)
	require.True(t, ok)
	assert.True(t, f.Hashed)
	entries, err := os.ReadDir(data)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{library.StateFile, library.TreeDir}, names, "no temporary file is left behind")
}

func TestDataDirInsideSharedTreeIsNotShared(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "music/a.mp3", "a")
	data := filepath.Join(root, "state")
	l := newLibrary(t, library.Config{Dirs: []string{root}, DataDir: data})
	_, err := l.Rescan(t.Context())
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(data, library.StateFile))
	_, err = l.Rescan(t.Context())
	require.NoError(t, err)
	assert.Equal(t, map[string]uint32{"music/a.mp3": 1}, indexed(t, l, root))
}

func TestMissingDirectoryIsReportedOthersApplied(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "a.txt", "a")
	l := newLibrary(t, library.Config{Dirs: []string{filepath.Join(root, "absent"), root}})
	ch, err := l.Rescan(t.Context())
	assert.ErrorIs(t, err, library.ErrRoot)
	assert.Equal(t, library.Changes{Added: 1}, ch)
	assert.Equal(t, 1, l.Count())
}

func TestRescanCancelledChangesNothing(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "a.txt", "a")
	l := newLibrary(t, library.Config{Dirs: []string{root}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := l.Rescan(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, l.Count())
}

func TestCountAndSharedKB(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "one.bin", string(make([]byte, 1024)))
	writeFile(t, root, "two.bin", string(make([]byte, 1025)))
	l := newLibrary(t, library.Config{Dirs: []string{root}})
	assert.Zero(t, l.SharedKB())
	_, err := l.Rescan(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, l.Count())
	assert.Equal(t, uint64(3), l.SharedKB(), "2049 bytes are 3 KiB rounded up")
	assert.Equal(t, int64(2049), l.Stats().Bytes)
}

func TestDuplicateContentSearchSHA1(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "x/abc.txt", "abc")
	writeFile(t, root, "y/copy of abc.txt", "abc")
	writeFile(t, root, "other.txt", "other")
	l := newLibrary(t, library.Config{Dirs: []string{root}})
	_, err := l.Rescan(t.Context())
	require.NoError(t, err)
	abc := mustSHA1(t, "a9993e364706816aba3e25717850c26c9cd0d89d")
	assert.Empty(t, l.SearchSHA1(abc, 10), "unknown before hashing")
	require.NoError(t, l.HashPending(t.Context()))

	got := l.SearchSHA1(abc, 10)
	require.Len(t, got, 2)
	assert.Equal(t, "abc.txt", got[0].Name)
	assert.Equal(t, "copy of abc.txt", got[1].Name)
	assert.Len(t, l.SearchSHA1(abc, 1), 1)
	assert.Empty(t, l.SearchSHA1(abc, 0))
	f, ok := l.BySHA1(abc)
	require.True(t, ok)
	assert.Equal(t, got[0], f)
	_, ok = l.BySHA1(wire.SHA1{1})
	assert.False(t, ok)

	require.NoError(t, os.Remove(filepath.Join(root, "x/abc.txt")))
	_, err = l.Rescan(t.Context())
	require.NoError(t, err)
	f, ok = l.BySHA1(abc)
	require.True(t, ok)
	assert.Equal(t, "copy of abc.txt", f.Name)
}

func TestHashPendingCancelledKeepsQueue(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "a.txt", "abc")
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	l := newLibrary(t, library.Config{Dirs: []string{root}, Hash: func(hctx context.Context, path string) (library.Digest, error) {
		calls++
		if calls == 1 {
			cancel() // shutdown arrives mid-hash
		}
		return library.HashFile(hctx, path)
	}})
	_, err := l.Rescan(t.Context())
	require.NoError(t, err)
	assert.ErrorIs(t, l.HashPending(ctx), context.Canceled)
	st := l.Stats()
	assert.Equal(t, 1, st.Pending, "the interrupted file is queued again")
	assert.Zero(t, st.HashErrors)

	require.NoError(t, l.HashPending(t.Context()))
	f, _ := l.ByIndex(1)
	assert.True(t, f.Hashed)
	assert.Equal(t, 2, calls)
}

func TestFileChangedWhileHashingIsNotRecorded(t *testing.T) {
	root := t.TempDir()
	p := writeFile(t, root, "a.txt", "abc")
	l := newLibrary(t, library.Config{Dirs: []string{root}, Hash: func(ctx context.Context, path string) (library.Digest, error) {
		sum, err := library.HashFile(ctx, path)
		writeFile(t, root, "a.txt", "abc and more") // written while we read
		return sum, err
	}})
	_, err := l.Rescan(t.Context())
	require.NoError(t, err)
	require.NoError(t, l.HashPending(t.Context()))
	f, ok := l.ByIndex(1)
	require.True(t, ok)
	assert.False(t, f.Hashed, "a digest of the old content must not be kept")
	assert.Equal(t, uint64(1), l.Stats().HashErrors)

	ch, err := l.Rescan(t.Context())
	require.NoError(t, err)
	assert.Equal(t, library.Changes{Changed: 1}, ch)
	f, ok = l.ByIndex(2)
	require.True(t, ok)
	assert.Equal(t, p, f.Path)
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := library.New(library.Config{HashWorkers: -1})
	assert.Error(t, err)
	_, err = library.New(library.Config{RescanInterval: -time.Second})
	assert.Error(t, err)
}

func TestLoadAfterRescanRefused(t *testing.T) {
	root, data := t.TempDir(), t.TempDir()
	writeFile(t, root, "a.txt", "a")
	l := newLibrary(t, library.Config{Dirs: []string{root}, DataDir: data})
	_, err := l.Rescan(t.Context())
	require.NoError(t, err)
	assert.Error(t, l.Load())
	assert.Equal(t, 1, l.Count())
}

func TestConcurrentUse(t *testing.T) {
	root := t.TempDir()
	for i := range 50 {
		writeFile(t, root, fmt.Sprintf("dir%d/song %d.mp3", i%5, i), fmt.Sprint(i))
	}
	l := newLibrary(t, library.Config{Dirs: []string{root}, DataDir: t.TempDir(), HashWorkers: 2})
	_, err := l.Rescan(t.Context())
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, l.HashPending(t.Context())) })
	wg.Go(func() {
		for i := range 20 {
			writeFile(t, root, fmt.Sprintf("late %d.mp3", i), "late")
			_, err := l.Rescan(t.Context())
			assert.NoError(t, err)
		}
	})
	wg.Go(func() {
		for range 200 {
			for _, f := range l.Search("song mp3", 10) {
				g, ok := l.ByIndex(f.Index)
				assert.True(t, ok)
				assert.Equal(t, f.Path, g.Path)
			}
			l.All()
			l.Stats()
		}
	})
	wg.Wait()
	require.NoError(t, l.HashPending(t.Context()))
	assert.Equal(t, 70, l.Stats().Hashed)
}

// hashedLibrary shares root, with its state in data, scanned and hashed,
// and returns it with its file of index 1.
func hashedLibrary(t *testing.T, root, data string) (*library.Library, library.File) {
	t.Helper()
	l := newLibrary(t, library.Config{Dirs: []string{root}, DataDir: data})
	_, err := l.Rescan(t.Context())
	require.NoError(t, err)
	require.NoError(t, l.HashPending(t.Context()))
	f, ok := l.ByIndex(1)
	require.True(t, ok)
	return l, f
}

func TestTreeCacheSurvivesRestart(t *testing.T) {
	root, data := t.TempDir(), t.TempDir()
	content := bytes.Repeat([]byte("tiger "), 100<<10) // 600 KiB: depth 2
	require.NoError(t, os.WriteFile(filepath.Join(root, "f.bin"), content, 0o644))
	want := thex.NewBuilder()
	want.Write(content)

	_, f := hashedLibrary(t, root, data)
	require.True(t, f.HasTTH)
	assert.Equal(t, want.Root(), f.TTH)

	l2 := newLibrary(t, library.Config{Dirs: []string{root}, DataDir: data})
	require.NoError(t, l2.Load())
	f2, ok := l2.ByIndex(1)
	require.True(t, ok)
	assert.Equal(t, f.TTH, f2.TTH, "the root is in the state file")
	tr, ok := l2.Tree(f2.TTH)
	require.True(t, ok)
	assert.Equal(t, want.Tree(), tr)

	// A damaged cache file is not served: l2 keeps the tree it checked
	// when it loaded it, a library that loads the file refuses it.
	name := filepath.Join(data, library.TreeDir, f.TTH.Base32())
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	b[len(b)-1] ^= 1
	require.NoError(t, os.WriteFile(name, b, 0o644))
	tr, ok = l2.Tree(f2.TTH)
	require.True(t, ok)
	assert.Equal(t, want.Tree(), tr)
	l3 := newLibrary(t, library.Config{Dirs: []string{root}, DataDir: data})
	require.NoError(t, l3.Load())
	_, ok = l3.Tree(f2.TTH)
	assert.False(t, ok)
}

// The uploader looks the tree up for every reply it sends (to announce it
// in X-Thex-URI), one per chunk a downloader asks for: after the first
// lookup the tree comes from memory, without reading the cache file again
// or hashing its levels again. A tree is named by its root, so a file
// that changes asks for another one.
func TestTreeLookupReadsCacheFileOnce(t *testing.T) {
	root, data := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "f.bin"), bytes.Repeat([]byte("tiger "), 100<<10), 0o644))
	l, f := hashedLibrary(t, root, data)
	want, ok := l.Tree(f.TTH)
	require.True(t, ok)
	require.NoError(t, os.Remove(filepath.Join(data, library.TreeDir, f.TTH.Base32())))
	allocs := testing.AllocsPerRun(50, func() {
		got, ok := l.Tree(f.TTH)
		if !ok || got != want {
			t.Fatalf("tree %p, %v; want %p from memory", got, ok, want)
		}
	})
	assert.Zero(t, allocs)
}
