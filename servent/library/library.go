// Package library owns the servent's shared library: the files found under
// the shared directories, their file indexes (stable across restarts), their
// SHA-1 digests and THEX trees (computed in the background, in one read of
// each file, and cached in the data directory: the index and the tree
// cache, tree.go), and keyword and urn:sha1 lookup for answering Queries
// and serving uploads.
//
// What is shared: regular files only. Hidden files and directories (a name
// starting with '.'), symbolic links (all of them, so that nothing outside
// the tree is ever shared and no link loop is walked), devices, FIFOs and
// sockets, files we cannot open, download leftovers (httpxfer's names
// ending in ".part" or ".part.state") and the data directory itself, should
// it lie inside a shared tree, are skipped.
//
// File indexes start at 1 (0 is never used, as in gtk-gnutella) and come
// from a counter that only grows and is persisted: an index, once retired
// because its file was removed, renamed or changed, is never given to
// another file. A file whose size or modification time changes gets a new
// index, so that a downloader resuming /get/<index>/ with a Range cannot
// splice two different contents together.
package library

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

// Sentinel errors.
var (
	// ErrCorruptState says the persisted library state could not be read;
	// the library starts empty and the state file is rewritten.
	ErrCorruptState = errors.New("corrupt state file")
	// ErrRoot says a shared directory could not be walked.
	ErrRoot = errors.New("cannot walk shared directory")
	// ErrIndexesExhausted says the 32-bit file index counter ran out.
	ErrIndexesExhausted = errors.New("file indexes exhausted")
	// errChangedWhileHashing discards a digest of a file that changed
	// under the hasher; the next rescan gives the file a new index.
	errChangedWhileHashing = errors.New("file changed while hashing")
)

// DefaultHashWorkers is the number of files hashed at once: one keeps the
// disk streaming sequentially and leaves the CPU to the network.
const DefaultHashWorkers = 1

// Config configures a Library. Only Dirs is needed to share something.
type Config struct {
	// Dirs are the directory trees to share.
	Dirs []string
	// DataDir keeps the index and SHA-1 state file (StateFile) across
	// restarts; empty keeps nothing.
	DataDir string
	// HashWorkers is how many files are hashed at once (DefaultHashWorkers
	// when zero).
	HashWorkers int
	// RescanInterval is how often Run rescans; zero rescans only on
	// RequestRescan.
	RescanInterval time.Duration
	// Hash computes a file's SHA-1 and Tiger tree; nil means HashFile.
	// Tests count calls. A Digest without a Tree leaves the file without
	// THEX.
	Hash func(ctx context.Context, path string) (Digest, error)
	// OnChange is called with the new Version after a rescan changed the
	// set of files and after a round of hashing finished some digests, so
	// the QRP code can send a patch. It runs on the rescanning or hashing
	// goroutine with no lock held and must not block for long.
	OnChange func(version uint64)
	// Logger receives rescan and hashing problems; nil discards them.
	Logger *zap.Logger
}

// File is one shared file.
type File struct {
	Index   uint32    // the file index of QueryHits and /get/<index>/
	Name    string    // base name, as put in QueryHits
	Path    string    // absolute path
	Size    int64     // bytes
	ModTime time.Time // modification time when indexed
	SHA1    wire.SHA1 // valid when Hashed
	Hashed  bool
	// TTH is the root of the file's Tiger tree, valid when HasTTH; the
	// tree itself is in the tree cache (Tree).
	TTH    wire.TTH
	HasTTH bool
}

// entry is a File with its precomputed keywords.
type entry struct {
	File
	words []string // Words(Name)
}

// Changes summarizes what one Rescan found.
type Changes struct {
	Added, Removed, Changed int
}

// Any reports whether the rescan changed the library.
func (c Changes) Any() bool { return c.Added+c.Removed+c.Changed > 0 }

// Stats are counters for status pages and tests.
type Stats struct {
	Files      int    // files shared
	Bytes      int64  // their total size
	Hashed     int    // files whose SHA-1 is known
	Pending    int    // files waiting to be hashed
	Skipped    int    // entries skipped by the last rescan by policy (hidden, links, specials, leftovers)
	Unreadable int    // files and directories the last rescan could not open
	HashErrors uint64 // failed hash attempts since start
	Version    uint64
}

