package library_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/govent/govent/servent/library"
)

// Run after a Rescan (as Servent.Start scans before it listens) does not
// scan again at once: a share it cannot read is warned about once, by
// the caller of that scan, and the first "sharing" line counts the files
// that scan added. Before, Run rescanned at once: a second warning
// ("library rescan" after the servent's "library scan"), and "added": 0
// with "files": 2.
func TestRunAfterRescanReportsThatScan(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"a.txt", "b.txt"} {
		require.NoError(t, os.WriteFile(filepath.Join(root, name), []byte(name), 0o644))
	}
	missing := filepath.Join(t.TempDir(), "gone")
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zapcore.InfoLevel)
		l := newLibrary(t, library.Config{Dirs: []string{root, missing}, Logger: zap.New(core)})
		ch, err := l.Rescan(t.Context())
		require.Error(t, err, "a missing share")
		assert.Equal(t, 2, ch.Added)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		synctest.Wait()
		cancel()
		<-done
		assert.Empty(t, logs.FilterLevelExact(zapcore.WarnLevel).All(), "the scan's error was its caller's to say")
		sharing := logs.FilterMessage("sharing").All()
		require.Len(t, sharing, 1)
		m := sharing[0].ContextMap()
		assert.EqualValues(t, 2, m["files"])
		assert.EqualValues(t, 2, m["added"], "the files the scan before Run added")
	})
}
