package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/httpxfer/atomicfile"
	"github.com/govent/govent/httpxfer/smallfile"
	"github.com/govent/govent/wire"
)

// QueueFile is the download queue's file in the data directory.
const QueueFile = "downloads.json"

// maxQueueFile bounds what is read of the queue file: MaxDownloads
// entries of MaxSources sources and as many queue places each, with long
// names and paths, come to a few MiB.
const maxQueueFile = 16 << 20

// Download states.
const (
	StateQueued  = "queued"  // waiting for a free slot
	StateRunning = "running" // fetching
	StatePaused  = "paused"  // stopped by the user; the .part stays
	StateDone    = "done"    // finished and verified: Path holds it
	StateFailed  = "failed"  // no source left: Error says why; resume retries
	// StateCancelled is the state Cancel returns a download in: it has
	// left the queue.
	StateCancelled = "cancelled"
)

// QueueStates are the states a download in the queue is in, in the order
// they are shown.
var QueueStates = []string{StateQueued, StateRunning, StatePaused, StateDone, StateFailed}

// CountStates counts dls by state; every state of QueueStates is present.
func CountStates(dls []Download) map[string]int {
	n := make(map[string]int, len(QueueStates))
	for _, s := range QueueStates {
		n[s] = 0
	}
	for _, d := range dls {
		n[d.State]++
	}
	return n
}

// Queue bounds.
const (
	// MaxDownloads bounds the queue (all states), so that a client cannot
	// grow the state file without end.
	MaxDownloads = 256
	// MaxSources bounds the sources of one download.
	MaxSources = 32
	// DefaultActiveDownloads run at once; the others wait, queued.
	DefaultActiveDownloads = 4
)

// Downloader is what the queue needs of the servent.
type Downloader interface {
	Download(ctx context.Context, req httpxfer.Request) (httpxfer.Result, error)
	DiscardDownload(name string) error
}

// DownloadRequest is the body of POST /v1/downloads.
type DownloadRequest struct {
	URN     string         `json:"urn"`            // urn:sha1:..., required
	Name    string         `json:"name,omitempty"` // default: the urn's base32
	Size    int64          `json:"size,omitempty"` // 0: ask the sources
	Sources []SourceRecord `json:"sources"`
}

// SourceRecord is one source of a download, as stored and as sent.
type SourceRecord struct {
	Addr        string `json:"addr,omitempty"` // IP:PORT
	Push        bool   `json:"push,omitempty"`
	ServentGUID string `json:"servent_guid,omitempty"`
	Index       uint32 `json:"index,omitempty"`
	Name        string `json:"name,omitempty"`
	TLS         bool   `json:"tls,omitempty"` // it takes TLS: dialled with TLS first
}

// Download is one element of the queue, as GET /v1/transfers shows it and
// the queue file keeps it.
type Download struct {
	ID      string         `json:"id"`
	URN     string         `json:"urn"`
	Name    string         `json:"name"`
	Size    int64          `json:"size"`
	Sources []SourceRecord `json:"sources"`
	State   string         `json:"state"`
	Done    int64          `json:"done"`  // bytes received so far
	Total   int64          `json:"total"` // the file's size once known
	Path    string         `json:"path,omitempty"`
	Error   string         `json:"error,omitempty"`
	Added   time.Time      `json:"added"`
	// Queued are the places sources gave us in their upload queues
	// (PARQ) while the download runs, one per source, latest first.
	Queued []QueuePlace `json:"queued,omitempty"`
}

// QueuePlace is our place in one source's upload queue.
type QueuePlace struct {
	Source   string    `json:"source"`
	Position int       `json:"position"` // 1 is next
	Length   int       `json:"length"`   // 0 when the source did not say
	At       time.Time `json:"at"`
}

// Queue is the daemon's download queue: downloads added through the API
// run up to Active at a time, can be paused, resumed and cancelled, and
// are kept in the data directory, so that a restarted daemon picks up the
// ones that were queued or running (from their .part files).
type Queue struct {
	d      Downloader
	path   string
	log    *zap.Logger
	active int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	items   []*item
	closing bool
}

type item struct {
	Download
	stop chan struct{} // closed when its run ends; nil unless running
	halt context.CancelFunc
	req  httpxfer.Request
	// restored: queued or running when the queue was loaded, and not
	// started since; its first run logs where its .part let it resume.
	restored bool
}

// NewQueue loads the queue kept in dataDir (none yet is an empty queue).
// Start runs it.
func NewQueue(d Downloader, dataDir string, active int, log *zap.Logger) (*Queue, error) {
	if active <= 0 {
		active = DefaultActiveDownloads
	}
	q := &Queue{d: d, path: filepath.Join(dataDir, QueueFile), log: log, active: active}
	b, err := smallfile.Read(q.path, maxQueueFile)
	if errors.Is(err, os.ErrNotExist) {
		return q, nil
	}
	if err != nil {
		return nil, fmt.Errorf("control: download queue: %w", err)
	}
	var saved []Download
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, fmt.Errorf("control: download queue %s: %w", q.path, err)
	}
	for _, dl := range saved[:min(len(saved), MaxDownloads)] {
		req, err := requestOf(DownloadRequest{URN: dl.URN, Name: dl.Name, Size: dl.Size, Sources: dl.Sources})
		if err != nil {
			log.Warn("download queue: entry dropped", zap.String("id", dl.ID), zap.Error(err))
			continue
		}
		if dl.State == StateRunning {
			dl.State = StateQueued // it was cut by the shutdown: resume it
		}
		q.items = append(q.items, &item{Download: dl, req: req, restored: dl.State == StateQueued})
	}
	return q, nil
}

