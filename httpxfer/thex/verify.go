package thex

import "fmt"

// MismatchError says which chunk of the file did not hash to its node: the
// downloader fetches that range again from another source and blames the
// one that sent it.
type MismatchError struct {
	Offset, Length int64
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("bytes %d-%d do not match the tiger tree", e.Offset, e.Offset+e.Length-1)
}

// Is makes errors.Is(err, ErrMismatch) hold.
func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }

// Checker verifies the bytes of a file as they arrive, from a chunk
// boundary on, one chunk (a node of the tree's deepest level) at a time.
// It is an io.Writer: wrap the writer of a download with it. It costs what
// building the tree of those bytes costs.
type Checker struct {
	t        *Tree
	depth    int
	chunk    int64 // ChunkSize
	next     int   // index of the chunk being written
	verified int64 // offset up to which every byte has been checked
	m        *merkle
	err      error
}

// NewChecker returns a Checker for the bytes of t's file from offset on;
// offset must be a multiple of t.ChunkSize() inside the file (or 0).
func (t *Tree) NewChecker(offset int64) (*Checker, error) {
	chunk := t.ChunkSize()
	if offset < 0 || offset%chunk != 0 || offset > t.Size || (offset == t.Size && t.Size > 0) {
		return nil, fmt.Errorf("%w: offset %d in a file of %d bytes checked in chunks of %d", ErrRange, offset, t.Size, chunk)
	}
	c := &Checker{t: t, depth: t.Depth(), chunk: chunk, next: int(offset / chunk), verified: offset}
	c.m = newMerkle(FullDepth(t.Size) - c.depth)
	return c, nil
}

// Write hashes p; each time a chunk is complete (the last one when the end
// of the file is reached) it is compared with its node. At the first chunk
// that does not match, Write returns a *MismatchError (and keeps returning
// it); the bytes of that chunk must be thrown away. Bytes past the end of
// the file are refused with ErrRange.
func (c *Checker) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n := len(p)
	for len(p) > 0 {
		start := int64(c.next) * c.chunk
		end := min(start+c.chunk, c.t.Size)
		if start >= end {
			c.err = fmt.Errorf("%w: write past the end of a file of %d bytes", ErrRange, c.t.Size)
			return n - len(p), c.err
		}
		want := end - start - c.m.n
		k := int(min(int64(len(p)), want))
		c.m.write(p[:k])
		p = p[k:]
		if c.m.n == end-start {
			if err := c.check(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// check compares the chunk just completed with its node and starts the next.
func (c *Checker) check() error {
	start := int64(c.next) * c.chunk
	got := c.m.finish()
	if len(got) != 1 || got[0] != c.t.Levels[c.depth][c.next] {
		c.err = &MismatchError{Offset: start, Length: c.m.n}
		return c.err
	}
	c.verified = start + c.m.n
	c.next++
	c.m.n, c.m.fill, c.m.stack, c.m.out = 0, 0, c.m.stack[:0], c.m.out[:0]
	return nil
}

// Verified returns the offset up to which every byte written has matched
// the tree: the start offset plus the whole chunks checked. Bytes of a
// chunk still being written are not counted.
func (c *Checker) Verified() int64 { return c.verified }

// Verify checks data, the bytes of t's file from offset on, against the
// tree. offset must be on a chunk boundary (a multiple of ChunkSize); every
// whole chunk of data is checked, and a last partial chunk when it ends the
// file. It returns the bytes of data that were verified (whole chunks from
// the start) and, at the first chunk that does not match, a *MismatchError.
func (t *Tree) Verify(offset int64, data []byte) (int64, error) {
	c, err := t.NewChecker(offset)
	if err != nil {
		return 0, err
	}
	if t.Size == 0 && len(data) == 0 {
		// The empty file is one empty chunk: check it.
		got, _ := c.m.tail()
		if got != t.Root() {
			return 0, &MismatchError{Offset: 0, Length: 0}
		}
		return 0, nil
	}
	_, err = c.Write(data)
	return c.verified - offset, err
}

// VerifyNode reports whether the bytes a node covers hash to it: data must
// be all the bytes of node index at depth (see SegmentSize).
func (t *Tree) VerifyNode(depth, index int, data []byte) error {
	if depth < 0 || depth > t.Depth() || index < 0 || index >= len(t.Levels[depth]) {
		return fmt.Errorf("%w: no node %d at depth %d", ErrRange, index, depth)
	}
	seg := SegmentSize(t.Size, depth)
	start := int64(index) * seg
	if want := min(seg, t.Size-start); int64(len(data)) != want && !(t.Size == 0 && len(data) == 0) {
		return fmt.Errorf("%w: node %d at depth %d covers %d bytes, got %d", ErrRange, index, depth, want, len(data))
	}
	m := newMerkle(FullDepth(t.Size) - depth)
	m.write(data)
	if got := m.finish(); len(got) != 1 || got[0] != t.Levels[depth][index] {
		return &MismatchError{Offset: start, Length: int64(len(data))}
	}
	return nil
}
