package library

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"

	"github.com/govent/govent/httpxfer/atomicfile"
	"github.com/govent/govent/httpxfer/smallfile"
	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

// TreeDir is the directory of the tree cache inside the data directory,
// as gtk-gnutella keeps its tth_cache: one file per tree, named by the
// root in base32, holding the file size (8 bytes, big-endian), the depth
// (1 byte) and the nodes of that depth, 24 bytes each. The levels above
// are recomputed on load, and the root checked against the name.
const TreeDir = "tth"

// maxTreeNodes bounds a cached tree file: thex.Builder keeps at most 2048
// nodes of a level.
const maxTreeNodes = 4096

// maxTreeFile is the largest tree cache file read: its 9 bytes of size
// and depth, then maxTreeNodes nodes.
const maxTreeFile = 9 + maxTreeNodes*wire.TTHLen

// loadedTrees is how many trees read from cache files stay in memory.
// The uploader looks a file's tree up for every reply head (to announce it
// in X-Thex-URI), once per chunk a downloader asks for; reading the file
// and hashing the levels above its nodes each time cost a downloader's
// whole-file rate. A tree of gtk-gnutella's depths holds at most 4095
// nodes, about 100 KB, so this is a few MB at most.
const loadedTrees = 64

func newTreeLRU() *lru.Cache[wire.TTH, *thex.Tree] {
	c, err := lru.New[wire.TTH, *thex.Tree](loadedTrees)
	if err != nil {
		panic("library: " + err.Error()) // only for a size <= 0
	}
	return c
}

// storeTree keeps t in the tree cache: a file under DataDir/tth, or memory
// when the library persists nothing.
func (l *Library) storeTree(t *thex.Tree) error {
	// Copies of one file have one tree: written once, one writer at a time.
	l.treeMu.Lock()
	defer l.treeMu.Unlock()
	if l.dataDir == "" {
		l.trees[t.Root()] = t
		return nil
	}
	name := filepath.Join(l.dataDir, TreeDir, t.Root().Base32())
	if _, err := loadTree(name, t.Root()); err == nil {
		return nil
	}
	nodes := t.Levels[t.Depth()]
	b := make([]byte, 0, 9+len(nodes)*wire.TTHLen)
	b = binary.BigEndian.AppendUint64(b, uint64(t.Size))
	b = append(b, byte(t.Depth()))
	for i := range nodes {
		b = append(b, nodes[i][:]...)
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("tree cache: %w", err)
	}
	if err := atomicfile.Write(name, b); err != nil {
		return fmt.Errorf("tree cache: %w", err)
	}
	return nil
}

// Tree returns the Tiger tree whose root is root from the tree cache, for
// serving at /uri-res/N2X. It is false when the tree is not cached (not
// hashed yet, or the cache file was lost or damaged). A tree read from a
// cache file is kept in memory (the last loadedTrees of them) and served
// from there: it hashed up to its root when read, and a root names one
// file's content, so it cannot go stale; a file that changes has another
// root.
func (l *Library) Tree(root wire.TTH) (*thex.Tree, bool) {
	if l.dataDir == "" {
		l.treeMu.Lock()
		defer l.treeMu.Unlock()
		t, ok := l.trees[root]
		return t, ok
	}
	if t, ok := l.loaded.Get(root); ok {
		return t, true
	}
	t, err := loadTree(filepath.Join(l.dataDir, TreeDir, root.Base32()), root)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			l.log.Warn("cached Tiger tree not read", zap.Error(err)) // err names its file
		}
		return nil, false
	}
	l.loaded.Add(root, t)
	return t, true
}

func loadTree(name string, root wire.TTH) (*thex.Tree, error) {
	b, err := smallfile.Read(name, maxTreeFile)
	if err != nil {
		return nil, err
	}
	if len(b) < 9 || (len(b)-9)%wire.TTHLen != 0 {
		return nil, fmt.Errorf("%s: %d bytes is no tree", name, len(b))
	}
	size := binary.BigEndian.Uint64(b)
	if size > 1<<62 {
		return nil, fmt.Errorf("%s: size %d", name, size)
	}
	nodes := make([]wire.TTH, (len(b)-9)/wire.TTHLen)
	for i := range nodes {
		copy(nodes[i][:], b[9+i*wire.TTHLen:])
	}
	t, err := thex.NewTree(int64(size), int(b[8]), nodes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if t.Root() != root {
		return nil, fmt.Errorf("%s: nodes hash to %s", name, t.Root().Base32())
	}
	return t, nil
}
