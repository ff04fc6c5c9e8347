package httpxfer

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/govent/govent/httpxfer/atomicfile"
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
	// MaxRetryAfter (defaults 30 s and 5 min).
	DefaultRetryAfter time.Duration
	MaxRetryAfter     time.Duration
	// ResponseTimeout bounds the wait for a response head (default 60 s)
	// and the stall window.
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
	// Wait sleeps d or until ctx ends; tests replace it. Default: a timer.
	Wait func(ctx context.Context, d time.Duration) error
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
	return &Downloader{cfg: cfg, active: make(map[string]bool)}
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
	SHA1    wire.SHA1
	Sources []Source

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
	Path    string    // the final file; empty unless the download finished
	Size    int64     // bytes
	SHA1    wire.SHA1 // of the final file
	Resumed int64     // bytes already in the .part when the download began
	Dropped []SourceFailure
	// AlreadyComplete: the file was found complete at Path (same SHA-1)
	// and nothing was downloaded.
	AlreadyComplete bool
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
// there, possibly from another source). The SHA-1 is checked once, over the
// whole file: Gnutella sources offer no per-chunk hashes here. On a
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
		return Result{}, fmt.Errorf("httpxfer: download %q: %w", name, ErrNoSources)
	}
	d.mu.Lock()
	if d.active[name] {
		d.mu.Unlock()
		return Result{}, fmt.Errorf("httpxfer: download %q: %w", name, ErrBusy)
	}
	d.active[name] = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.active, name)
		d.mu.Unlock()
	}()

	j := &job{
		cfg:       &d.cfg,
		req:       req,
		name:      name,
		partPath:  filepath.Join(d.cfg.Dir, name+".part"),
		statePath: filepath.Join(d.cfg.Dir, name+".part.state"),
		wake:      make(chan struct{}),
		commitReq: make(chan struct{}, 1),
		moved:     make(chan struct{}, 1),
	}
	seen := make(map[string]bool)
	for _, s := range req.Sources {
		if k := s.String(); !seen[k] {
			seen[k] = true
			j.srcs = append(j.srcs, &srcState{src: s, key: k})
		}
	}
	res, err := j.run(ctx)
	if err != nil {
		err = fmt.Errorf("httpxfer: download %q: %w", name, err)
	}
	return res, err
}

// job is one running download.
type job struct {
	cfg                 *DownloaderConfig
	req                 Request
	name                string
	partPath, statePath string
	size, chunkSize     int64
	part                *os.File
	srcs                []*srcState

	commitMu sync.Mutex // one commit at a time

	// solo is set for a round with one worker: it pipelines its requests,
	// which with several workers would hold a chunk that another could
	// be fetching. Written before the round's workers start.
	solo bool

	mu          sync.Mutex // guards everything below and srcState fields
	chunks      []chunk
	have        int64         // sum of chunks[].have
	wake        chan struct{} // closed and replaced when a chunk is settled
	commitReq   chan struct{} // asks the committer for a commit
	moved       chan struct{} // tells the progress reporter that have changed
	reported    int64         // have at the last Progress call
	uncommitted int64
	fatal       error
	dropped     []SourceFailure
	endRound    context.CancelFunc
}

type srcState struct {
	src      Source
	key      string
	dropped  bool
	failures int     // in a row, that brought no new bytes
	got      int64   // bytes it wrote
	settled  int64   // got at the last settle
	rate     float64 // its recent rate, for the stall window (stallGuard); its worker's own
}

type chunk struct {
	have int64    // leading bytes present in the .part
	busy bool     // a worker is fetching it
	by   []string // keys of the sources that wrote those bytes
}

