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
