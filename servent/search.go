package servent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
)

// searchBuffer is how many results a Search holds for a slow reader; more
// are dropped (and counted).
const searchBuffer = 256

// maxQueryLen bounds our own search text: gtk-gnutella forwards Queries of
// at most 256 bytes.
const maxQueryLen = 200

// Result is one file offered in answer to our Search.
type Result struct {
	Addr        netip.AddrPort // where the responder accepts connections
	ServentGUID wire.GUID
	Vendor      string // QHD vendor code, e.g. GTKG
	Push        bool   // firewalled: reach it with a Push
	Busy        bool   // its upload slots are full
	Speed       uint32 // the speed it advertises, in kbit/s
	Index       uint32
	Name        string
	Size        uint64
	SHA1        wire.SHA1
	HasSHA1     bool
	TTH         wire.TTH // Tiger tree root, from a bitprint (GGEP "H" or urn text)
	HasTTH      bool
	Hops        uint8          // links the QueryHit travelled: 1 from a neighbour
	Via         netip.AddrPort // the neighbour it reached us through
	// OOB says the hit came out of band: over UDP, straight from the
	// responder (Via, with Hops 1), in answer to our claim (oob.go). How
	// far the responder is on the network is then unknown.
	OOB bool
	// Proxies are the push proxies of a firewalled responder (GGEP PUSH);
	// Download tries them before a routed Push.
	Proxies []netip.AddrPort
	// TLS: the responder takes TLS (GGEP "TLS"); a download dials it with
	// TLS first.
	TLS bool
}

// Search is one of our searches in progress.
type Search struct {
	GUID    wire.GUID
	Text    string
	Results <-chan Result

	s       *Servent
	oob     bool // we asked for out-of-band replies (oob.go)
	results chan Result
	mu      sync.Mutex
	closed  bool
	dropped int
}

// Dropped is how many results were lost because nobody read them in time.
func (q *Search) Dropped() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// ReachesFirewalled reports whether firewalled hosts may answer our
// searches: we take connections, or an ultrapeer of ours relays. If not,
// Search marks its Queries firewalled, and firewalled hosts stay silent
// (neither side could connect to the other).
func (s *Servent) ReachesFirewalled() bool {
	return !s.cfg.Firewalled || s.xfer.relay.available()
}

// MinQueryBytes is gtk-gnutella's MIN_SEARCH_TERM_BYTES: it sends no
// search text shorter (in bytes, a run of spaces counting as one), and
// drops one of a single byte it receives. No routing table holds a word
// shorter than wire.QRPMinWordLen either, so such a query reaches no leaf.
const MinQueryBytes = 3

// CheckQuery says why Search would refuse text, before anything is
// started or dialled.
func CheckQuery(text string) error {
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return errors.New("empty search")
	case strings.IndexByte(text, 0) >= 0:
		return errors.New("search text holds a NUL byte")
	case len(text) > maxQueryLen:
		return fmt.Errorf("search text of %d bytes, at most %d", len(text), maxQueryLen)
	case len(strings.Join(strings.Fields(text), " ")) < MinQueryBytes:
		return fmt.Errorf("shorter than %d bytes: servents drop such a search, and match no word shorter than %d bytes", MinQueryBytes, wire.QRPMinWordLen)
	}
	return nil
}

