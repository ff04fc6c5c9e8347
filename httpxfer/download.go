package httpxfer

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govent/govent/wire"
)

// DownloaderConfig configures a Downloader. Zero values take the defaults
// named on each field.
type DownloaderConfig struct {
	Dir       string // where .part, state and final files go; required
	Dialer    Dialer // default NetDialer{}
	UserAgent string // default "govent"

	// ChunkSize is the unit of parallel fetching and of blame (default
	// 1 MiB). Files over 64 Ki chunks use proportionally larger chunks.
	ChunkSize int64
	// MaxConns bounds the connections one download uses at once
	// (default 4, each to a different source).
	MaxConns int
	// MaxFailures failed exchanges in a row that brought no new bytes
	// (errors, empty cuts, stalls, 503s to GET or HEAD) drop a source
	// (default 5). An exchange that wrote anything new resets the count,
	// so a source that cuts every connection after some progress is kept.
	MaxFailures int
	// A 503 waits Retry-After, or DefaultRetryAfter when absent, bounded by
	// MaxRetryAfter (defaults 30 s and 5 min). No wait, plain or queued,
	// is shorter than 10 s (gtk-gnutella's PARQ_MIN_POLL), whatever the
	// source says.
	DefaultRetryAfter time.Duration
	MaxRetryAfter     time.Duration
	// A "503 Queued" (PARQ, or Active Queueing's X-Queue) keeps the source
	// without counting a failure: we poll after its Retry-After, waiting at
	// most MaxQueueWait (default 20 min; a source that asks for longer may
	// drop our place). Negative treats a queue place as a plain 503.
	MaxQueueWait time.Duration
	// AnswerTimeout bounds the wait for a response head (default 30 s,
	// gtk-gnutella's download_connecting_timeout, which covers the request
	// sent and the headers); a source that gives none is tried again after
	// a backoff (noanswer.go).
	AnswerTimeout time.Duration
	// ResponseTimeout bounds the stall window and writes (default 60 s).
	ResponseTimeout time.Duration
	// StallTimeout: a body is given up when it brings under 1 KiB in one
	// stall window: the time the source needs for 64 KiB at its observed
	// rate, at least StallTimeout (default 5 s), at most ResponseTimeout.
	StallTimeout time.Duration
	// The .part is fsynced and the state file rewritten after CommitBytes
	// new bytes (default 16 MiB), and every CommitInterval while new
	// bytes arrive (default 5 s). A crash loses at most that.
	CommitBytes    int64
	CommitInterval time.Duration
	// MaxSkipBytes bounds what a source that ignores Range (200 with the
	// whole file) makes us read and discard to reach the offset we want
	// (default 64 MiB); further in, it is dropped. Its body goes on into
	// the following free chunks, so such a source sends one stream.
	MaxSkipBytes int64
	// Node, if set, returns the address to send as X-Node: where an
	// uploader that queued us may connect with a QUEUE callback. It
	// returns the zero value when we cannot be reached (firewalled).
	Node func() netip.AddrPort
	// Wait sleeps d or until ctx ends; tests replace it. Default: a timer.
	Wait func(ctx context.Context, d time.Duration) error
	// Mesh, if set, adds the sources it knows of a file to its download,
	// learns those replies name (X-Alt, X-Falt), the ones that delivered
	// the file and the ones caught serving bad data.
	Mesh *Mesh
	// TLSHosts, if set, learns the direct sources whose replies list
	// "tls" in X-Features, for the Dialer to dial them with TLS next time.
	TLSHosts *TLSHosts
}

// maxChunks bounds the chunk table, whatever size a QueryHit claims.
const maxChunks = 1 << 16

// Downloader fetches files into Dir. Safe for concurrent use; two
// downloads of the same file name at once, by this Downloader or another
// (in any process), are refused with ErrBusy.
type Downloader struct {
	cfg DownloaderConfig

	mu     sync.Mutex
	active map[string]bool

	callbacks callbackTable      // downloads waiting in a queue, for QUEUE callbacks
	bySHA1    map[wire.SHA1]*job // running downloads, for AddSources

	// sha1Read: bytes its downloads hashed for the SHA-1 while they had a
	// tree, or at their end (tests look).
	sha1Read atomic.Int64
}