func (j *job) run(ctx context.Context) (Result, error) {
	res := Result{}
	if j.req.Size > 0 {
		j.size = j.req.Size
	} else if err := j.probeSize(ctx); err != nil {
		return j.result(res), err
	}
	if p, ok := j.findComplete(); ok {
		res.Path, res.Size, res.SHA1, res.AlreadyComplete = p, j.size, j.req.SHA1, true
		return j.result(res), nil
	}
	j.chunkSize = max(j.cfg.ChunkSize, (j.size+maxChunks-1)/maxChunks)
	defer func() {
		if j.part != nil {
			j.part.Close()
		}
	}()
	resumed, err := j.open()
	if err != nil {
		return j.result(res), err
	}
	res.Resumed = resumed
	j.report(true)
	defer j.report(true)

	tried := make(map[string]bool)
	exclude := ""
	mismatch := false
	// The first round hashes while it downloads; later rounds rewrite
	// chunks anywhere in the file and hash from scratch at the end.
	hf := newHashFollower()
	for {
		j.runRound(ctx, exclude, hf)
		if err := j.commit(); err != nil {
			return j.result(res), err
		}
		if j.fatal != nil {
			return j.result(res), j.fatal
		}
		if ctx.Err() != nil {
			return j.result(res), ctx.Err()
		}
		if !j.complete() {
			if mismatch {
				if !j.anyData() {
					j.discard()
				}
				return j.result(res), j.noSources(ErrHashMismatch)
			}
			return j.result(res), j.noSources()
		}
		if hf == nil {
			hf = newHashFollower()
		}
		sum, err := hf.finish(j.part, j.size)
		hf = nil
		if err != nil {
			return j.result(res), err
		}
		if j.req.SHA1 == (wire.SHA1{}) || sum == j.req.SHA1 {
			if exclude != "" {
				j.blame(exclude)
			}
			res.SHA1 = sum
			res.Size = j.size
			res.Path, err = j.finish()
			return j.result(res), err
		}
		mismatch = true
		suspect, sole := j.nextSuspect(tried)
		if suspect == "" {
			j.discard()
			return j.result(res), fmt.Errorf("%w: every writer suspected in turn", ErrHashMismatch)
		}
		tried[suspect] = true
		j.forget(suspect)
		exclude = suspect
		if sole {
			j.blame(suspect)
			exclude = ""
		}
		if err := j.commit(); err != nil {
			return j.result(res), err
		}
	}
}

func (j *job) result(r Result) Result {
	j.mu.Lock()
	defer j.mu.Unlock()
	r.Dropped = slices.Clone(j.dropped)
	return r
}

func (j *job) urn() string {
	if j.req.SHA1 == (wire.SHA1{}) {
		return ""
	}
	return j.req.SHA1.String()
}

func (j *job) chunkLen(i int) int64 {
	return min(j.chunkSize, j.size-int64(i)*j.chunkSize)
}

// runRound runs one worker per usable source (except exclude) until every
// chunk is complete or no worker can go on, and hf (if not nil) alongside.
func (j *job) runRound(ctx context.Context, exclude string, hf *hashFollower) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	j.mu.Lock()
	j.endRound = cancel
	j.mu.Unlock()
	sem := make(chan struct{}, j.cfg.MaxConns)
	var workers []*srcState
	for _, s := range j.srcs {
		if !s.dropped && s.key != exclude {
			workers = append(workers, s)
		}
	}
	j.solo = len(workers) == 1
	var wg sync.WaitGroup
	for _, s := range workers {
		wg.Go(func() { j.worker(rctx, s, sem) })
	}
	// The helpers live until the last worker is done.
	var helpers sync.WaitGroup
	hctx, stopHelpers := context.WithCancel(rctx)
	if hf != nil {
		helpers.Go(func() { j.follow(hctx, hf) })
	}
	helpers.Go(func() { j.committer(hctx) })
	if j.req.Progress != nil {
		helpers.Go(func() { j.reporter(hctx) })
	}
	wg.Wait()
	stopHelpers()
	helpers.Wait()
}

// hashFollower hashes the .part while it is written, following the run of
// complete chunks from the start, so that the SHA-1 is mostly done when the
// last byte arrives. Complete chunks are never rewritten within a round.
type hashFollower struct {
	h    hash.Hash
	buf  []byte
	off  int64 // bytes hashed
	end  int64 // end of the complete prefix seen so far
	next int   // first chunk not known complete
}

func newHashFollower() *hashFollower {
	return &hashFollower{h: sha1.New(), buf: make([]byte, 32<<10)}
}

