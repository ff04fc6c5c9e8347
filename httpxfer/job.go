package httpxfer

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

// job is one running download.
type job struct {
	cfg                 *DownloaderConfig
	req                 Request
	name                string
	partPath, statePath string
	size, chunkSize     int64
	part                *os.File
	srcs                []*srcState
	joined              int // sources that joined so far (srcState.order)

	callbacks *callbackTable
	commitMu  sync.Mutex // one commit at a time
	// writeMu lets one readBody write to the .part at a time, as ext4
	// does anyway (a buffered write holds the inode's lock): waiting here
	// parks the goroutine, where a writer waiting in the kernel may spin
	// on the lock (rwsem optimistic spinning) and keeps its thread and P.
	// Measured in BenchmarkTransferMesh (2 vCPUs on a busy host, 5 pairs
	// of runs alternately): the THEX mode took 2.5-6% less CPU per MB
	// (3.15-4.11 cpu-ms/MB against 3.24-4.32), and thex/sha1 rose in 4 of
	// the 5 pairs. Splices (the SHA-1 mode) still meet in the kernel: a
	// splice cannot let go of a lock while it waits for the socket.
	// Handing each pwrite to a goroutine of its own, so that the worker
	// reads and hashes its next piece meanwhile (two buffers), did not
	// pay on the 2-vCPU EPYC of 2026-12-03 (busy host, 4 rounds
	// alternately): thex 177-253 MB/s against 170-250, thex/sha1
	// 0.59-0.81 against 0.62-0.65; the write goroutines waited runnable
	// behind the hashing workers, and the workers for them.
	writeMu sync.Mutex
	queueMu sync.Mutex // one Request.Queued call at a time

	// solo is set for a round with one worker: it pipelines its requests,
	// which with several workers would hold a chunk that another could
	// be fetching. Set before the round's workers start, cleared when a
	// source joins the round. Pipelining with several workers too, while
	// more than 2*MaxConns chunks were idle, against the wait for each
	// reply's head (a fifth of a worker's time in the THEX mode's
	// traces), did not pay: on the 2-vCPU EPYC of 2026-12-03 (busy
	// host, 4 pairs alternately) the THEX mode made 283-341 MB/s against
	// 292-347, and the SHA-1 mode took 4-7% more CPU per MB.
	solo atomic.Bool

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
	round       *round // the running round, nil between rounds
	// savedQueues holds the queue places the state file gave, by source
	// key, for sources that join later (resumeQueues).
	savedQueues map[string]QueueStatus

	// THEX (verify.go).
	runCtx     context.Context // the download's; tree fetches live in it
	bg         sync.WaitGroup  // tree fetches
	tree       *thex.Tree      // nil until fetched and checked
	treeDIME   []byte          // tree as the state file keeps it, once encoded
	segOK      []bool          // per segment of the tree's deepest level: matched
	segBusy    []bool          // per segment: a verifier is checking it
	segStale   []bool          // per segment: its chunks were thrown away during that check
	treeBusy   bool            // a tree fetch is in flight
	treeTried  map[string]bool // sources asked for their tree
	treeErr    error           // why the last tree fetch failed
	mixedFails map[int]int     // per segment, failures with several writers
	suspicion  map[string]int  // per source, mixed failures it wrote in
	blamed     []Source        // sources caught with a bad segment
	badSegs    int
	splits     int   // chunks split in the endgame
	hashTarget int64 // the SHA-1 follower reads the .part up to here
	rehash     bool  // bytes it read were thrown away since
	// sha1Read counts the bytes hashed for the SHA-1 while the download
	// had a tree, and at the end: the Downloader's, for tests.
	sha1Read *atomic.Int64
}

