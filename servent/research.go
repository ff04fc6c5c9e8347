package servent

import (
	"context"
	"time"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/wire"
)

// researchWindow is how long one re-search collects answers.
const researchWindow = time.Minute

// researchBackoff bounds the doubling wait between re-searches.
const researchBackoff = 8

// research searches the network for sum again while ctx lasts, first
// after interval, then after twice as long each time (at most
// researchBackoff times interval), as downloads of KaZaA and gtk-gnutella
// do, and hands every source that answers with that very SHA-1 to add.
// search starts one Query and returns its results; the Query's own
// context ends after researchWindow.
func research(ctx context.Context, sum wire.SHA1, interval time.Duration,
	search func(context.Context, string) (*Search, error), add func(...httpxfer.Source)) {
	if interval <= 0 {
		return
	}
	wait := interval
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, researchBackoff*interval)
		qctx, cancel := context.WithTimeout(ctx, researchWindow)
		sr, err := search(qctx, sum.String())
		if err != nil {
			cancel()
			continue // no neighbour yet, or shutting down: try later
		}
		for r := range sr.Results {
			if r.HasSHA1 && r.SHA1 == sum {
				add(SourceOf(r))
			}
		}
		cancel()
	}
}

// pushRouteWait bounds the search that learns the way to firewalled
// sources named only by their GUID.
const pushRouteWait = 10 * time.Second

// learnPushRoutes finds the way to the firewalled sources of req that
// have neither a push proxy nor a push route: a source named by its GUID
// alone (get --source GUID, a push:// link without proxies) has none
// until one of its QueryHits passes through our links, and a bare
// download never searched. So it searches for the file's urn:sha1 through
// our peers first, as deployed servents only Push along a hit's path:
// the hit teaches the route and its GGEP PUSH proxies. It returns when
// every such source answered, or after pushRouteWait.
func (s *Servent) learnPushRoutes(ctx context.Context, req httpxfer.Request) {
	want := map[wire.GUID]bool{}
	for _, src := range req.Sources {
		if !src.Push || len(s.xfer.proxiesOf(src)) > 0 {
			continue
		}
		if _, ok := s.router.PushRoute(src.ServentGUID); !ok {
			want[src.ServentGUID] = true
		}
	}
	if len(want) == 0 || req.SHA1 == (wire.SHA1{}) {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, pushRouteWait)
	defer cancel()
	sr, err := s.Search(qctx, req.SHA1.String())
	if err != nil {
		return // no peer: the Push fails saying there is no route
	}
	for r := range sr.Results {
		if r.HasSHA1 && r.SHA1 == req.SHA1 && want[r.ServentGUID] {
			delete(want, r.ServentGUID)
			if len(want) == 0 {
				return
			}
		}
	}
}