func (j *job) follow(ctx context.Context, hf *hashFollower) {
	for {
		j.mu.Lock()
		for hf.next < len(j.chunks) && j.chunks[hf.next].have == j.chunkLen(hf.next) {
			hf.end += j.chunkLen(hf.next)
			hf.next++
		}
		end, wake := hf.end, j.wake
		j.mu.Unlock()
		if hf.off < end {
			n, err := io.CopyBuffer(hf.h, io.NewSectionReader(j.part, hf.off, end-hf.off), hf.buf)
			hf.off += n
			if err != nil {
				return // finish hashes the rest and reports the error
			}
			continue
		}
		if hf.next == len(j.chunks) {
			return
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		}
	}
}

// finish hashes what the follower has not and returns the SHA-1.
func (hf *hashFollower) finish(f *os.File, size int64) (wire.SHA1, error) {
	var d wire.SHA1
	if _, err := io.CopyBuffer(hf.h, io.NewSectionReader(f, hf.off, size-hf.off), hf.buf); err != nil {
		return d, err
	}
	hf.h.Sum(d[:0])
	return d, nil
}

// worker fetches chunks from one source, one at a time, on a kept-alive
// connection when the source allows. The only worker of a round sends the
// next chunk's request before reading the current body (pipelining), so
// the source never idles for a round trip between chunks. Each worker has
// its own file handle, so splicing at its own offset does not disturb the
// others.
func (j *job) worker(ctx context.Context, s *srcState, sem chan struct{}) {
	w, err := openPartWriter(j.partPath, j.part)
	if err != nil {
		j.setFatal(err)
		return
	}
	defer w.Close()
	var cc *clientConn
	defer func() { cc.close() }()
	next := -1 // a chunk already requested on cc (pipelined), held busy
	defer func() {
		if next >= 0 {
			j.release(next)
		}
	}()
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		ci := next
		next = -1
		if ci < 0 {
			var wake <-chan struct{}
			ci, wake = j.pick(s)
			if ci < 0 {
				<-sem
				if wake == nil {
					return
				}
				select {
				case <-wake:
					continue
				case <-ctx.Done():
					return
				}
			}
		}
		next, err = j.fetchChunk(ctx, w, &cc, s, ci)
		<-sem
		if err != nil {
			if cc != nil {
				cc.close()
				cc = nil
			}
			if next >= 0 {
				// Back to picking the first idle chunk, as without
				// pipelining.
				j.release(next)
				next = -1
			}
		}
		// With err nil and cc closed (the source ended the connection
		// after the body), a pipelined request is lost; next stays ours
		// and is asked for again on a new connection.
		delay, stop := j.settle(ctx, s, ci, err)
		if stop {
			return
		}
		if delay > 0 && j.cfg.Wait(ctx, delay) != nil {
			return
		}
	}
}

// pick marks the first incomplete, idle chunk busy for s. With none, it
// returns a channel to wait on when other workers may still release one,
// and nil when the round is over for s.
func (j *job) pick(s *srcState) (int, <-chan struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if s.dropped || j.fatal != nil {
		return -1, nil
	}
	inFlight, complete := false, true
	for i := range j.chunks {
		c := &j.chunks[i]
		if c.have == j.chunkLen(i) {
			continue
		}
		complete = false
		if c.busy {
			inFlight = true
			continue
		}
		c.busy = true
		return i, nil
	}
	if complete {
		j.endRound() // wakes workers waiting out a Retry-After
	}
	if inFlight {
		return -1, j.wake
	}
	return -1, nil
}

// release makes chunk ci idle again without a fetch having happened.
func (j *job) release(ci int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.chunks[ci].busy = false
	j.notifyLocked()
}

// notifyLocked wakes everyone waiting on j.wake.
func (j *job) notifyLocked() {
	close(j.wake)
	j.wake = make(chan struct{})
}

