// Package p2pnode runs the sessions of a p2pmodel timeline as real
// servents and measures what they do, for govent netsim (a whole network
// of them) and govent workload (many leaves against one servent): each
// session's share directory holding its catalog files, its user's queries
// issued at their times and listened to for a window, and its servent's
// events (descriptors read, QueryHits routed, connections ended) counted
// into a p2pstats.Collector.
//
// It talks to servents only through their public API: Config, Search and
// Config.OnEvent.
package p2pnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"time"

	"github.com/govent/govent/cmd/internal/p2pmodel"
	"github.com/govent/govent/cmd/internal/p2pstats"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

// DefaultSearchWindow is how long a user listens for the results of one
// query: longer than dynamic querying widens a Query (a few steps of
// servent.DefaultDynamicQueryWait).
const DefaultSearchWindow = 30 * time.Second

// Run is what the sessions of one run share. Its methods are safe for
// concurrent use.
type Run struct {
	Timeline *p2pmodel.Timeline
	Stats    *p2pstats.Collector
	// Start is time 0 of the timeline on the run's clock (virtual or
	// real): the collector's times are offsets from it.
	Start time.Time
	// End is how long the run measures. After it only the users' last
	// queries count (their Query and QueryHit descriptors), so that the
	// traffic figures cover [0, End).
	End time.Duration
	// SearchWindow is how long each query is listened to; zero means
	// DefaultSearchWindow.
	SearchWindow time.Duration
	// ShareRoot holds the share directories, one per session.
	ShareRoot string
}

// Since is the run's time now: negative before the timeline starts.
func (r *Run) Since() time.Duration { return time.Since(r.Start) }

// Events returns the servent.Config.OnEvent of the servent running node
// (a session ID, or another number for servents outside the timeline).
// Drops are counted at the end that dialled, so that a link inside the
// run counts once.
func (r *Run) Events(node int) func(servent.Event) {
	return func(e servent.Event) {
		at := r.Since()
		id := p2pstats.GUID(e.GUID)
		switch e.Kind {
		case servent.EventReceived:
			typ := TypeName(e.Type)
			if at < 0 || at >= r.End && typ != p2pstats.Query && typ != p2pstats.QueryHit {
				return
			}
			r.Stats.Sent(at, typ, e.Bytes, id)
		case servent.EventQuery:
			r.Stats.QueryArrived(node, id, e.Peer)
		case servent.EventQueryHit:
			if e.To.IsValid() {
				r.Stats.HitForwarded(node, id, e.To)
			} else {
				r.Stats.HitDelivered(node, id)
			}
		case servent.EventDisconnected:
			if e.Outgoing && at >= 0 && at < r.End {
				r.Stats.Dropped(at, DropReason(e))
			}
		}
	}
}

// DropReason names why a connection ended: the Bye that ended it (either
// way), or "closed without bye".
func DropReason(e servent.Event) string {
	switch {
	case e.ByeSent != 0:
		return fmt.Sprintf("bye %d", e.ByeSent)
	case e.ByeReceived != 0:
		return fmt.Sprintf("bye %d", e.ByeReceived)
	}
	return "closed without bye"
}

// TypeName is a payload type as p2pstats names it.
func TypeName(t wire.PayloadType) string {
	switch t {
	case wire.TypePing:
		return p2pstats.Ping
	case wire.TypePong:
		return p2pstats.Pong
	case wire.TypeQuery:
		return p2pstats.Query
	case wire.TypeQueryHit:
		return p2pstats.QueryHit
	case wire.TypePush:
		return p2pstats.Push
	case wire.TypeBye:
		return p2pstats.Bye
	case wire.TypeQRP:
		return p2pstats.QRP
	case wire.TypeVendor, wire.TypeStdVendor:
		return p2pstats.Vendor
	}
	return strings.ToLower(t.String())
}

// FileContent is what every copy of a catalog file holds: the same bytes
// for the same rank, so that its replicas share one urn:sha1, and a few
// bytes only, so that a thousand servents' libraries hash in no time. (A
// QueryHit therefore reports this size, not the model's.)
func FileContent(rank int) []byte { return fmt.Appendf(nil, "govent p2pnode catalog file %d\n", rank) }

// Share writes session id's files into a directory of their own under
// ShareRoot and returns it ("" when the session shares nothing).
func (r *Run) Share(id int) (string, error) {
	files := r.Timeline.Sessions[id].Files
	if len(files) == 0 {
		return "", nil
	}
	dir := filepath.Join(r.ShareRoot, fmt.Sprintf("s%d", id))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("p2pnode: share: %w", err)
	}
	for _, rank := range files {
		f := r.Timeline.Catalog.File(rank)
		if err := os.WriteFile(filepath.Join(dir, f.Name), FileContent(rank), 0o644); err != nil {
			return "", fmt.Errorf("p2pnode: share: %w", err)
		}
	}
	return dir, nil
}

// Query issues one of session id's queries from s and listens to its
// results for the search window (or until ctx ends). It returns once the
// window closed, with the number of results; the caller runs it on a
// goroutine of its own.
func (r *Run) Query(ctx context.Context, s *servent.Servent, id int, q p2pmodel.Query) (int, error) {
	window := r.SearchWindow
	if window <= 0 {
		window = DefaultSearchWindow
	}
	ctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	sr, err := s.Search(ctx, strings.Join(q.Keywords(), " "))
	if err != nil {
		return 0, fmt.Errorf("p2pnode: session %d: %w", id, err)
	}
	at := r.Since()
	guid := p2pstats.GUID(sr.GUID)
	r.Stats.QueryIssuedBy(id, guid, at, r.Timeline.FindableFor(id, q.Rank, at))
	hits := 0
	for range sr.Results {
		hits++
		r.Stats.HitReceived(guid, r.Since(), 1)
	}
	return hits, nil
}

// SampleMemory records the heap in use now.
func (r *Run) SampleMemory() {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		r.Stats.Memory(r.Since(), s[0].Value.Uint64())
	}
}