// Library is the shared library. Its methods are safe for concurrent use.
type Library struct {
	dirs     []string
	dataDir  string // absolute; "" when not persisting
	workers  int
	interval time.Duration
	hash     func(ctx context.Context, path string) (Digest, error)
	onChange func(uint64)
	log      *zap.Logger

	scanMu    sync.Mutex    // one rescan at a time
	saveMu    sync.Mutex    // one state write at a time, in snapshot order
	rescanReq chan struct{} // RequestRescan -> Run, coalescing

	mu         sync.RWMutex
	byPath     map[string]*entry
	byIndex    map[uint32]*entry
	bySHA1     map[wire.SHA1][]uint32 // sorted indexes; copies share a digest
	postings   map[string][]uint32    // keyword -> sorted indexes
	nextIndex  uint64                 // > math.MaxUint32 when exhausted
	totalBytes int64
	hashed     int
	queue      []uint32 // indexes waiting to be hashed
	queued     map[uint32]bool
	version    uint64
	skipped    int
	unreadable int
	hashErrors uint64
	// What the last Rescan changed, for Run's first line when a scan
	// came before it (scanned).
	scanned     bool
	lastChanges Changes

	// trees is the tree cache when there is no DataDir (see Tree);
	// loaded holds the trees last read from the cache files.
	treeMu sync.Mutex
	trees  map[wire.TTH]*thex.Tree
	loaded *lru.Cache[wire.TTH, *thex.Tree]
}

// New returns an empty library for cfg. Call Load to restore the persisted
// indexes and digests, then Rescan (or Run) to index the shared directories.
func New(cfg Config) (*Library, error) {
	l := &Library{
		workers:   cfg.HashWorkers,
		interval:  cfg.RescanInterval,
		hash:      cfg.Hash,
		onChange:  cfg.OnChange,
		log:       cfg.Logger,
		rescanReq: make(chan struct{}, 1),
		byPath:    make(map[string]*entry),
		byIndex:   make(map[uint32]*entry),
		bySHA1:    make(map[wire.SHA1][]uint32),
		postings:  make(map[string][]uint32),
		queued:    make(map[uint32]bool),
		trees:     make(map[wire.TTH]*thex.Tree),
		loaded:    newTreeLRU(),
		nextIndex: 1,
	}
	if l.workers == 0 {
		l.workers = DefaultHashWorkers
	}
	if l.workers < 0 {
		return nil, fmt.Errorf("HashWorkers %d is negative", l.workers)
	}
	if l.interval < 0 {
		return nil, fmt.Errorf("RescanInterval %v is negative", l.interval)
	}
	if l.hash == nil {
		l.hash = HashFile
	}
	if l.log == nil {
		l.log = zap.NewNop()
	}
	for _, d := range cfg.Dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("shared directory %q: %w", d, err)
		}
		l.dirs = append(l.dirs, abs)
	}
	if cfg.DataDir != "" {
		abs, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("data directory %q: %w", cfg.DataDir, err)
		}
		l.dataDir = abs
	}
	return l, nil
}

// ByIndex returns the file with the given index.
func (l *Library) ByIndex(index uint32) (File, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e, ok := l.byIndex[index]
	if !ok {
		return File{}, false
	}
	return e.File, true
}

// BySHA1 returns a file with the given digest (the lowest index when several
// copies are shared).
func (l *Library) BySHA1(sum wire.SHA1) (File, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	idx := l.bySHA1[sum]
	if len(idx) == 0 {
		return File{}, false
	}
	return l.byIndex[idx[0]].File, true
}

// SearchSHA1 answers a urn:sha1 query: the files with that digest, in index
// order, at most max of them (none when max < 1).
func (l *Library) SearchSHA1(sum wire.SHA1, max int) []File {
	if max < 1 {
		return nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	idx := l.bySHA1[sum]
	var out []File
	for _, i := range idx[:min(len(idx), max)] {
		out = append(out, l.byIndex[i].File)
	}
	return out
}

// All returns every shared file in index order.
func (l *Library) All() []File {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]File, 0, len(l.byIndex))
	for _, e := range l.byIndex {
		out = append(out, e.File)
	}
	slices.SortFunc(out, func(a, b File) int { return cmp.Compare(a.Index, b.Index) })
	return out
}

