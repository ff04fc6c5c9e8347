package servent

import (
	"github.com/govent/govent/servent/library"
	"github.com/govent/govent/wire"
)

const (
	// hitsPerQueryHit caps the results in one QueryHit; more are split.
	hitsPerQueryHit = 10
	// maxAnswers caps the results we give one Query.
	maxAnswers = 50
	// hitSpeed is the speed (kbit/s) our QueryHits announce.
	hitSpeed = 1000
)

// vendorGOVT is our QHD vendor code.
var vendorGOVT = [4]byte{'G', 'O', 'V', 'T'}

// answerQuery sends QueryHits for the files that match a Query, back to the
// connection it came from. hops is our distance from the querier, which is
// the TTL the hit needs to get back.
func (s *Servent) answerQuery(c *conn, m *wire.Message, hops uint8) {
	if s.lib == nil {
		return
	}
	q := &m.Query
	limit := maxAnswers
	withH := false
	if f, ok := q.Flags(); ok {
		withH = f.Has(wire.QueryFlagGGEPH)
		if f.Has(wire.QueryFlagFirewalled) && s.cfg.Firewalled {
			// Neither side could connect to the other: answering only
			// wastes bandwidth (0.6 flags).
			return
		}
		if n := f.MaxHits(); n > 0 {
			limit = min(limit, n)
		}
	}
	var files []library.File
	if d, ok := q.Ext.SHA1(); ok {
		files = s.lib.SearchSHA1(d, limit)
	} else {
		files = s.lib.Search(string(q.Criteria), limit)
	}
	// Every result carries its urn:sha1: files not hashed yet are left out.
	n := 0
	for _, f := range files {
		if f.Hashed && f.Size < 1<<32 {
			files[n] = f
			n++
		}
	}
	files = files[:n]
	if len(files) == 0 {
		return
	}
	s.stats.answered.Add(1)
	if dest, ok := s.oobDest(m, hops); ok && s.offerOOB(m, dest, files) {
		return // the hits wait for the querier's claim (oob.go)
	}
	ttl := max(hops, 1)
	for len(files) > 0 {
		batch := files[:min(len(files), hitsPerQueryHit)]
		files = files[len(batch):]
		b, err := s.queryHit(m.Header.GUID, ttl, batch, withH, nil)
		if err != nil {
			s.log.Warn("building QueryHit failed")
			return
		}
		c.enqueue(b, true)
	}
}

// queryHit encodes one QueryHit for files, answering the Query guid. Each
// result has its urn:sha1 text and, for a querier that reads GGEP "H"
// (withH), a bitprint there too when the file's Tiger root is known, as
// gtk-gnutella sends it. A non-nil token is an OOB v3 security token,
// echoed in the QHD's GGEP "SO" as gtk-gnutella checks it.
func (s *Servent) queryHit(guid wire.GUID, ttl uint8, files []library.File, withH bool, token []byte) ([]byte, error) {
	adv := s.advertised()
	qh := wire.QueryHit{
		Port:        adv.Port(),
		Addr:        adv.Addr(),
		Speed:       hitSpeed,
		Results:     make([]wire.Result, len(files)),
		HasQHD:      true,
		QHD:         wire.QHD{Vendor: vendorGOVT},
		ServentGUID: s.guid,
	}
	qh.QHD.SetPush(s.cfg.Firewalled)
	qh.QHD.SetBusy(s.xfer.busy())
	qh.QHD.SetUploaded(s.xfer.uploaded())
	qh.QHD.SetMeasured(false)
	qh.QHD.SetGGEPFlag(false)
	if s.cfg.Firewalled {
		// Our push proxies, so that downloaders need no route to us.
		if err := setPushProxies(&qh.QHD, s.ownProxies()); err != nil {
			return nil, err
		}
	}
	s.advertiseTLS(&qh.QHD)
	if token != nil {
		e, err := wire.NewGGEPExtension("SO", token, false, false)
		if err != nil {
			return nil, err
		}
		qh.QHD.GGEP.Extensions = append(qh.QHD.GGEP.Extensions, e)
		qh.QHD.SetGGEPFlag(true)
	}
	for i, f := range files {
		qh.Results[i] = wire.Result{
			Index: f.Index,
			Size:  uint32(f.Size),
			Name:  []byte(f.Name),
			Ext:   wire.ExtArea{Blocks: []wire.ExtBlock{wire.NewSHA1Block(f.SHA1)}, Terminated: true},
		}
		if withH && f.HasTTH {
			h, err := wire.NewGGEPHash(wire.URN{SHA1: f.SHA1, HasSHA1: true, TTH: f.TTH, HasTTH: true})
			if err != nil {
				return nil, err
			}
			ext := &qh.Results[i].Ext
			ext.Blocks[0].Sep = true
			ext.Blocks = append(ext.Blocks, wire.ExtBlock{Kind: wire.ExtGGEP, GGEP: wire.GGEP{Extensions: []wire.GGEPExtension{h}}})
		}
	}
	m := wire.Message{Header: wire.Header{GUID: guid, Type: wire.TypeQueryHit, TTL: ttl}, QueryHit: qh}
	return m.Append(nil)
}