// Start runs the queued downloads until Close.
func (q *Queue) Start(ctx context.Context) {
	q.ctx, q.cancel = context.WithCancel(context.WithoutCancel(ctx))
	q.mu.Lock()
	defer q.mu.Unlock()
	q.scheduleLocked()
}

// Close stops the running downloads (they stay queued in the file, to be
// resumed by the next Start) and waits for them.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	if q.cancel != nil {
		q.cancel()
	}
	q.wg.Wait()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.saveLocked()
}

// requestOf checks a download request and turns it into httpxfer's.
func requestOf(r DownloadRequest) (httpxfer.Request, error) {
	d, err := wire.ParseURN(r.URN)
	if err != nil {
		return httpxfer.Request{}, fmt.Errorf("urn %q: want urn:sha1: and 32 base32 digits", r.URN)
	}
	if len(r.Sources) == 0 || len(r.Sources) > MaxSources {
		return httpxfer.Request{}, fmt.Errorf("want 1 to %d sources, got %d", MaxSources, len(r.Sources))
	}
	if r.Size < 0 {
		return httpxfer.Request{}, fmt.Errorf("size %d is negative", r.Size)
	}
	// The API names no Tiger root: the SHA-1 at the end proves the file.
	req := httpxfer.Request{SHA1: d, Size: r.Size, Name: saveName(d, r.Name)}
	for _, s := range r.Sources {
		var src httpxfer.Source
		if s.Addr != "" {
			ap, err := netip.ParseAddrPort(s.Addr)
			if err != nil {
				return httpxfer.Request{}, fmt.Errorf("source %q: want IP:PORT", s.Addr)
			}
			src.Addr = ap
		}
		if s.ServentGUID != "" {
			g, err := wire.ParseGUID(s.ServentGUID)
			if err != nil {
				return httpxfer.Request{}, fmt.Errorf("source servent GUID %q: %w", s.ServentGUID, err)
			}
			src.ServentGUID = g
		}
		if !src.Addr.IsValid() && (src.ServentGUID.IsZero() || !s.Push) {
			return httpxfer.Request{}, errors.New("a source needs an address, or a servent GUID to push to")
		}
		src.Push, src.Index, src.Name, src.TLS = s.Push, s.Index, s.Name, s.TLS
		req.Sources = append(req.Sources, src)
	}
	return req, nil
}

// saveName is the name the file is saved under: the request's, else the
// urn's base32.
func saveName(d wire.SHA1, name string) string {
	if n := httpxfer.SafeName(name); n != "" {
		return n
	}
	return d.Base32()
}

// Add queues a download.
func (q *Queue) Add(r DownloadRequest) (Download, error) {
	req, err := requestOf(r)
	if err != nil {
		return Download{}, err
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	it := &item{req: req, Download: Download{
		ID: hex.EncodeToString(id), URN: req.SHA1.String(), Name: req.Name, Size: r.Size,
		Sources: r.Sources, State: StateQueued, Total: r.Size, Added: time.Now().UTC(),
	}}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= MaxDownloads {
		return Download{}, refused(ErrQueueFull, "%d downloads", len(q.items))
	}
	for _, o := range q.items {
		if o.Name == it.Name && o.State != StateDone {
			return Download{}, refused(ErrBadState, "%s is already queued as %s", it.Name, o.ID)
		}
	}
	q.items = append(q.items, it)
	q.log.Info("download queued", zap.String("id", it.ID), zap.String("name", it.Name), zap.String("urn", it.URN))
	q.saveLocked()
	q.scheduleLocked()
	return it.Download, nil
}

// List returns the queue in the order downloads were added.
func (q *Queue) List() []Download {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Download, len(q.items))
	for i, it := range q.items {
		out[i] = it.Download
		out[i].Sources = slices.Clone(it.Sources)
		out[i].Queued = slices.Clone(it.Queued)
	}
	return out
}

func (q *Queue) findLocked(id string) (int, *item, error) {
	for i, it := range q.items {
		if it.ID == id {
			return i, it, nil
		}
	}
	return -1, nil, notFound(id)
}

// haltLocked stops a running download and waits for its run to end,
// releasing q.mu meanwhile; the caller has set the state the run must
// leave alone.
func (q *Queue) haltLocked(it *item) {
	if it.stop == nil {
		return
	}
	stop := it.stop
	it.halt()
	q.mu.Unlock()
	<-stop
	q.mu.Lock()
}

