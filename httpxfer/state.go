package httpxfer

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
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
}

type stateChunk struct {
	Index int      `json:"i"`
	Have  int64    `json:"have"`
	By    []string `json:"by,omitempty"`
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
		n += max(c.Have, 0)
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
	b, err := io.ReadAll(io.LimitReader(f, maxStateBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxStateBytes {
		return nil, fmt.Errorf("httpxfer: state file %s over %d bytes", path, maxStateBytes)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("httpxfer: state file %s: %w", path, err)
	}
	return &st, nil
}
