package httpxfer

import (
	"net/netip"
	"slices"

	"github.com/govent/govent/wire"
)

// The download side of the mesh: a download starts with the sources the
// mesh knows for its SHA-1 besides those of the request, takes the new
// sources an X-Alt or X-Falt of a reply names (by the trust rule of
// add) and those AddSources hands it, from a re-search, into the
// running round, within the same connection limit, and tells each
// source of the good ones it knows (X-Alt) and of those caught serving
// bad data (X-NAlt).

// maxJobSources bounds the sources one download keeps.
const maxJobSources = 64

// jobPerReporter bounds the sources one network's replies add to one
// download, as meshPerReporter bounds its entries in the mesh.
const jobPerReporter = meshPerReporter

// maxAltSent bounds the X-Alt and X-NAlt entries of one request.
const maxAltSent = 10

// AddSources adds sources to the running download of the file with SHA-1
// d, if any, and reports whether there was one. Sources it has already,
// or that the mesh knows are bad, are ignored.
func (d *Downloader) AddSources(sum wire.SHA1, srcs ...Source) bool {
	d.mu.Lock()
	j := d.bySHA1[sum]
	d.mu.Unlock()
	if j == nil {
		return false
	}
	j.addSources(srcs...)
	return true
}

// addMeshSources adds the sources the mesh knows for the request's file.
// They are hearsay, whoever reported them to the mesh (which applied its
// own share per network): when they fail, they give their places.
func (j *job) addMeshSources() {
	m, d := j.cfg.Mesh, j.req.SHA1
	if m == nil || d == (wire.SHA1{}) {
		return
	}
	var srcs []Source
	for _, ap := range m.Good(d, maxJobSources) {
		srcs = append(srcs, Source{Addr: ap})
	}
	for _, l := range m.Firewalled(d, maxJobSources) {
		srcs = append(srcs, Source{Push: true, ServentGUID: l.GUID, Proxies: l.Proxies})
	}
	j.add(origin{heard: true}, srcs...)
}

// addSources adds sources the user named or a QueryHit or re-search
// gave (first-hand) to the download and, while a round runs, starts
// their workers.
func (j *job) addSources(srcs ...Source) { j.add(origin{}, srcs...) }

// origin says where a download's source came from.
type origin struct {
	heard bool // hearsay: an X-Alt or X-Falt, or the mesh; else first-hand
	// reported: an X-Alt or X-Falt of a reply from a host in the
	// network from.
	reported bool
	from     netip.Prefix
}

// add adds srcs by the trust rule the mesh keeps (mesh.go): one
// reporting network holds at most jobPerReporter of the download's
// sources (its newer ones take the places of its own that failed), and
// on a full list a newcomer takes the place of a hearsay source that
// failed (dropped, having written nothing); a first-hand source is never
// pushed out, so one uploader answering with junk cannot fill the list
// against the sources a re-search finds.
func (j *job) add(o origin, srcs ...Source) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, s := range srcs {
		k := s.String()
		if i := slices.IndexFunc(j.srcs, func(e *srcState) bool { return e.key == k }); i >= 0 {
			if !o.heard {
				j.srcs[i].origin = o // first-hand now
			}
			continue
		}
		if !s.Push && j.cfg.Mesh.IsBad(j.req.SHA1, s.Addr) {
			continue
		}
		if o.reported && j.reportedLocked(o.from) >= jobPerReporter &&
			!j.evictLocked(func(e *srcState) bool { return e.reported && e.from == o.from }) {
			continue
		}
		if len(j.srcs) >= maxJobSources && !j.evictLocked(func(*srcState) bool { return true }) {
			continue
		}
		j.joined++
		st := &srcState{src: s, key: k, order: j.joined, origin: o}
		j.resumeQueueLocked(st)
		j.srcs = append(j.srcs, st)
		if j.round != nil {
			j.solo.Store(false)
			j.startWorkerLocked(st)
		}
	}
}

// reportedLocked counts the download's sources that the network from
// reported.
func (j *job) reportedLocked(from netip.Prefix) int {
	n := 0
	for _, s := range j.srcs {
		if s.reported && s.from == from {
			n++
		}
	}
	return n
}

