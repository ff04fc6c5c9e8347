package httpxfer

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/govent/govent/wire"
)

// Mesh is the download mesh: for each file (by SHA-1), the other sources
// known to have it, learned from QueryHits, from X-Alt and X-Falt in
// uploads and downloads, and from our own downloads; and the sources
// known to be bad, which are never handed out again. The uploader sends a
// file's good sources as X-Alt and X-Falt; the downloader takes them as
// sources. It is bounded: MaxFiles files (least recently touched dropped
// first), meshPerFile sources of each kind per file. Safe for concurrent
// use.
//
// Its trust rule, against a peer that would poison it (gtk-gnutella's
// dmesh.c guards the same way: entries it has seen work are marked good,
// and an X-NAlt counts only from MIN_BAD_REPORT = 3 reporters):
//   - a source that served us a verified file (AddVerified) is never
//     pushed out or removed by what others say, only by our own finding
//     (AddBad);
//   - every other entry is hearsay, held for the network of the peer that
//     reported it (wire.NetworkOf: /24, or /48 for IPv6, as upload and
//     connection limits count):
//     one network holds at most meshPerReporter entries per file (its
//     newer ones replace its older ones), and on a full list it may push
//     out only an entry of a network holding more than it then would, so
//     one peer, however many entries it sends, cannot take more than its
//     share from honest reporters;
//   - an X-NAlt (AddBadFrom) removes what its own network reported; against
//     another's hearsay it is one vote, and only meshBadVotes networks
//     together remove the entry and mark it bad; it never touches a
//     verified entry. Only our own finding (AddBad) marks a source bad on
//     one word, so one peer cannot turn our downloads from a real source;
//   - hearsay lives meshLifetime (gtk-gnutella's MAX_LIFETIME, half a
//     day) after its reporter last named it, so that the sources a peer
//     named once do not stay for ever after they are gone; only its own
//     reporter's word renews it. A verified source has no lifetime.
type Mesh struct {
	mu    sync.Mutex
	files *simplelru.LRU[wire.SHA1, *meshFile]
	now   func() time.Time // time.Now; a test's clock
}

const (
	meshPerFile     = 32 // sources a Mesh keeps per file and kind
	meshPerReporter = 4  // hearsay entries one network holds per file and kind
	meshBadVotes    = 3  // networks whose X-NAlt removes another's entry

	// meshLifetime is how long hearsay lives after its reporter last
	// named it: gtk-gnutella's MAX_LIFETIME (dmesh.c), half a day.
	meshLifetime = 12 * time.Hour
)

type meshFile struct { // each most recent last
	good meshList[netip.AddrPort]
	fw   meshList[FirewalledLoc]
	bad  []netip.AddrPort
}