// fetchChunk fetches the rest of chunk ci from s, request after request
// while replies cover less than asked. When it returns a chunk index
// (>= 0), that chunk is marked busy for s and its request is already sent
// on *cc if *cc is not nil.
func (j *job) fetchChunk(ctx context.Context, w *os.File, cc **clientConn, s *srcState, ci int) (int, error) {
	credit := func(n int64) { j.credit(ci, s, n) }
	for {
		j.mu.Lock()
		have := j.chunks[ci].have
		j.mu.Unlock()
		start := int64(ci)*j.chunkSize + have
		end := int64(ci)*j.chunkSize + j.chunkLen(ci)
		if start >= end {
			return -1, nil
		}
		next, err := j.fetchSpan(ctx, w, cc, s, start, end, credit)
		if err != nil || next >= 0 {
			return next, err
		}
	}
}

// credit records n bytes that s wrote at the end of chunk ci's leading
// bytes.
func (j *job) credit(ci int, s *srcState, n int64) {
	j.mu.Lock()
	c := &j.chunks[ci]
	c.have += n
	if !slices.Contains(c.by, s.key) {
		c.by = append(c.by, s.key)
	}
	j.have += n
	j.uncommitted += n
	s.got += n
	j.mu.Unlock()
	select {
	case j.moved <- struct{}{}:
	default: // the reporter has a wake-up pending
	}
}

// fetchSpan asks s for [start, end) and writes what comes into w, calling
// credit with each run of bytes written (they count even when err is not
// nil). With a solo worker and a reply that covers [start, end) exactly
// on a kept-alive connection, it picks the next chunk and sends its
// request before reading the body; it returns that chunk, else -1.
func (j *job) fetchSpan(ctx context.Context, w *os.File, cc **clientConn, s *srcState, start, end int64, credit func(int64)) (int, error) {
	src := s.src
	if *cc == nil {
		conn, err := j.cfg.Dialer.DialSource(ctx, src)
		if err != nil {
			return -1, retryErr("connecting: %w", err)
		}
		*cc = newClientConn(conn)
	}
	c := *cc
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Now()) })
	defer stop()
	want := byteRange{start, end - 1}
	var resp *response
	var err error
	if c.sent {
		// pipeline sent the request for this very span: the chunk was
		// ours and idle since, so its start has not moved.
		c.sent = false
		_ = c.conn.SetReadDeadline(time.Now().Add(j.cfg.ResponseTimeout))
		resp, err = c.readResponse()
	} else {
		resp, err = c.roundTrip("GET", j.target(src), hostOf(src), j.cfg.UserAgent, &want, j.cfg.ResponseTimeout)
	}
	if err != nil {
		// Garbage where a head should be is often the tail of a previous
		// body that ran longer than promised: reconnect and count it.
		return -1, retryErr("%w", err)
	}
	got, err := j.checkReply(resp, start, end) // the bytes the body holds
	if err != nil {
		return -1, err // the worker hangs up
	}
	g := &stallGuard{ctx: ctx, conn: c.conn, floor: j.cfg.StallTimeout, ceiling: j.cfg.ResponseTimeout, rate: &s.rate}
	if resp.status == 200 && start > 0 {
		// The source ignores Range: read up to what we want.
		if err := c.skipBody(start, g); err != nil {
			return -1, err
		}
	}
	next := -1
	if j.solo && resp.status == 206 && got == want && resp.keep {
		var sent bool
		if next, sent = j.pipeline(c, s); !sent && next >= 0 {
			resp.keep = false // maybe half a request on the wire: hang up after the body
		}
	}
	take := min(got.end, want.end) - start + 1
	if _, err := c.copyBody(w, start, take, g, credit); err != nil {
		return next, err
	}
	extra := got.end - want.end
	switch {
	case resp.status == 200 && extra > 0:
		whole, err := j.streamOn(c, w, s, g, want.end+1)
		if err != nil {
			return next, err
		}
		resp.keep = resp.keep && whole
	case extra > 0:
		// A source may send more than asked; drop a little, else hang up.
		if extra > 64<<10 || c.skipBody(extra, g) != nil {
			resp.keep = false
		}
	}
	if !resp.keep {
		c.close()
		*cc = nil
	}
	return next, nil
}