type srcState struct {
	src      Source
	key      string
	dropped  bool
	reached  bool        // a connection to it was made once (dial)
	failures int         // in a row, that brought no new bytes
	got      int64       // bytes it wrote
	settled  int64       // got at the last settle
	rate     float64     // its recent rate, for the stall window (stallGuard); its worker's own
	queue    QueueStatus // our place in its upload queue (PARQ); its worker's own
	origin               // where it came from (altdl.go)

	// For the ranking (rank.go).
	order     int           // when it joined the download
	bodyStart time.Time     // the body being read began; zero between bodies
	bodyTime  time.Duration // spent reading its bodies before that
	queuePos  int           // queue.Position, for other workers to read
	lastQueue QueueStatus   // its last queue place, for SourceStats
}

type chunk struct {
	have int64    // leading bytes present in the .part
	busy bool     // a worker is fetching it
	by   []string // keys of the sources that wrote those bytes
	// pin marks the chunks of a segment that failed THEX with several
	// writers (suspects): one of them alone fetches them again (owner,
	// the first most suspected one to pick), so that a failure names
	// the liar.
	pin      bool
	suspects []string
	owner    string

	// The endgame (endgame.go).
	holder  *srcState // whose worker has it busy
	claimed int64     // the holder may be writing up to here (relative)
	limit   int64     // with a tail: where the prefix ends (relative)
	tail    *tailSpan // [limit, length), fetched by another source
	// Once the two are joined: where the tail began, and who wrote each
	// side (by has them all), so that a bad segment names its writers.
	split            int64
	prefixBy, tailBy []string

	// gen counts the times the chunk was thrown away: a check of its
	// bytes begun before (verify_inline.go) is void.
	gen uint32
}

func (j *job) run(ctx context.Context) (Result, error) {
	res := Result{}
	ctx, cancel := context.WithCancel(ctx)
	defer j.bg.Wait()
	defer cancel()
	j.mu.Lock()
	j.runCtx = ctx
	j.mu.Unlock()
	// The .part is ours before any network work: a second download of
	// the same file is refused at once, not after our HEAD.
	if err := j.lockPart(); err != nil {
		return j.result(res), err
	}
	defer j.unlockPart()
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
	resumed, err := j.open()
	if err != nil {
		return j.result(res), err
	}
	res.Resumed = resumed
	// Blocks for the whole file now: not allocated by the commits
	// while the workers write (prealloc_linux.go).
	preallocate(j.part, j.size)
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
			if !j.anyData() && len(j.savedQueues) == 0 {
				j.discard() // a failed start leaves no empty .part
			}
			return j.result(res), j.noSources()
		}
		j.mu.Lock()
		if j.rehash {
			hf, j.rehash = nil, false
		}
		verified := j.tree != nil && j.allVerifiedLocked()
		j.mu.Unlock()
		if verified && j.req.RootNamed && !mismatch {
			// The tree named with the SHA-1 proved every byte.
			res.TreeVerified, res.Size = true, j.size
			res.Path, err = j.finish()
			return j.result(res), err
		}
		if hf == nil {
			hf = newHashFollower()
		}
		sum, err := hf.finish(j.part, j.size, j.sha1Read)
		hf = nil
		if err != nil {
			return j.result(res), err
		}
		res.TreeVerified = verified
		if verified && j.req.SHA1 != (wire.SHA1{}) && sum != j.req.SHA1 {
			j.discard()
			return j.result(res), treeMismatch()
		}
		if j.req.SHA1 == (wire.SHA1{}) || sum == j.req.SHA1 {
			if exclude != "" {
				j.blame(exclude, "its chunks were fetched again elsewhere, and then the file matched")
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
			j.blame(suspect, "it wrote every chunk, and the file does not match")
			exclude = ""
		}
		if err := j.commit(); err != nil {
			return j.result(res), err
		}
	}
}

func (j *job) result(r Result) Result {
	r.Sources = j.stats()
	j.mu.Lock()
	defer j.mu.Unlock()
	r.Dropped = slices.Clone(j.dropped)
	r.BadChunks = j.badSegs
	r.Splits = j.splits
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