// Pause stops a queued or running download; its .part stays.
func (q *Queue) Pause(id string) (Download, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, it, err := q.findLocked(id)
	if err != nil {
		return Download{}, err
	}
	if it.State != StateQueued && it.State != StateRunning {
		return it.Download, inState(id, it.State)
	}
	it.State = StatePaused
	q.haltLocked(it)
	q.log.Info("download paused", zap.String("id", id), zap.String("name", it.Name), zap.Int64("done", it.Done))
	q.saveLocked()
	q.scheduleLocked()
	return it.Download, nil
}

// Resume queues a paused or failed download again.
func (q *Queue) Resume(id string) (Download, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, it, err := q.findLocked(id)
	if err != nil {
		return Download{}, err
	}
	if it.State != StatePaused && it.State != StateFailed {
		return it.Download, inState(id, it.State)
	}
	it.State, it.Error = StateQueued, ""
	q.log.Info("download resumed", zap.String("id", id), zap.String("name", it.Name))
	q.saveLocked()
	q.scheduleLocked()
	return it.Download, nil
}

// Cancel stops a download and forgets it; an unfinished one's .part is
// removed, a finished file stays.
func (q *Queue) Cancel(id string) (Download, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, it, err := q.findLocked(id)
	if err != nil {
		return Download{}, err
	}
	done := it.State == StateDone
	it.State = StateCancelled
	q.haltLocked(it)
	i, _, err := q.findLocked(id) // the list may have moved while we waited
	if err != nil {
		return Download{}, err
	}
	q.items = slices.Delete(q.items, i, i+1)
	if !done {
		if err := q.d.DiscardDownload(it.Name); err != nil {
			q.log.Warn("cancelled download's .part not removed", zap.String("name", it.Name), zap.Error(err))
		}
	}
	q.log.Info("download cancelled", zap.String("id", id), zap.String("name", it.Name))
	q.saveLocked()
	q.scheduleLocked()
	return it.Download, nil
}

// scheduleLocked starts queued downloads while slots are free.
func (q *Queue) scheduleLocked() {
	if q.ctx == nil || q.closing {
		return
	}
	running := 0
	for _, it := range q.items {
		if it.State == StateRunning {
			running++
		}
	}
	for _, it := range q.items {
		if running >= q.active {
			return
		}
		if it.State == StateQueued {
			running++
			q.startLocked(it)
		}
	}
}

func (q *Queue) startLocked(it *item) {
	ctx, cancel := context.WithCancel(q.ctx)
	it.State, it.Error, it.halt, it.stop = StateRunning, "", cancel, make(chan struct{})
	req := it.req
	restored := it.restored
	it.restored = false
	req.Progress = func(done, total int64) {
		q.mu.Lock()
		it.Done, it.Total = done, total
		q.mu.Unlock()
		if restored {
			// The first call is what the .part held: say so once, or a
			// restart shows only "queued" and, much later, "finished".
			restored = false
			q.log.Info("download resumed after restart", zap.String("id", it.ID), zap.String("name", it.Name),
				zap.Int64("at", done), zap.Int64("of", total))
		}
	}
	req.Queued = func(src httpxfer.Source, st httpxfer.QueueStatus) {
		q.mu.Lock()
		defer q.mu.Unlock()
		place := QueuePlace{Source: src.String(), Position: st.Position, Length: st.Length, At: time.Now().UTC()}
		it.Queued = slices.DeleteFunc(it.Queued, func(p QueuePlace) bool { return p.Source == place.Source })
		it.Queued = slices.Insert(it.Queued, 0, place)
		it.Queued = it.Queued[:min(len(it.Queued), MaxSources)]
	}
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		defer cancel()
		res, err := q.d.Download(ctx, req)
		q.mu.Lock()
		defer q.mu.Unlock()
		close(it.stop)
		it.stop, it.halt, it.Queued = nil, nil, nil
		switch {
		case it.State != StateRunning:
			// Paused or cancelled: whoever did it saves.
			return
		case err == nil:
			it.State, it.Path, it.Done, it.Total = StateDone, res.Path, res.Size, res.Size
			q.log.Info("download finished", zap.String("id", it.ID), zap.String("path", res.Path), zap.Int64("bytes", res.Size))
		case q.closing:
			// Shutting down: it stays running in the file, and the next
			// start resumes it.
			return
		default:
			it.State, it.Error = StateFailed, err.Error()
			q.log.Info("download failed", zap.String("id", it.ID), zap.String("name", it.Name), zap.Error(err))
		}
		q.saveLocked()
		q.scheduleLocked()
	}()
}

// saveLocked writes the queue file; a failure is logged, and the queue
// goes on in memory.
func (q *Queue) saveLocked() {
	list := make([]Download, len(q.items))
	for i, it := range q.items {
		list[i] = it.Download
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err == nil {
		err = atomicfile.Write(q.path, append(b, '\n'))
	}
	if err != nil {
		q.log.Warn("saving the download queue", zap.String("path", q.path), zap.Error(err))
	}
}