// NewDownloader returns a Downloader for cfg, with defaults filled in.
func NewDownloader(cfg DownloaderConfig) *Downloader {
	if cfg.Dialer == nil {
		cfg.Dialer = NetDialer{}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "govent"
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = 1 << 20
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 4
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = 5
	}
	if cfg.DefaultRetryAfter <= 0 {
		cfg.DefaultRetryAfter = 30 * time.Second
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = 5 * time.Minute
	}
	if cfg.MaxQueueWait == 0 {
		cfg.MaxQueueWait = 20 * time.Minute
	}
	if cfg.AnswerTimeout <= 0 {
		cfg.AnswerTimeout = 30 * time.Second
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = 60 * time.Second
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 5 * time.Second
	}
	if cfg.CommitBytes <= 0 {
		cfg.CommitBytes = 16 << 20
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = 5 * time.Second
	}
	if cfg.MaxSkipBytes <= 0 {
		cfg.MaxSkipBytes = 64 << 20
	}
	if cfg.Wait == nil {
		cfg.Wait = sleepCtx
	}
	return &Downloader{cfg: cfg, active: make(map[string]bool), bySHA1: make(map[wire.SHA1]*job)}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Request names a file to download.
type Request struct {
	// Name is the file name to save under; reduced to one safe path
	// element. The .part and state files are named after it.
	Name string
	// Size in bytes; zero or less asks the sources with HEAD.
	Size int64
	// SHA1 is checked at the end and requests go by /uri-res/N2R?urn:sha1.
	// Zero means unknown: requests go by /get/<index>/<name> and nothing is
	// verified.
	SHA1 wire.SHA1
	// TTH, when HasTTH, is the file's Tiger tree root (a bitprint's second
	// half): a tree a source offers in X-Thex-URI is fetched, refused
	// unless it hashes up to TTH, and each chunk is verified against it
	// as it arrives.
	TTH    wire.TTH
	HasTTH bool
	// RootNamed: TTH was named by whoever named the file, together with
	// its SHA-1 (a magnet link's urn:bitprint, or its urn:sha1 and
	// urn:tree:tiger together): the link is then the authority for both,
	// as a BitTorrent info hash is, and the tree is the stronger hash. When
	// a tree that hashes up to TTH verified every byte, the download then
	// ends without computing the SHA-1 (Result.SHA1 stays zero): the
	// follower stops reading the .part back once the tree is set. Without
	// it (a root from a search hit, which only the hit vouches for) the
	// SHA-1 is checked too, so that a hit pairing a popular SHA-1 with
	// another file's root is caught (treeMismatch). When no tree arrives,
	// none decodes to TTH, or not every segment ended verified (a SHA-1
	// mismatch round), the SHA-1 is checked as without it.
	RootNamed bool
	Sources   []Source

	// Progress, if set, is called with the bytes received into the .part
	// so far (done) and the file size (total). Once the size is known
	// (and the file is not found complete already) it is called once at
	// the start (done is then what a resume found),
	// while bytes arrive at most every ProgressInterval (bodies are
	// counted in segments sized to the source's rate, about every 100 ms),
	// and once when Download returns, whatever the outcome. Calls never
	// overlap and hold no lock of the downloader: a slow callback delays
	// only later calls, never the transfer. done never decreases, except
	// when chunks are thrown away after a SHA-1 mismatch (it is 0 after a
	// corrupt .part was removed). Received bytes are not all fsynced yet:
	// a crash loses up to CommitBytes or CommitInterval's worth of them.
	Progress func(done, total int64)
	// Queued, if set, is called each time a source answers with a place
	// in its upload queue (PARQ): the position going down while we poll.
	// Calls never overlap; they come from the source's worker, so a slow
	// callback delays that source's next poll.
	// PollMin is then the wait before our next poll: the source's, within
	// MaxQueueWait and at least 10 s.
	Queued func(src Source, q QueueStatus)
	// Busy, if set, is called each time we wait out a plain 503 of src
	// (status is "503 Busy", as it said) before asking it again, or the
	// backoff after a try that got no answer (status says why: "connecting:
	// ... connection refused", "no answer in 30s"). Calls never overlap,
	// with each other nor with Queued's or Waiting's.
	Busy func(src Source, status string, wait time.Duration)
	// Waiting, if set, is called when src has not answered a request
	// after waited (StallTimeout): we wait on, up to AnswerTimeout.
	Waiting func(src Source, waited time.Duration)
}

// ProgressInterval is the least time between two Request.Progress calls
// while a download runs.
const ProgressInterval = 100 * time.Millisecond

// SourceFailure says why a download stopped using a source.
type SourceFailure struct {
	Source Source
	Err    error // wraps ErrHashMismatch when the source was blamed for it
}

// String is "source: reason", as the CLI prints it.
func (f SourceFailure) String() string { return f.Source.String() + ": " + f.Err.Error() }

// Result describes a download, finished or not.
type Result struct {
	Path string // the final file; empty unless the download finished
	Size int64  // bytes
	// SHA1 of the final file, computed and matching Request.SHA1; zero
	// when it was not computed: no urn:sha1, or Request.RootNamed and the
	// tree proved every byte.
	SHA1    wire.SHA1
	Resumed int64 // bytes already in the .part when the download began
	Dropped []SourceFailure
	// AlreadyComplete: the file was found complete at Path (same SHA-1)
	// and nothing was downloaded.
	AlreadyComplete bool
	// TreeVerified: every byte was checked against the Tiger tree of
	// Request.TTH, as it arrived or read back from the .part.
	TreeVerified bool
	// BadChunks counts the segments that failed the tree and were fetched
	// again.
	BadChunks int
	// Splits counts the chunks whose tail was moved from a slow source to
	// a faster one in the endgame.
	Splits int
	// Sources is what the download measured of each source, ranked best
	// first as at its end (see SourceStats).
	Sources []SourceStats
}

// Download fetches req into the download directory and returns the final
// path in Result.Path. When the SHA-1 is known and the file is already
// there, complete (under Name or a numbered copy of it), it returns that
// path with Result.AlreadyComplete and downloads nothing. It returns early
// with an error when ctx ends or no source is left (ErrNoSources, with
// each source's reason; Result.Dropped has them too); the .part and state
// file then stay, and a later Download of the same Name, size and SHA-1
// resumes from them.
//
// The .part is locked (flock) while a download uses it: another download
// of the same Name into the same directory, in this process or another,
// fails with ErrBusy. A .part whose state records progress of another
// file is never emptied: the download fails with ErrOtherDownload. The
// .part and state file are never opened through a symbolic link.
//
// Chunks are fetched in parallel from different sources; a source that
// fails mid-chunk loses nothing it already wrote (the chunk continues from
// there, possibly from another source). The best-ranked sources get the
// MaxConns connections (rank.go); when only chunks in flight are left, an
// idle source measured much faster than the source of one of them takes
// over that chunk's tail (the endgame, endgame.go). The SHA-1 is checked once, over the
// whole file, unless a tree named with it (Request.RootNamed) proved every
// byte: Gnutella sources offer no per-chunk hashes but THEX trees. On a
// mismatch we cannot tell who lied, so the state remembers which source
// wrote each chunk, and the downloader tries suspects one at a time, the
// one that wrote the fewest chunks first: it throws away every chunk that
// suspect touched and refetches those chunks from the other sources only.
// If the SHA-1 then matches, the suspect is blamed (SourceFailure with
// ErrHashMismatch) and the file kept; if not, the next suspect is tried
// (refetchers become suspects too). A sole writer is blamed at once. When
// every suspect has been tried, or no source is left after a blame, the
// .part is removed: nothing corrupt is ever kept under the final name.
//
// The final file is created by a hard link that never replaces an existing
// file: "name.ext" becomes "name (1).ext" and so on.
func (d *Downloader) Download(ctx context.Context, req Request) (Result, error) {
	name := sanitizeName(req.Name)
	if len(req.Sources) == 0 {
		return Result{}, &downloadError{name, ErrNoSources}
	}
	d.mu.Lock()
	if d.active[name] {
		d.mu.Unlock()
		return Result{}, &downloadError{name, ErrBusy}
	}
	d.active[name] = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.active, name)
		d.mu.Unlock()
	}()

	j := &job{
		cfg:        &d.cfg,
		callbacks:  &d.callbacks,
		sha1Read:   &d.sha1Read,
		req:        req,
		name:       name,
		partPath:   filepath.Join(d.cfg.Dir, name+".part"),
		statePath:  filepath.Join(d.cfg.Dir, name+".part.state"),
		wake:       make(chan struct{}),
		commitReq:  make(chan struct{}, 1),
		moved:      make(chan struct{}, 1),
		treeTried:  make(map[string]bool),
		mixedFails: make(map[int]int),
		suspicion:  make(map[string]int),
	}
	j.addSources(req.Sources...)
	j.addMeshSources()
	if req.SHA1 != (wire.SHA1{}) {
		d.mu.Lock()
		if d.bySHA1[req.SHA1] == nil {
			d.bySHA1[req.SHA1] = j
			defer func() {
				d.mu.Lock()
				delete(d.bySHA1, req.SHA1)
				d.mu.Unlock()
			}()
		}
		d.mu.Unlock()
	}
	res, err := j.run(ctx)
	j.reportMesh(res, err)
	if err != nil {
		err = &downloadError{name, err}
	}
	return res, err
}

// downloadError is a download's failure: `download "NAME": ` and the
// cause, which does not name the download again.
type downloadError struct {
	name string
	err  error
}

func (e *downloadError) Error() string {
	return fmt.Sprintf("download %q: %v", e.name, e.err)
}

func (e *downloadError) Unwrap() error { return e.err }

// sanitizeName is SafeName, with "download" for a name of which nothing
// usable is left.
func sanitizeName(name string) string {
	if n := SafeName(name); n != "" {
		return n
	}
	return "download"
}
