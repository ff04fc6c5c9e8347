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
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/govent/govent/cmd/internal/english"
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

	searches, closing        sync.WaitGroup
	open                     atomic.Int64 // searches started and not done
	online                   atomic.Int64
	issued, answered, failed atomic.Int64
}

// NewRun generates the timeline of p and makes the run's collector (run
// says what ran; the series in steps of interval) and its share root, a
// temporary directory under shareRoot ("" for os.TempDir()) that Close
// removes. A timeline of more than maxSessions sessions is refused.
func NewRun(p p2pmodel.Params, run p2pstats.Run, interval time.Duration, shareRoot string, maxSessions int) (*Run, error) {
	tl, err := p2pmodel.Generate(p)
	if err != nil {
		return nil, err
	}
	if len(tl.Sessions) > maxSessions {
		return nil, fmt.Errorf("p2pnode: the timeline has %d sessions, over %d", len(tl.Sessions), maxSessions)
	}
	run.Churn = "none"
	if p.Churn != nil {
		run.Churn = p.Churn.Name
	}
	run.Workload, run.Seed = p.Workload.Name, p.Seed
	stats, err := p2pstats.NewCollector(run, p.Duration, interval)
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp(shareRoot, "govent-p2pnode-")
	if err != nil {
		return nil, fmt.Errorf("p2pnode: share directories: %w", err)
	}
	return &Run{Timeline: tl, Stats: stats, End: p.Duration, ShareRoot: root}, nil
}

// Close removes the share root and what is left in it.
func (r *Run) Close() { os.RemoveAll(r.ShareRoot) }

// Since is the run's time now: negative before the timeline starts.
func (r *Run) Since() time.Duration { return time.Since(r.Start) }

// Events returns the servent.Config.OnEvent of the servent running node
// (a session ID, or another number for servents outside the timeline).
// Drops are counted at the end that dialled, so that a link inside the
// run counts once.
func (r *Run) Events(node int) func(servent.Event) {
	return func(e servent.Event) {
		at := r.Since()
		id := e.GUID
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

// LinkFailure names why a servent's Connect failed: the refusal as the
// other side said it ("503 Full"), else the error the dial met ("connection
// refused", "i/o timeout").
func LinkFailure(err error) string {
	if re, ok := errors.AsType[*wire.RefusedError](err); ok {
		return re.Status()
	}
	msg := err.Error()
	if errno, ok := errors.AsType[syscall.Errno](err); ok {
		return errno.Error()
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
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
	guid := sr.GUID
	r.Stats.QueryIssuedBy(id, guid, at, r.Timeline.FindableFor(id, q.Rank, at))
	hits := 0
	for range sr.Results {
		hits++
		r.Stats.HitReceived(guid, r.Since(), 1)
	}
	return hits, nil
}

// Search runs Query on a goroutine of its own; WaitSearches waits for
// all of them.
func (r *Run) Search(ctx context.Context, s *servent.Servent, id int, q p2pmodel.Query) {
	r.searches.Add(1)
	r.open.Add(1)
	go func() {
		defer r.searches.Done()
		defer r.open.Add(-1)
		hits, err := r.Query(ctx, s, id, q)
		switch {
		case err != nil && ctx.Err() == nil:
			r.failed.Add(1)
		case err == nil:
			r.issued.Add(1)
			if hits > 0 {
				r.answered.Add(1)
			}
		}
	}()
}

// Waiting is the progress line for the wait at the end of the run (at):
// how many searches are still open and how long they may take; false when
// none is, and there is nothing to wait for.
func (r *Run) Waiting(at time.Duration) (string, bool) {
	n := r.open.Load()
	if n == 0 {
		return "", false
	}
	return fmt.Sprintf("%v: waiting up to %v for the results of %s still open", at, cmp.Or(r.SearchWindow, DefaultSearchWindow),
		english.Count(int(n), "query", "queries")), true
}

// WaitSearches waits for the searches started and reports how many could
// not be issued (their servent refused the search).
func (r *Run) WaitSearches() (failed int64) {
	r.searches.Wait()
	return r.failed.Load()
}

// Joined counts a servent that came online.
func (r *Run) Joined() { r.online.Add(1) }

// Gone counts a servent that went offline.
func (r *Run) Gone() { r.online.Add(-1) }

// Leave shuts a servent down (Bye 200 to its peers) in the background,
// then removes its share directory; WaitClosed waits for all of them.
func (r *Run) Leave(s *servent.Servent, share string) {
	r.closing.Add(1)
	go func() {
		defer r.closing.Done()
		s.Close()
		os.RemoveAll(share)
	}()
}

// WaitClosed waits for the servents that left to be shut down.
func (r *Run) WaitClosed() { r.closing.Wait() }

// Sample records the servents online and the heap now, and returns a
// progress line for people once a minute, counting the servents online
// as one or many ("servent", "servents").
func (r *Run) Sample(at, interval time.Duration, one, many string) (string, bool) {
	r.Stats.Online(at, int(r.online.Load()))
	r.SampleMemory()
	if at%time.Minute >= interval {
		return "", false
	}
	return fmt.Sprintf("%v of %v: %s online, %s issued, %d answered",
		at.Truncate(time.Second), r.End, english.Count(int(r.online.Load()), one, many), english.Count(int(r.issued.Load()), "query", "queries"), r.answered.Load()), true
}

// SampleMemory records the live heap: what the last garbage collection
// found reachable (the process's whole heap, the tool's own share
// included; garbage not yet collected is left out).
func (r *Run) SampleMemory() {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		r.Stats.Memory(r.Since(), s[0].Value.Uint64())
	}
}

// EventKind is what a scheduled Event does.
type EventKind int

// In this order at equal times: a servent joins before its user's first
// query, and samples see what happened at their time.
const (
	Join EventKind = iota
	Query
	Leave
	Sample
)

// Event is something the timeline makes happen at a time of the run.
type Event struct {
	At      time.Duration
	Kind    EventKind
	Session int
	Query   p2pmodel.Query
}

// Schedule lists what happens in [0, end): the joins of sessions that
// start in it, the leaves of those that end before end, the queries
// issued while their session is online, and a Sample every interval, in
// time order.
func Schedule(tl *p2pmodel.Timeline, end, interval time.Duration) []Event {
	var evs []Event
	for id := range tl.Sessions {
		ss := &tl.Sessions[id]
		if ss.Join > 0 && ss.Join < end {
			evs = append(evs, Event{At: ss.Join, Kind: Join, Session: id})
		}
		if ss.Leave < end {
			evs = append(evs, Event{At: ss.Leave, Kind: Leave, Session: id})
		}
		for _, q := range ss.Queries {
			if q.At >= 0 && q.At < end && q.At >= ss.Join && q.At < ss.Leave {
				evs = append(evs, Event{At: q.At, Kind: Query, Session: id, Query: q})
			}
		}
	}
	for at := time.Duration(0); at < end; at += interval {
		evs = append(evs, Event{At: at, Kind: Sample})
	}
	slices.SortStableFunc(evs, func(a, b Event) int { return cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(a.Kind, b.Kind)) })
	return evs
}

// Sleep waits d, or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SleepUntil waits for the run's time at, or until ctx ends.
func (r *Run) SleepUntil(ctx context.Context, at time.Duration) error {
	if d := at - r.Since(); d > 0 {
		return Sleep(ctx, d)
	}
	return ctx.Err()
}