// Count is the number of shared files, as a Pong reports it.
func (l *Library) Count() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.byIndex)
}

// SharedKB is the total size of the shared files in KiB, rounded up, as a
// Pong reports it (the caller clamps it to 32 bits, and rounds it to a power
// of two if it follows the ultrapeer marking convention).
func (l *Library) SharedKB() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return (uint64(l.totalBytes) + 1023) / 1024
}

// Version grows by at least one with every change to the library (files
// added, removed or changed, digests computed).
func (l *Library) Version() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.version
}

// Keywords returns every distinct keyword of the shared file names, sorted:
// what a QRP table for this library must contain.
func (l *Library) Keywords() []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]string, 0, len(l.postings))
	for w := range l.postings {
		out = append(out, w)
	}
	slices.Sort(out)
	return out
}

// Stats returns the library's counters.
func (l *Library) Stats() Stats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return Stats{
		Files:      len(l.byIndex),
		Bytes:      l.totalBytes,
		Hashed:     l.hashed,
		Pending:    len(l.queue),
		Skipped:    l.skipped,
		Unreadable: l.unreadable,
		HashErrors: l.hashErrors,
		Version:    l.version,
	}
}

// RequestRescan asks Run to rescan soon; it never blocks and requests made
// before Run picks one up are merged. The servent calls it on SIGHUP.
func (l *Library) RequestRescan() {
	select {
	case l.rescanReq <- struct{}{}:
	default:
	}
}

// Run rescans now, then every RescanInterval and on each RequestRescan,
// hashing new files in the background after each rescan, until ctx is
// done. It returns ctx.Err() once its hashing goroutine has stopped.
func (l *Library) Run(ctx context.Context) error {
	kick := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
				before := l.Stats().Pending
				// Only ctx errors come back; the loop sees them.
				_ = l.HashPending(ctx)
				if st := l.Stats(); before > 0 && st.Pending == 0 {
					l.log.Info("shared files hashed", zap.Int("files", st.Files), zap.Int64("bytes", st.Bytes),
						zap.Int("hashed", st.Hashed), zap.Uint64("hash_errors", st.HashErrors))
				}
			}
		}
	})
	first := true
	report := func(ch Changes) {
		if ctx.Err() == nil && (first || ch.Any()) {
			// After the first scan and each that changed something; an
			// idle rescan every RescanInterval says nothing. A scan that
			// warned (a share it could not read) still shares the rest.
			st := l.Stats()
			l.log.Info("sharing", zap.Int("files", st.Files), zap.Int64("bytes", st.Bytes), zap.Int("still_hashing", st.Pending),
				zap.Int("added", ch.Added), zap.Int("removed", ch.Removed), zap.Int("changed", ch.Changed),
				zap.Int("skipped", st.Skipped), zap.Int("unreadable", st.Unreadable))
			first = false
		}
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	rescan := func() {
		ch, err := l.Rescan(ctx)
		if err != nil && ctx.Err() == nil {
			l.log.Warn("library rescan", zap.Error(err))
		}
		report(ch)
	}
	// A scan made just before Run (Servent.Start's, so that the files
	// are shared from the first connection) is not made again: its
	// caller said its error, and the first "sharing" line gives its
	// changes. Rescanning at once warned twice for a bad share, and
	// said "added": 0 with every file counted.
	l.mu.RLock()
	scanned, ch := l.scanned, l.lastChanges
	l.mu.RUnlock()
	if scanned {
		report(ch)
	} else {
		rescan()
	}
	var tick <-chan time.Time
	if l.interval > 0 {
		t := time.NewTicker(l.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			rescan()
		case <-l.rescanReq:
			rescan()
		}
	}
}

// notify tells OnChange about a change.
func (l *Library) notify() {
	if l.onChange != nil {
		l.onChange(l.Version())
	}
}
