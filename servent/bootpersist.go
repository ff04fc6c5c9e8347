package servent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/govent/govent/httpxfer/atomicfile"
	"github.com/govent/govent/httpxfer/smallfile"
)

// CacheFile keeps, in the data directory, what the bootstrapper learned of
// host caches (bootstrap.go): which failed, when each may be asked again,
// and the caches other caches named. A restart thus does not hammer a
// cache that just failed.
const CacheFile = "host-caches.json"

// maxCacheFile bounds the file read back: a few dozen entries.
const maxCacheFile = 64 << 10

type cacheFile struct {
	Caches []cacheEntry `json:"caches"`
}

type cacheEntry struct {
	Name     string    `json:"name"`
	UDP      bool      `json:"udp,omitempty"`
	Failures int       `json:"failures,omitempty"`
	Next     time.Time `json:"next,omitzero"`
	Learned  bool      `json:"learned,omitempty"` // named by another cache
}

// loadCachesLocked restores the saved state of the caches in b.caches and
// adds the learned ones, up to maxLearnedCaches. A missing file is no
// error; a corrupt one is reported and ignored.
func (b *bootState) loadCachesLocked(dataDir string) error {
	if dataDir == "" {
		return nil
	}
	name := filepath.Join(dataDir, CacheFile)
	data, err := smallfile.Read(name, maxCacheFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("loading host caches: %w", err)
	}
	var saved cacheFile
	if err := json.Unmarshal(data, &saved); err != nil {
		return fmt.Errorf("loading %s: %w", name, err)
	}
	learned := 0
	for _, e := range saved.Caches {
		c := b.findLocked(e.Name)
		if c == nil && e.Learned && learned < maxLearnedCaches {
			learned++
			b.addLocked(e.Name, e.UDP)
			c = b.findLocked(e.Name)
			c.learned = true
		}
		if c != nil {
			c.failures, c.next = max(e.Failures, 0), e.Next
		}
	}
	return nil
}

// saveCaches writes the caches' state, if there is a data directory.
func (b *bootState) saveCaches(dataDir string) error {
	if dataDir == "" {
		return nil
	}
	b.mu.Lock()
	var f cacheFile
	for _, c := range b.caches {
		f.Caches = append(f.Caches, cacheEntry{Name: c.name, UDP: c.udp, Failures: c.failures, Next: c.next, Learned: c.learned})
	}
	b.mu.Unlock()
	if len(f.Caches) == 0 {
		return nil
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("saving host caches: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dataDir, CacheFile), data); err != nil {
		return fmt.Errorf("saving host caches: %w", err)
	}
	return nil
}

func (b *bootState) findLocked(name string) *bootCache {
	for _, c := range b.caches {
		if c.name == name {
			return c
		}
	}
	return nil
}