// Search floods a Query for text to every neighbour and returns the results
// as they arrive. The Results channel is closed when ctx ends.
func (s *Servent) Search(ctx context.Context, text string) (*Search, error) {
	if err := CheckQuery(text); err != nil {
		return nil, err
	}
	text = strings.TrimSpace(text)
	if s.ctx == nil {
		return nil, errors.New("search before start")
	}
	q := wire.Query{Criteria: []byte(text)}
	// QueryFlagGGEPH: gtk-gnutella then sends each result's hash in GGEP
	// "H" and no urn text, a bitprint with the Tiger root that downloads
	// verify chunks against.
	flags := wire.QueryFlagGGEPH
	if !s.ReachesFirewalled() {
		// The flag spares firewalled hosts answering what we could not
		// fetch; through a relay of ours we can.
		flags |= wire.QueryFlagFirewalled
	}
	guid := wire.NewGUID()
	oob := false
	if s.wantOOB() {
		// Out-of-band replies (oob.go): our address in the GUID, and an
		// empty GGEP "SO" to ask for OOB v3, as gtk-gnutella does.
		if g, err := wire.OOBGUID(guid, s.advertised()); err == nil {
			guid, oob = g, true
			flags |= wire.QueryFlagOOB
		}
	}
	if d, err := wire.ParseURN(text); err == nil {
		// A urn:sha1 search: empty criteria (gtk-gnutella sends a
		// single NUL) and the urn in the extension area.
		q.Criteria = nil
		q.Ext = wire.ExtArea{Blocks: []wire.ExtBlock{wire.NewSHA1Block(d)}, Terminated: true}
	}
	if oob {
		if n := len(q.Ext.Blocks); n > 0 {
			q.Ext.Blocks[n-1].Sep = true
		}
		q.Ext.Blocks = append(q.Ext.Blocks, wire.ExtBlock{Kind: wire.ExtGGEP, GGEP: wire.GGEP{Extensions: []wire.GGEPExtension{{ID: []byte("SO")}}}})
		q.Ext.Terminated = true
	}
	// gtk-gnutella drops queries without the 0x8000 marker.
	q.SetFlags(flags)
	m := wire.Message{Header: wire.Header{GUID: guid, Type: wire.TypeQuery, TTL: s.cfg.DefaultTTL}, Query: q}
	b, err := m.Append(nil)
	if err != nil {
		return nil, fmt.Errorf("encoding query: %w", err)
	}
	sr := &Search{GUID: m.Header.GUID, Text: text, s: s, oob: oob, results: make(chan Result, searchBuffer)}
	sr.Results = sr.results
	s.mu.Lock()
	s.searches[sr.GUID] = sr
	s.mu.Unlock()
	var qh router.QueryHashes
	qh.SetQuery(&q)
	// Our leaves get our Query only when their table matches, as they get
	// everyone else's.
	targets := s.router.Originate(&m.Header, &qh, nil)
	s.mu.Lock()
	conns := make([]*conn, 0, len(targets))
	for _, id := range targets {
		if c := s.conns[id]; c != nil {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.enqueue(b, true)
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-s.ctx.Done():
		}
		sr.close()
	}()
	return sr, nil
}

func (q *Search) close() {
	q.s.mu.Lock()
	delete(q.s.searches, q.GUID)
	q.s.mu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.results)
	}
}

func (q *Search) deliver(r Result) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	select {
	case q.results <- r:
	default:
		q.dropped++
	}
}

// deliverHit hands the results of a QueryHit for one of our searches to it.
// hops is the router's count of the links it travelled (the header's Hops
// counts only the relays before the last link).
func (s *Servent) deliverHit(c *conn, m *wire.Message, hops uint8) {
	s.deliverQueryHit(m, hops, c.peer.name(), false)
}

// deliverQueryHit hands a QueryHit's results to our search for its GUID;
// via is the neighbour it came through, or for an out-of-band hit (oob)
// the responder itself.
func (s *Servent) deliverQueryHit(m *wire.Message, hops uint8, via netip.AddrPort, oob bool) {
	s.mu.Lock()
	sr := s.searches[m.Header.GUID]
	s.mu.Unlock()
	if s.observed() {
		s.emit(Event{Kind: EventQueryHit, Peer: via, GUID: m.Header.GUID, Hops: hops})
	}
	if sr == nil {
		return // the search ended
	}
	qh := &m.QueryHit
	base := Result{
		Addr:        qh.AddrPort(),
		ServentGUID: qh.ServentGUID,
		Speed:       qh.Speed,
		Hops:        hops,
		Via:         via,
		OOB:         oob,
	}
	if qh.HasQHD {
		base.Vendor = vendorString(qh.QHD.Vendor)
		if v, ok := qh.QHD.Push(); ok {
			base.Push = v
		}
		if v, ok := qh.QHD.Busy(); ok {
			base.Busy = v
		}
		base.Proxies = hitProxies(qh)
		s.xfer.learnProxies(qh.ServentGUID, base.Proxies)
		if base.TLS = hitTLS(qh); base.TLS && !base.Push {
			s.xfer.tlsHosts.Add(base.Addr)
		}
	}
	for i := range qh.Results {
		r := base
		res := &qh.Results[i]
		r.Index = res.Index
		r.Name = string(res.Name)
		r.Size = uint64(res.Size)
		u := res.Ext.URN()
		r.SHA1, r.HasSHA1, r.TTH, r.HasTTH = u.SHA1, u.HasSHA1, u.TTH, u.HasTTH
		if r.HasSHA1 && !r.Push && r.Addr.IsValid() && r.Addr.Port() != 0 {
			// The mesh the uploader sends in X-Alt, and downloads use.
			s.xfer.mesh.Add(r.SHA1, r.Addr)
		}
		sr.deliver(r)
	}
}

func vendorString(v [4]byte) string {
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("%x", v[:])
		}
	}
	return string(v[:])
}