// pipeline picks the next chunk for s and sends its request on c, so the
// source can go on with it as soon as the current body is out. It
// returns the chunk, busy for s, or -1 when there is none, and whether
// the request went out.
func (j *job) pipeline(c *clientConn, s *srcState) (int, bool) {
	ci, _ := j.pick(s)
	if ci < 0 {
		return -1, false
	}
	want := byteRange{int64(ci) * j.chunkSize, int64(ci)*j.chunkSize + j.chunkLen(ci) - 1}
	j.mu.Lock()
	want.start += j.chunks[ci].have
	j.mu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(j.cfg.ResponseTimeout))
	if err := c.send("GET", j.target(s.src), hostOf(s.src), j.cfg.UserAgent, &want); err != nil {
		return ci, false
	}
	c.sent = true
	return ci, true
}

// settle releases chunk ci after a fetch and applies err to the source. It
// tells the worker how long to wait before its next try, or to stop.
func (j *job) settle(ctx context.Context, s *srcState, ci int, err error) (time.Duration, bool) {
	j.mu.Lock()
	j.chunks[ci].busy = false
	j.notifyLocked()
	var delay time.Duration
	stop := false
	progressed := s.got > s.settled
	s.settled = s.got
	var se *sourceError
	switch {
	case err == nil:
		s.failures = 0
	case ctx.Err() != nil:
		stop = true // cancelled: not the source's fault
	case errors.As(err, &se) && se.action == actFatal:
		j.fatal = err
		j.endRound()
		stop = true
	case errors.As(err, &se) && se.action == actDrop:
		j.dropLocked(s, err)
		stop = true
	default:
		if se != nil {
			delay = se.delay
		}
		stop = j.countFailureLocked(s, err, progressed)
	}
	if j.uncommitted >= j.cfg.CommitBytes || (err != nil && j.uncommitted > 0) {
		select {
		case j.commitReq <- struct{}{}:
		default: // one is pending already
		}
	}
	j.mu.Unlock()
	return delay, stop
}

// committer commits whenever workers ask, so that they do not wait for
// the fsync themselves, and every CommitInterval when bytes arrived.
func (j *job) committer(ctx context.Context) {
	tick := time.NewTicker(j.cfg.CommitInterval)
	defer tick.Stop()
	for {
		select {
		case <-j.commitReq:
		case <-tick.C:
			j.mu.Lock()
			idle := j.uncommitted == 0
			j.mu.Unlock()
			if idle {
				continue
			}
		case <-ctx.Done():
			return
		}
		if err := j.commit(); err != nil {
			j.setFatal(err)
			return
		}
	}
}

// reporter calls Request.Progress as bytes arrive, at most every
// ProgressInterval.
func (j *job) reporter(ctx context.Context) {
	for {
		select {
		case <-j.moved:
		case <-ctx.Done():
			return
		}
		j.report(false)
		t := time.NewTimer(ProgressInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// report calls Request.Progress with the bytes in the .part; unless
// always, only when they changed since the last call. Never called
// concurrently: by run outside rounds and by the reporter within one.
func (j *job) report(always bool) {
	if j.req.Progress == nil {
		return
	}
	j.mu.Lock()
	done := j.have
	changed := done != j.reported
	j.reported = done
	j.mu.Unlock()
	if always || changed {
		j.req.Progress(done, j.size)
	}
}

func (j *job) dropLocked(s *srcState, err error) {
	if !s.dropped {
		s.dropped = true
		j.dropped = append(j.dropped, SourceFailure{Source: s.src, Err: err})
	}
}

func (j *job) setFatal(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fatal == nil {
		j.fatal = err
	}
	if j.endRound != nil {
		j.endRound()
	}
}

// commit fsyncs the .part, then records the progress known before the
// fsync in the state file.
func (j *job) commit() error {
	j.commitMu.Lock()
	defer j.commitMu.Unlock()
	j.mu.Lock()
	st := stateFile{Version: stateVersion, URN: j.urn(), Size: j.size, ChunkSize: j.chunkSize, Chunks: []stateChunk{}}
	for i, c := range j.chunks {
		if c.have > 0 {
			st.Chunks = append(st.Chunks, stateChunk{Index: i, Have: c.have, By: slices.Clone(c.by)})
		}
	}
	j.uncommitted = 0
	j.mu.Unlock()
	if err := j.part.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", j.partPath, err)
	}
	b, err := json.Marshal(&st)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(j.statePath, b); err != nil {
		return fmt.Errorf("writing %s: %w", j.statePath, err)
	}
	return nil
}

func (j *job) complete() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i, c := range j.chunks {
		if c.have != j.chunkLen(i) {
			return false
		}
	}
	return true
}

func (j *job) anyData() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range j.chunks {
		if c.have > 0 {
			return true
		}
	}
	return false
}