// NewMesh returns a Mesh for up to maxFiles files (default 4096).
func NewMesh(maxFiles int) *Mesh {
	if maxFiles <= 0 {
		maxFiles = 4096
	}
	files, _ := simplelru.NewLRU[wire.SHA1, *meshFile](maxFiles, nil)
	return &Mesh{files: files, now: time.Now}
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

// expire drops f's hearsay past its lifetime.
func (f *meshFile) expire(now time.Time) {
	f.good.expire(now)
	f.fw.expire(now)
}

// update runs fn on d's entry, under the lock, with its hearsay expired
// at now.
func (m *Mesh) update(d wire.SHA1, fn func(f *meshFile, now time.Time)) {
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
	now := m.now()
	f.expire(now)
	fn(f, now)
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
	f.expire(m.now())
	return fn(f)
}

// Add records sources of d that named themselves (a QueryHit, a re-search
// answer): each is hearsay from its own network.
func (m *Mesh) Add(d wire.SHA1, aps ...netip.AddrPort) {
	for _, ap := range aps {
		m.AddFrom(d, ap.Addr(), ap)
	}
}

// AddFrom records the good direct sources of d that the peer at reporter
// named (its X-Alt), unless known bad, within its network's share.
func (m *Mesh) AddFrom(d wire.SHA1, reporter netip.Addr, aps ...netip.AddrPort) {
	m.addGood(d, wire.NetworkOf(reporter), false, aps)
}

// AddVerified records sources that served us d, verified: they stay until
// we find them bad ourselves.
func (m *Mesh) AddVerified(d wire.SHA1, aps ...netip.AddrPort) {
	m.addGood(d, netip.Prefix{}, true, aps)
}

func (m *Mesh) addGood(d wire.SHA1, from netip.Prefix, verified bool, aps []netip.AddrPort) {
	m.update(d, func(f *meshFile, now time.Time) {
		for _, ap := range aps {
			if !ap.IsValid() {
				continue
			}
			if verified {
				f.bad = slices.DeleteFunc(f.bad, func(o netip.AddrPort) bool { return o == ap })
			} else if slices.Contains(f.bad, ap) {
				continue
			}
			f.good.add(ap, from, verified, now, func(o netip.AddrPort) bool { return o == ap })
		}
	})
}

// AddFirewalled records the firewalled sources of d that the peer at
// reporter named (its X-Falt), within its network's share.
func (m *Mesh) AddFirewalled(d wire.SHA1, reporter netip.Addr, locs ...FirewalledLoc) {
	from := wire.NetworkOf(reporter)
	m.update(d, func(f *meshFile, now time.Time) {
		for _, l := range locs {
			l.Proxies = slices.Clone(l.Proxies)
			f.fw.add(l, from, false, now, func(o FirewalledLoc) bool { return o.GUID == l.GUID })
		}
	})
}

// AddBad records sources of d we caught serving bad data: they leave the
// good list, verified or not, and are never given out again.
func (m *Mesh) AddBad(d wire.SHA1, aps ...netip.AddrPort) {
	m.update(d, func(f *meshFile, _ time.Time) {
		for _, ap := range aps {
			if ap.IsValid() {
				f.good.remove(func(o netip.AddrPort) bool { return o == ap })
				f.bad = addRecent(f.bad, ap, func(o netip.AddrPort) bool { return o == ap })
			}
		}
	})
}

// AddBadFrom takes the X-NAlt of the peer at reporter: what its network
// reported goes; another's hearsay goes, and is marked bad, once
// meshBadVotes networks named it; a verified source stays.
func (m *Mesh) AddBadFrom(d wire.SHA1, reporter netip.Addr, aps ...netip.AddrPort) {
	if len(aps) == 0 {
		return // the usual reply: no X-NAlt, no need to touch the mesh
	}
	from := wire.NetworkOf(reporter)
	m.update(d, func(f *meshFile, _ time.Time) {
		for _, ap := range aps {
			if f.good.vote(from, func(o netip.AddrPort) bool { return o == ap }) {
				f.bad = addRecent(f.bad, ap, func(o netip.AddrPort) bool { return o == ap })
			}
		}
	})
}

// Good returns up to max good direct sources of d: the verified ones
// first, then hearsay, each most recent first.
func (m *Mesh) Good(d wire.SHA1, max int) []netip.AddrPort {
	return peek(m, d, func(f *meshFile) []netip.AddrPort { return f.good.best(max) })
}

// Firewalled returns up to max firewalled sources of d, most recent first.
func (m *Mesh) Firewalled(d wire.SHA1, max int) []FirewalledLoc {
	return peek(m, d, func(f *meshFile) []FirewalledLoc {
		out := f.fw.best(max)
		for i := range out {
			out[i].Proxies = slices.Clone(out[i].Proxies)
		}
		return out
	})
}

// Bad returns up to max sources of d known to be bad, most recent first.
func (m *Mesh) Bad(d wire.SHA1, max int) []netip.AddrPort {
	return peek(m, d, func(f *meshFile) []netip.AddrPort {
		out := slices.Clone(f.bad)
		slices.Reverse(out)
		return out[:min(len(out), max)]
	})
}

// IsBad reports whether ap is known to serve bad data for d.
func (m *Mesh) IsBad(d wire.SHA1, ap netip.AddrPort) bool {
	return slices.Contains(m.Bad(d, meshPerFile), ap)
}
