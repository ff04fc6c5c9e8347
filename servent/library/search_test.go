package library_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/library"
)

func TestWords(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"extension is a word", "Penny Lane.mp3", []string{"lane", "mp3", "penny"}},
		{"precomposed accent dropped", "Beyonc\u00e9", []string{"beyonce"}},
		{"decomposed accent dropped", "Beyonce\u0301", []string{"beyonce"}},
		{"upper-case accented", "ÇA PLANE", []string{"ca", "plane"}},
		{"punctuation and underscores split", "rock_n-roll (live)!", []string{"live", "n", "rock", "roll"}},
		{"apostrophe splits", "don't", []string{"don", "t"}},
		{"digits are word characters", "track01 2024", []string{"2024", "track01"}},
		{"duplicates collapse", "la la LA", []string{"la"}},
		{"non-latin scripts", "日本語 Ελληνικά", []string{"ελληνικα", "日本語"}},
		{"only separators", " -._()", nil},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, library.Words(tc.in))
		})
	}
}

func TestSearch(t *testing.T) {
	root := t.TempDir()
	names := []string{
		"1 Penny Lane.mp3",
		"2 Beyoncé - Halo.ogg",
		"3 BEYONCE live.mp3",
		"4 strawberry fields.ogg",
		"5 lane_markings.txt",
		"6 Ça plane pour moi.mp3",
		"7 penny lane demo.ogg",
	}
	for _, n := range names {
		writeFile(t, root, n, n)
	}
	l := newLibrary(t, library.Config{Dirs: []string{root}})
	_, err := l.Rescan(t.Context())
	require.NoError(t, err)

	for _, tc := range []struct {
		name, query string
		max         int
		want        []uint32
	}{
		{"accent in name, none in query", "beyonce", 10, []uint32{2, 3}},
		{"accent in query, none in name", "Béyoncé", 10, []uint32{2, 3}},
		{"case does not matter", "PENNY", 10, []uint32{1, 7}},
		{"cedilla folds", "ca plane", 10, []uint32{6}},
		{"whole words only: no prefix", "pen", 10, nil},
		{"whole words only: no substring", "ane", 10, nil},
		{"whole words only: plane is not lane", "lane", 10, []uint32{1, 5, 7}},
		{"every word must match", "penny mp3", 10, []uint32{1}},
		{"one missing word fails all", "penny flac", 10, nil},
		{"word order does not matter", "lane penny demo", 10, []uint32{7}},
		{"extension is a word", "ogg", 10, []uint32{2, 4, 7}},
		{"separators in the query are ignored", "  halo -- beyoncé!!", 10, []uint32{2}},
		{"max limits the answer", "ogg", 2, []uint32{2, 4}},
		{"max zero asks nothing", "ogg", 0, nil},
		{"empty query matches nothing", "", 10, nil},
		{"separators only match nothing", " . - ", 10, nil},
		{"unknown word", "zeppelin", 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint32
			for _, f := range l.Search(tc.query, tc.max) {
				got = append(got, f.Index)
			}
			assert.Equal(t, tc.want, got)
		})
	}

	t.Run("too many words", func(t *testing.T) {
		var q []string
		for i := range 33 {
			q = append(q, fmt.Sprintf("w%d", i))
		}
		assert.Empty(t, l.Search(strings.Join(q, " "), 10))
	})

	t.Run("removed files leave the index", func(t *testing.T) {
		require.NoError(t, os.Remove(filepath.Join(root, "1 Penny Lane.mp3")))
		_, err := l.Rescan(t.Context())
		require.NoError(t, err)
		got := l.Search("penny", 10)
		require.Len(t, got, 1)
		assert.Equal(t, uint32(7), got[0].Index)
		assert.NotContains(t, l.Keywords(), "1")
		assert.Contains(t, l.Keywords(), "7")
	})
}

func TestKeywords(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "Beyoncé Halo.mp3", "x")
	writeFile(t, root, "halo 2.MP3", "y")
	l := newLibrary(t, library.Config{Dirs: []string{root}})
	_, err := l.Rescan(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"2", "beyonce", "halo", "mp3"}, l.Keywords())
}

func TestRunRescansOnStartTimerAndRequest(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "first.txt", "abc")
	synctest.Test(t, func(t *testing.T) {
		changes := 0
		l := newLibrary(t, library.Config{
			Dirs:           []string{root},
			RescanInterval: time.Hour,
			OnChange:       func(uint64) { changes++ },
		})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- l.Run(ctx) }()

		synctest.Wait()
		f, ok := l.ByIndex(1)
		require.True(t, ok, "Run scans at start")
		assert.True(t, f.Hashed, "and hashes in the background")
		assert.Equal(t, 2, changes, "one rescan, one round of hashing")

		writeFile(t, root, "requested.txt", "b")
		l.RequestRescan()
		l.RequestRescan() // merged with the first
		synctest.Wait()
		assert.Equal(t, 2, l.Count(), "RequestRescan (SIGHUP) rescans")

		writeFile(t, root, "timer.txt", "c")
		time.Sleep(time.Hour - time.Second)
		synctest.Wait()
		assert.Equal(t, 2, l.Count(), "not before the interval")
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, 3, l.Count(), "the timer rescans")
		assert.Equal(t, 3, l.Stats().Hashed)

		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
	})
}

// syntheticNames builds n file names from a vocabulary with a skewed
// distribution, like real libraries (a few very common words such as the
// extension, many rare ones).
func syntheticNames(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	exts := []string{"mp3", "ogg", "flac", "avi", "txt"}
	names := make([]string, n)
	for i := range names {
		var words []string
		for range 2 + r.IntN(5) {
			words = append(words, fmt.Sprintf("w%d", int(r.ExpFloat64()*300)))
		}
		names[i] = fmt.Sprintf("%s %d.%s", strings.Join(words, " "), i, exts[r.IntN(len(exts))])
	}
	return names
}

func BenchmarkSearch10k(b *testing.B) {
	root := b.TempDir()
	for _, n := range syntheticNames(10_000) {
		require.NoError(b, os.WriteFile(filepath.Join(root, n), nil, 0o644))
	}
	l := newLibrary(b, library.Config{Dirs: []string{root}})
	_, err := l.Rescan(b.Context())
	require.NoError(b, err)
	require.Equal(b, 10_000, l.Count())
	for _, q := range []string{"mp3", "w1 mp3", "w5 w30 ogg", "w900", "zeppelin"} {
		b.Run(q, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(q)))
			for b.Loop() {
				l.Search(q, 100)
			}
		})
	}
}

func BenchmarkRescan10kUnchanged(b *testing.B) {
	root := b.TempDir()
	for _, n := range syntheticNames(10_000) {
		require.NoError(b, os.WriteFile(filepath.Join(root, n), nil, 0o644))
	}
	l := newLibrary(b, library.Config{Dirs: []string{root}})
	_, err := l.Rescan(b.Context())
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		_, err := l.Rescan(b.Context())
		require.NoError(b, err)
	}
}
