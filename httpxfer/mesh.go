package httpxfer

import (
	"net/netip"
	"slices"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/govent/govent/wire"
)

// Mesh is the download mesh: for each file (by SHA-1), the other sources
// known to have it, learned from QueryHits, from X-Alt and X-Falt in
// uploads and downloads, and from our own downloads; and the sources
// known to be bad (X-NAlt, or caught serving bad data), which are never
// handed out again. The uploader sends a file's good sources as X-Alt and
// X-Falt; the downloader takes them as sources. It is bounded: MaxFiles
// files (least recently touched dropped first), meshPerFile sources of
// each kind per file (oldest dropped first). Safe for concurrent use.
type Mesh struct {
	mu    sync.Mutex
	files *simplelru.LRU[wire.SHA1, *meshFile]
}

// meshPerFile bounds the sources a Mesh keeps per file and kind.
const meshPerFile = 32

type meshFile struct { // each most recent last
	good []netip.AddrPort
	fw   []FirewalledLoc
	bad  []netip.AddrPort
}

// NewMesh returns a Mesh for up to maxFiles files (default 4096).
func NewMesh(maxFiles int) *Mesh {
	if maxFiles <= 0 {
		maxFiles = 4096
	}
	files, _ := simplelru.NewLRU[wire.SHA1, *meshFile](maxFiles, nil)
	return &Mesh{files: files}
}

// addRecent puts v at the recent end of list, removing what same matches
// and the oldest entry when the list is full.
func addRecent[T any](list []T, v T, same func(T) bool) []T {
	list = slices.DeleteFunc(list, same)
	if len(list) == meshPerFile {
		list = slices.Delete(list, 0, 1)
	}
	return append(list, v)
}

// recent returns up to max entries of list, most recent first.
func recent[T any](list []T, max int) []T {
	out := slices.Clone(list)
	slices.Reverse(out)
	return out[:min(len(out), max)]
}

// update runs fn on d's entry, under the lock.
func (m *Mesh) update(d wire.SHA1, fn func(f *meshFile)) {
	if m == nil || d == (wire.SHA1{}) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files.Get(d)
	if !ok {
		f = &meshFile{}
		m.files.Add(d, f)
	}
	fn(f)
}

// peek returns a copy made by fn of d's entry, nil when there is none.
func peek[T any](m *Mesh, d wire.SHA1, fn func(f *meshFile) []T) []T {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files.Peek(d)
	if !ok {
		return nil
	}
	return fn(f)
}

// Add records good direct sources of d, unless known bad.
func (m *Mesh) Add(d wire.SHA1, aps ...netip.AddrPort) {
	m.update(d, func(f *meshFile) {
		for _, ap := range aps {
			if ap.IsValid() && !slices.Contains(f.bad, ap) {
				f.good = addRecent(f.good, ap, func(o netip.AddrPort) bool { return o == ap })
			}
		}
	})
}

// AddFirewalled records firewalled sources of d.
func (m *Mesh) AddFirewalled(d wire.SHA1, locs ...FirewalledLoc) {
	m.update(d, func(f *meshFile) {
		for _, l := range locs {
			l.Proxies = slices.Clone(l.Proxies)
			f.fw = addRecent(f.fw, l, func(o FirewalledLoc) bool { return o.GUID == l.GUID })
		}
	})
}

// AddBad records bad sources of d: they leave the good list and are never
// given out again.
func (m *Mesh) AddBad(d wire.SHA1, aps ...netip.AddrPort) {
	m.update(d, func(f *meshFile) {
		for _, ap := range aps {
			if ap.IsValid() {
				f.good = slices.DeleteFunc(f.good, func(o netip.AddrPort) bool { return o == ap })
				f.bad = addRecent(f.bad, ap, func(o netip.AddrPort) bool { return o == ap })
			}
		}
	})
}

// Good returns up to max good direct sources of d, most recent first.
func (m *Mesh) Good(d wire.SHA1, max int) []netip.AddrPort {
	return peek(m, d, func(f *meshFile) []netip.AddrPort { return recent(f.good, max) })
}

// Firewalled returns up to max firewalled sources of d, most recent first.
func (m *Mesh) Firewalled(d wire.SHA1, max int) []FirewalledLoc {
	return peek(m, d, func(f *meshFile) []FirewalledLoc {
		out := recent(f.fw, max)
		for i := range out {
			out[i].Proxies = slices.Clone(out[i].Proxies)
		}
		return out
	})
}

// Bad returns up to max sources of d known to be bad, most recent first.
func (m *Mesh) Bad(d wire.SHA1, max int) []netip.AddrPort {
	return peek(m, d, func(f *meshFile) []netip.AddrPort { return recent(f.bad, max) })
}

// IsBad reports whether ap is known to serve bad data for d.
func (m *Mesh) IsBad(d wire.SHA1, ap netip.AddrPort) bool {
	return slices.Contains(m.Bad(d, meshPerFile), ap)
}