// evictLocked removes the oldest hearsay source that failed and that
// whom accepts, and reports whether there was one. It wrote no byte, so no
// chunk names it; its failure leaves Result.Dropped with it, so that
// junk coming and going does not grow the download's records.
func (j *job) evictLocked(whom func(*srcState) bool) bool {
	i := slices.IndexFunc(j.srcs, func(e *srcState) bool { return e.heard && e.dropped && e.got == 0 && whom(e) })
	if i < 0 {
		return false
	}
	k := j.srcs[i].key
	j.srcs = slices.Delete(j.srcs, i, i+1)
	j.dropped = slices.DeleteFunc(j.dropped, func(f SourceFailure) bool { return f.Source.String() == k })
	return true
}

// learnAltLocs takes the alternate locations of a reply from the source
// at from: into the mesh, as hearsay from it, and, for the good ones,
// into the download; its X-NAlt is hearsay too (AddBadFrom), so one
// source cannot turn our downloads away from another we know works.
func (j *job) learnAltLocs(from netip.Addr, h *wire.Handshake) {
	d := j.req.SHA1
	if d == (wire.SHA1{}) {
		return // a source learned by X-Alt can only be asked by urn
	}
	j.cfg.Mesh.AddBadFrom(d, from, ParseAltLocs(h.Values("X-NAlt"))...)
	good := ParseAltLocs(h.Values("X-Alt"))
	fw := ParseFalt(h.Values("X-Falt"))
	if len(good)+len(fw) == 0 {
		return
	}
	j.cfg.Mesh.AddFrom(d, from, good...)
	j.cfg.Mesh.AddFirewalled(d, from, fw...)
	srcs := make([]Source, 0, len(good)+len(fw))
	for _, ap := range good {
		srcs = append(srcs, Source{Addr: ap})
	}
	for _, l := range fw {
		srcs = append(srcs, Source{Push: true, ServentGUID: l.GUID, Proxies: slices.Clone(l.Proxies)})
	}
	j.add(origin{heard: true, reported: true, from: wire.NetworkOf(from)}, srcs...)
}

// appendMeshHeaders appends to the header lines of a request to s (each
// ending in CRLF) the X-Alt of the other
// direct sources that gave us bytes, and the X-NAlt of those caught
// serving bad data, and says we read X-Falt.
func (j *job) appendMeshHeaders(b []byte, s *srcState) []byte {
	if j.req.SHA1 == (wire.SHA1{}) {
		return b
	}
	var good, bad []netip.AddrPort
	j.mu.Lock()
	for _, o := range j.srcs {
		if o == s || o.src.Push || !o.src.Addr.IsValid() {
			continue
		}
		if !o.dropped && o.got > 0 {
			good = append(good, o.src.Addr)
		}
	}
	for _, o := range j.blamed {
		if !o.Push && o.Addr.IsValid() {
			bad = append(bad, o.Addr)
		}
	}
	j.mu.Unlock()
	for _, h := range []struct {
		name string
		aps  []netip.AddrPort
	}{{"X-Alt: ", good}, {"X-NAlt: ", bad}} {
		if len(h.aps) > 0 {
			b = append(b, h.name...)
			b = appendAltList(b, h.aps, maxAltSent)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "X-Features: fwalt/0.1\r\n"...)
}

// blameLocked records s as caught serving bad data: it goes into X-NAlt
// (once, however many of its segments fail) and the mesh's bad list at
// once.
func (j *job) blameLocked(s *srcState, err error) {
	j.dropLocked(s, err)
	if !slices.ContainsFunc(j.blamed, func(o Source) bool { return o.String() == s.key }) {
		j.blamed = append(j.blamed, s.src)
	}
	if !s.src.Push {
		j.cfg.Mesh.AddBad(j.req.SHA1, s.src.Addr)
	}
}

// reportMesh tells the mesh, after the download, which sources served
// the verified file: they are verified there, beyond hearsay.
func (j *job) reportMesh(res Result, err error) {
	m, d := j.cfg.Mesh, j.req.SHA1
	if m == nil || d == (wire.SHA1{}) || err != nil || res.Path == "" {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, s := range j.srcs {
		if s.got > 0 && !s.dropped && !s.src.Push {
			m.AddVerified(d, s.src.Addr)
		}
	}
}
