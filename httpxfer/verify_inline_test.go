package httpxfer

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// treeJob is a download of data in chunks of two tree segments, its tree
// known, as a download has it once the tree arrived.
func treeJob(t *testing.T, data []byte) (*job, int64) {
	t.Helper()
	tr := treeOf(data)
	seg := tr.ChunkSize()
	j := &job{cfg: &DownloaderConfig{}, size: int64(len(data)), chunkSize: 2 * seg, wake: make(chan struct{}), tree: tr}
	j.chunks = make([]chunk, (j.size+j.chunkSize-1)/j.chunkSize)
	n := len(tr.Levels[tr.Depth()])
	require.Greater(t, n, 4)
	j.segOK, j.segBusy, j.segStale = make([]bool, n), make([]bool, n), make([]bool, n)
	j.addSources(Source{Addr: netip.MustParseAddrPort("10.0.0.1:6346")})
	return j, seg
}

// receive passes body, the bytes of work w from off on, through k in
// reads of step bytes, as readBody does: claim, hash, (write,) credit.
func receive(k *sink, body []byte, off int64, step int64) {
	for len(body) > 0 {
		n := k.claim(min(step, int64(len(body))))
		if n == 0 {
			return
		}
		k.hash(body[:n], off)
		k.credit(n)
		body, off = body[n:], off+n
	}
}

func segsOK(j *job) []bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]bool(nil), j.segOK...)
}

// A worker that writes whole segments checks them as they pass: each is
// marked verified once its last byte is credited, the last, short one of
// the file included, and no verifier has any left to read back.
func TestInlineCheckMarksSegments(t *testing.T) {
	data := randomData(1<<20 + 5000)
	j, seg := treeJob(t, data)
	k := &sink{j: j, w: 0, s: j.srcs[0]}
	receive(k, data[:seg-1], 0, 50000)
	assert.False(t, segsOK(j)[0], "marked before its last byte")
	receive(k, data[seg-1:seg+10], seg-1, 50000)
	assert.Equal(t, []bool{true, false}, segsOK(j)[:2])
	receive(k, data[seg+10:2*seg], seg+10, 50000)
	assert.Equal(t, []bool{true, true, false}, segsOK(j)[:3])
	for ci := 1; ci < len(j.chunks); ci++ {
		off := int64(ci) * j.chunkSize
		receive(&sink{j: j, w: ci, s: j.srcs[0]}, data[off:off+j.chunkLen(ci)], off, 64<<10)
	}
	assert.NotContains(t, segsOK(j), false)
	j.mu.Lock()
	defer j.mu.Unlock()
	assert.Equal(t, -1, j.nextSegLocked())
}

// What the check did not see whole is left to the verifiers: a segment
// begun before (a resumed chunk), one with a byte that does not match and
// the rest of that body, and one whose chunk was thrown away meanwhile.
func TestInlineCheckLeavesTheRestToVerifiers(t *testing.T) {
	t.Run("resumed mid-segment", func(t *testing.T) {
		data := randomData(1<<20 + 5000)
		j, seg := treeJob(t, data)
		j.chunks[0].have = 1000
		receive(&sink{j: j, w: 0, s: j.srcs[0]}, data[1000:2*seg], 1000, 50000)
		assert.Equal(t, []bool{false, true}, segsOK(j)[:2])
	})
	t.Run("a lie", func(t *testing.T) {
		data := randomData(1<<20 + 5000)
		j, seg := treeJob(t, data)
		bad := append([]byte(nil), data...)
		bad[seg+7] ^= 1
		k := &sink{j: j, w: 0, s: j.srcs[0]}
		receive(k, bad[:2*seg], 0, 50000)
		receive(&sink{j: j, w: 1, s: j.srcs[0]}, bad[2*seg:4*seg], 2*seg, 50000)
		assert.Equal(t, []bool{true, false, true, true}, segsOK(j)[:4])
		j.mu.Lock()
		defer j.mu.Unlock()
		assert.Equal(t, 1, j.nextSegLocked(), "the verifier meets the lie")
	})
	t.Run("thrown away meanwhile", func(t *testing.T) {
		data := randomData(1<<20 + 5000)
		j, seg := treeJob(t, data)
		k := &sink{j: j, w: 0, s: j.srcs[0]}
		receive(k, data[:seg/2], 0, 50000)
		j.mu.Lock()
		j.resetChunkLocked(0)
		j.mu.Unlock()
		k.hash(data[seg/2:2*seg], seg/2) // its writer goes on with its read
		k.credit(2*seg - seg/2)
		assert.Equal(t, []bool{false, false}, segsOK(j)[:2], "a check of bytes thrown away counted")
	})
}

// A body read for checking that cannot be written is the disk's fault,
// not the source's: the download stops, the source is not counted
// against.
func TestReadBodyWriteFailureIsFatal(t *testing.T) {
	data := randomData(1<<20 + 5000)
	j, _ := treeJob(t, data)
	path := filepath.Join(t.TempDir(), "x.part")
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	ro, err := os.Open(path)
	require.NoError(t, err)
	defer ro.Close()
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		_, _ = server.Write(data[:64<<10])
		server.Close()
	}()
	c := newClientConn(client)
	var rate float64
	g := &stallGuard{ctx: t.Context(), conn: client, floor: time.Minute, ceiling: time.Minute, rate: &rate}
	_, err = c.copyBody(ro, 0, 64<<10, g, &sink{j: j, w: 0, s: j.srcs[0]})
	var se *sourceError
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, actFatal, se.action, "%v", err)
}