// nextSuspect returns the untried writer of the fewest chunks (ties: by
// key, for a stable order), and whether it wrote every chunk alone.
func (j *job) nextSuspect(tried map[string]bool) (string, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	count := make(map[string]int)
	for _, c := range j.chunks {
		for _, k := range c.by {
			count[k]++
		}
	}
	best := ""
	for k, n := range count {
		if !tried[k] && (best == "" || n < count[best] || n == count[best] && k < best) {
			best = k
		}
	}
	return best, best != "" && len(count) == 1
}

// forget throws away every chunk that key wrote any byte of.
func (j *job) forget(key string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i := range j.chunks {
		if slices.Contains(j.chunks[i].by, key) {
			j.have -= j.chunks[i].have
			j.chunks[i] = chunk{}
		}
	}
}

// blame drops the source key as the cause of a SHA-1 mismatch.
func (j *job) blame(key string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, s := range j.srcs {
		if s.key == key {
			if s.dropped { // dropped for another reason first: say both
				for i := range j.dropped {
					if j.dropped[i].Source.String() == key {
						j.dropped[i].Err = errors.Join(ErrHashMismatch, j.dropped[i].Err)
					}
				}
				continue
			}
			j.dropLocked(s, fmt.Errorf("%w: its chunks were replaced and the file verified", ErrHashMismatch))
		}
	}
}

// discard removes the .part and state: their content is known bad. The
// lock is held until both are gone.
func (j *job) discard() {
	j.mu.Lock()
	j.have = 0
	j.mu.Unlock()
	os.Remove(j.statePath)
	os.Remove(j.partPath)
	j.part.Close()
	j.part = nil
}

// finish links the verified .part to a free final name and removes the
// .part and state file, holding the lock until they are gone: a download
// of the same name that comes next finds the final file, not a .part.
func (j *job) finish() (string, error) {
	final, err := linkUnique(j.partPath, j.cfg.Dir, j.name)
	if err != nil {
		return "", err
	}
	if err := os.Remove(j.statePath); err != nil {
		return final, err
	}
	if err := os.Remove(j.partPath); err != nil {
		return final, err
	}
	err = j.part.Close()
	j.part = nil
	if err != nil {
		return final, err
	}
	return final, atomicfile.SyncDir(j.cfg.Dir)
}

// linkUnique hard-links src as dir/name, or "name (n).ext" when taken. A
// link never replaces an existing file, unlike a rename.
func linkUnique(src, dir, name string) (string, error) {
	for n := range maxCopies {
		p := filepath.Join(dir, numberedName(name, n))
		err := os.Link(src, p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free name for %q in %s", name, dir)
}

// target is the request target: by urn when known, else Clip2 /get/.
func (j *job) target(s Source) string {
	if j.req.SHA1 != (wire.SHA1{}) {
		return "/uri-res/N2R?" + j.req.SHA1.String()
	}
	name := s.Name
	if name == "" {
		name = j.req.Name
	}
	return "/get/" + strconv.FormatUint(uint64(s.Index), 10) + "/" + url.PathEscape(name)
}

func hostOf(s Source) string {
	if s.Addr.IsValid() {
		return s.Addr.String()
	}
	return ""
}

// sanitizeName is SafeName, with "download" for a name of which nothing
// usable is left.
func sanitizeName(name string) string {
	if n := SafeName(name); n != "" {
		return n
	}
	return "download"
}
