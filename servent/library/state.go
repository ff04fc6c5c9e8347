package library

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/httpxfer/atomicfile"
	"github.com/govent/govent/httpxfer/smallfile"
	"github.com/govent/govent/wire"
)

// StateFile is the name of the library's state file in the data directory.
const StateFile = "library.json"

// stateFormat is bumped when the file layout changes incompatibly.
const stateFormat = 1

// maxStateFile bounds the state file Load reads. An entry takes some
// 250 bytes (a path of 60, the two URNs, the numbers and the keys), so
// this holds about half a million shared files: a library a servent could
// keep in memory at all. A library larger than that writes a state file
// that the next Load refuses, and is hashed again.
const maxStateFile = 128 << 20

// stateFile is the persisted library: the index counter, and for each file
// its index and (when known) its digest, valid while size and modification
// time are unchanged.
type stateFile struct {
	Format    int          `json:"format"`
	NextIndex uint64       `json:"next_index"`
	Files     []stateEntry `json:"files"`
}

type stateEntry struct {
	Path    string `json:"path"`
	Index   uint32 `json:"index"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	SHA1    string `json:"sha1,omitempty"` // urn:sha1:<base32>
	TTH     string `json:"tth,omitempty"`  // urn:tree:tiger/:<base32>, the tree in TreeDir
}

// Load restores the file indexes, the index counter and the digests saved
// by an earlier run. A missing state file (or no DataDir) is not an error.
// A state file that cannot be parsed, or is over maxStateFile, is reported
// with ErrCorruptState and ignored: the library stays empty. Load the state before the first
// Rescan, which then keeps the index and digest of every file whose size
// and modification time are unchanged.
func (l *Library) Load() error {
	if l.dataDir == "" {
		return nil
	}
	name := filepath.Join(l.dataDir, StateFile)
	b, err := smallfile.Read(name, maxStateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if errors.Is(err, smallfile.ErrTooLarge) {
		return fmt.Errorf("%w: %w", ErrCorruptState, err)
	}
	if err != nil {
		return fmt.Errorf("load %s: %w", name, err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w %s: %w", ErrCorruptState, name, err)
	}
	entries, next, err := st.entries()
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrCorruptState, name, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.byIndex) > 0 {
		return fmt.Errorf("load %s: the library is not empty", name)
	}
	for _, e := range entries {
		l.addLocked(e)
	}
	l.nextIndex = max(l.nextIndex, next)
	l.version++
	return nil
}

// entries checks the decoded state: the file is ours but may be damaged.
func (st *stateFile) entries() ([]*entry, uint64, error) {
	if st.Format != stateFormat {
		return nil, 0, fmt.Errorf("format %d, want %d", st.Format, stateFormat)
	}
	next := st.NextIndex
	paths := make(map[string]bool, len(st.Files))
	indexes := make(map[uint32]bool, len(st.Files))
	out := make([]*entry, 0, len(st.Files))
	for _, s := range st.Files {
		switch {
		case s.Index == 0:
			return nil, 0, fmt.Errorf("%s: index 0", s.Path)
		case !filepath.IsAbs(s.Path) || filepath.Clean(s.Path) != s.Path:
			return nil, 0, fmt.Errorf("path %q is not absolute and clean", s.Path)
		case s.Size < 0:
			return nil, 0, fmt.Errorf("%s: size %d", s.Path, s.Size)
		case paths[s.Path] || indexes[s.Index]:
			return nil, 0, fmt.Errorf("%s: index %d: listed twice", s.Path, s.Index)
		}
		paths[s.Path], indexes[s.Index] = true, true
		e := &entry{File: File{
			Index:   s.Index,
			Name:    filepath.Base(s.Path),
			Path:    s.Path,
			Size:    s.Size,
			ModTime: time.Unix(0, s.ModTime),
		}}
		if s.SHA1 != "" {
			sum, err := wire.ParseURN(s.SHA1)
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %w", s.Path, err)
			}
			e.SHA1, e.Hashed = sum, true
		}
		if s.TTH != "" {
			u, err := wire.ParseContentURN([]byte(s.TTH))
			if err != nil || !u.HasTTH {
				return nil, 0, fmt.Errorf("%s: tth %q", s.Path, s.TTH)
			}
			e.TTH, e.HasTTH = u.TTH, true
		}
		out = append(out, e)
		// A damaged counter must still never hand out a used index.
		next = max(next, uint64(s.Index)+1)
	}
	return out, min(next, math.MaxUint32+1), nil
}

// save writes the state file atomically; without a DataDir it does nothing.
func (l *Library) save() error {
	if l.dataDir == "" {
		return nil
	}
	// Snapshot under saveMu so that files are written in snapshot order.
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	l.mu.RLock()
	st := stateFile{Format: stateFormat, NextIndex: l.nextIndex, Files: make([]stateEntry, 0, len(l.byIndex))}
	for _, e := range l.byIndex {
		s := stateEntry{Path: e.Path, Index: e.Index, Size: e.Size, ModTime: e.ModTime.UnixNano()}
		if e.Hashed {
			s.SHA1 = e.SHA1.String()
		}
		if e.HasTTH {
			s.TTH = e.TTH.String()
		}
		st.Files = append(st.Files, s)
	}
	l.mu.RUnlock()
	b, err := json.Marshal(&st)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(l.dataDir, StateFile), b); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// saveLogged saves from the background hasher, where nobody gets an error.
func (l *Library) saveLogged() {
	if err := l.save(); err != nil {
		l.log.Warn("state not saved", zap.Error(err))
	}
}
