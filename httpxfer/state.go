package httpxfer

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/govent/govent/httpxfer/atomicfile"
	"github.com/govent/govent/httpxfer/smallfile"
)

// The state file sits beside <name>.part as <name>.part.state. It records,
// per chunk, how many leading bytes are in the .part and fsynced, and which
// sources wrote them (to know whom to suspect if the SHA-1 does not match).
// It is written only after the .part is fsynced, with atomicfile.Write
// (temp file, fsync, rename, fsync of the directory, no link followed), so
// after a crash it never claims bytes that are not on disk.
type stateFile struct {
	Version   int          `json:"version"`
	URN       string       `json:"urn,omitempty"`
	Size      int64        `json:"size"`
	ChunkSize int64        `json:"chunk_size"`
	Chunks    []stateChunk `json:"chunks"`
	// Queues holds our places in the sources' upload queues (PARQ), so
	// that the next run presents the same ID and keeps the place instead
	// of queueing behind it.
	Queues []stateQueue `json:"queues,omitempty"`
	// Tree is the file's Tiger tree (THEX DIME), once fetched and checked
	// against the request's root: the next run has it from the start,
	// and keeps the bytes past the chunks' claims that it proves
	// (resumeTree).
	Tree []byte `json:"tree,omitempty"`
}

type stateQueue struct {
	Source   string `json:"source"` // srcState.key
	ID       string `json:"id"`
	Position int    `json:"position"`
}

type stateChunk struct {
	Index int      `json:"i"`
	Have  int64    `json:"have"`
	By    []string `json:"by,omitempty"`
	// The tail of a chunk split in the endgame (endgame.go) and not
	// joined to its prefix yet: from TailAt (relative to the chunk),
	// TailHave bytes written by TailBy. Have then ends at TailAt at most.
	TailAt   int64    `json:"tail_at,omitempty"`
	TailHave int64    `json:"tail_have,omitempty"`
	TailBy   []string `json:"tail_by,omitempty"`
}

const (
	stateVersion = 1
	// maxStateBytes bounds what we read back: 64 Ki chunks with a few
	// source keys each stay well under it.
	maxStateBytes = 16 << 20
)

// committed is the number of bytes the state claims.
func (st *stateFile) committed() int64 {
	var n int64
	for _, c := range st.Chunks {
		n += max(c.Have, 0) + max(c.TailHave, 0)
	}
	return n
}

// loadState reads a state file; any problem means "no usable state". A
// symbolic link is not followed (the error wraps errSymlink).
func loadState(path string) (*stateFile, error) {
	f, err := openNoFollow(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := smallfile.ReadOpen(f, maxStateBytes)
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return &st, nil
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

// askCommit asks the committer for a commit without waiting for it.
func (j *job) askCommit() {
	select {
	case j.commitReq <- struct{}{}:
	default: // one is pending already
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
		sc := stateChunk{Index: i, Have: c.have, By: slices.Clone(c.by)}
		if t := c.tail; t != nil && t.have > 0 {
			sc.TailAt, sc.TailHave, sc.TailBy = c.limit, t.have, slices.Clone(t.by)
		}
		if sc.Have > 0 || sc.TailHave > 0 {
			st.Chunks = append(st.Chunks, sc)
		}
	}
	if j.tree != nil && j.treeDIME == nil {
		j.treeDIME = j.tree.AppendDIME(nil)
	}
	st.Tree = j.treeDIME
	known := make(map[string]bool, len(j.srcs))
	for _, s := range j.srcs {
		known[s.key] = true
		if q := s.lastQueue; q.Position > 0 && q.ID != "" && !s.dropped {
			st.Queues = append(st.Queues, stateQueue{Source: s.key, ID: q.ID, Position: q.Position})
		}
	}
	for key, q := range j.savedQueues { // of sources not learned yet
		if !known[key] {
			st.Queues = append(st.Queues, stateQueue{Source: key, ID: q.ID, Position: q.Position})
		}
	}
	slices.SortFunc(st.Queues, func(a, b stateQueue) int { return strings.Compare(a.Source, b.Source) })
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
