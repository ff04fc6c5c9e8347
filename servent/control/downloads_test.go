package control

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/govent/govent/httpxfer/smallfile"
)

func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func downloadState(t *testing.T, d *daemon, id string) Download {
	t.Helper()
	tr, err := d.client.Transfers(context.Background())
	require.NoError(t, err)
	for _, dl := range tr.Downloads {
		if dl.ID == id {
			return dl
		}
	}
	t.Fatalf("download %s not in %v", id, tr.Downloads)
	return Download{}
}

// TestDownloadPauseResumeCancel drives a download the daemon owns through
// the API: it runs and shows progress, pauses with its .part kept,
// resumes, and a second one is cancelled, its .part removed.
func TestDownloadPauseResumeCancel(t *testing.T) {
	ctx := context.Background()
	body := randomBytes(256<<10, 7)
	src := newGatedSource(t, body, 64<<10)
	d := startDaemon(t, testConfig(t))
	req := DownloadRequest{URN: urnOf(body), Name: "song.ogg", Size: int64(len(body)), Sources: []SourceRecord{{Addr: src.addr()}}}
	dl, err := d.client.AddDownload(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, "song.ogg", dl.Name)
	_, err = d.client.AddDownload(ctx, req)
	assert.ErrorContains(t, err, "already queued", "one download per name")
	assert.Equal(t, 1, strings.Count(err.Error(), "control:"), "%v", err)

	waitFor(t, "progress", func() bool { x := downloadState(t, d, dl.ID); return x.State == StateRunning && x.Done > 0 })
	paused, err := d.client.PauseDownload(ctx, dl.ID)
	require.NoError(t, err)
	assert.Equal(t, StatePaused, paused.State)
	part := filepath.Join(d.data, "downloads", "song.ogg.part")
	assert.FileExists(t, part, "a paused download keeps its .part")
	again, err := d.client.PauseDownload(ctx, dl.ID)
	assert.ErrorIs(t, err, ErrBadState, "a paused download cannot pause again")
	assert.Equal(t, fmt.Sprintf("%v: %s is paused", ErrBadState, dl.ID), err.Error())
	assert.Equal(t, StatePaused, again.State, "the client learns the state it is in")

	src.open()
	_, err = d.client.ResumeDownload(ctx, dl.ID)
	require.NoError(t, err)
	waitFor(t, "the download done", func() bool { return downloadState(t, d, dl.ID).State == StateDone })
	fin := downloadState(t, d, dl.ID)
	got, err := os.ReadFile(fin.Path)
	require.NoError(t, err)
	assert.Equal(t, body, got)
	assert.Equal(t, int64(len(body)), fin.Done)
	done, err := d.client.PauseDownload(ctx, dl.ID)
	assert.ErrorIs(t, err, ErrBadState)
	assert.Equal(t, StateDone, done.State)

	// A second download, cancelled while it runs: nothing is left of it.
	body2 := randomBytes(256<<10, 8)
	src2 := newGatedSource(t, body2, 64<<10)
	dl2, err := d.client.AddDownload(ctx, DownloadRequest{URN: urnOf(body2), Name: "other.bin", Size: int64(len(body2)), Sources: []SourceRecord{{Addr: src2.addr()}}})
	require.NoError(t, err)
	waitFor(t, "progress", func() bool { return downloadState(t, d, dl2.ID).Done > 0 })
	gone, err := d.client.CancelDownload(ctx, dl2.ID)
	require.NoError(t, err)
	assert.Equal(t, StateCancelled, gone.State)
	assert.NoFileExists(t, filepath.Join(d.data, "downloads", "other.bin.part"))
	assert.NoFileExists(t, filepath.Join(d.data, "downloads", "other.bin.part.state"))
	tr, err := d.client.Transfers(ctx)
	require.NoError(t, err)
	assert.Len(t, tr.Downloads, 1)
	_, err = d.client.CancelDownload(ctx, dl2.ID)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, fmt.Sprintf("%v %q", ErrNotFound, dl2.ID), err.Error())
	_, err = d.client.PauseDownload(ctx, "no/such?id")
	assert.ErrorIs(t, err, ErrNotFound, "an ID is one path segment, however it reads")
}

// TestDownloadResumesAfterRestart: a download running when the daemon
// stops is running again after it starts with the same data directory,
// from its .part, and finishes; a paused one stays paused.
func TestDownloadResumesAfterRestart(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	body := randomBytes(512<<10, 9)
	src := newGatedSource(t, body, 128<<10)
	cfg := testConfig(t)
	cfg.DataDir = data

	s1 := startServent(t, cfg)
	q1, err := NewQueue(s1, data, 0, cfg.Logger)
	require.NoError(t, err)
	q1.Start(ctx)
	run, err := q1.Add(DownloadRequest{URN: urnOf(body), Name: "big.bin", Size: int64(len(body)), Sources: []SourceRecord{{Addr: src.addr()}}})
	require.NoError(t, err)
	held, err := q1.Add(DownloadRequest{URN: urnOf(body), Name: "held.bin", Size: int64(len(body)), Sources: []SourceRecord{{Addr: src.addr()}}})
	require.NoError(t, err)
	_, err = q1.Pause(held.ID)
	require.NoError(t, err)
	waitFor(t, "progress", func() bool { return q1.List()[0].Done >= 128<<10 })
	q1.Close()
	s1.Close()
	getsBefore := src.getCount()

	s2 := startServent(t, cfg)
	core, logs := observer.New(zapcore.InfoLevel)
	q2, err := NewQueue(s2, data, 0, zap.New(core))
	require.NoError(t, err)
	list := q2.List()
	require.Len(t, list, 2)
	assert.Equal(t, run.ID, list[0].ID)
	assert.Equal(t, StateQueued, list[0].State, "the cut download is queued again")
	assert.Equal(t, StatePaused, list[1].State)
	src.open()
	q2.Start(ctx)
	t.Cleanup(q2.Close)
	waitFor(t, "the download done", func() bool { return q2.List()[0].State == StateDone })
	got, err := os.ReadFile(q2.List()[0].Path)
	require.NoError(t, err)
	assert.Equal(t, body, got)
	assert.Greater(t, src.getCount(), getsBefore, "fetched again after the restart")
	assert.Equal(t, StatePaused, q2.List()[1].State, "a paused download waits for the user")
	// The log says where the cut download picked up, once.
	resumed := logs.FilterMessage("download resumed after restart").All()
	require.Len(t, resumed, 1, "%v", logs.All())
	f := resumed[0].ContextMap()
	assert.Equal(t, "big.bin", f["name"])
	assert.GreaterOrEqual(t, f["at"], int64(128<<10))
	assert.Less(t, f["at"], int64(len(body)))
	assert.Equal(t, int64(len(body)), f["of"])
}

// TestTransfersListUploads: a body being sent to a client that stopped
// reading shows in /v1/transfers with its progress.
func TestTransfersListUploads(t *testing.T) {
	cfg := testConfig(t)
	cfg.ShareDir = t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(cfg.ShareDir, "big.bin"), bytes.Repeat([]byte("upload body "), 1<<20), 0o644))
	d := startDaemon(t, cfg)
	f := d.s.Library().All()[0]
	nc, err := net.Dial("tcp", d.s.Addr().String())
	require.NoError(t, err)
	defer nc.Close()
	_, err = fmt.Fprintf(nc, "GET /get/%d/big.bin HTTP/1.1\r\nHost: x\r\n\r\n", f.Index)
	require.NoError(t, err)
	var up Upload
	waitFor(t, "the upload listed", func() bool {
		tr, err := d.client.Transfers(context.Background())
		require.NoError(t, err)
		if len(tr.Uploads) != 1 {
			return false
		}
		up = tr.Uploads[0]
		return up.Sent > 0 && tr.UploadsActive == 1
	})
	assert.Equal(t, "big.bin", up.Name)
	assert.Equal(t, int64(12<<20), up.Length)
	assert.Less(t, up.Sent, up.Length)
	assert.Equal(t, nc.LocalAddr().String(), up.Remote)
}

// TestDownloadShowsQueuePlace: a source that queues us (PARQ) shows our
// place in /v1/transfers while the download waits.
func TestDownloadShowsQueuePlace(t *testing.T) {
	addr := answerEach(t, func() string {
		return "HTTP/1.1 503 Queued\r\nRetry-After: 30\r\nX-Queued: ID=ab12; position=3; length=12; lifetime=90\r\nContent-Length: 0\r\n\r\n"
	})
	d := startDaemon(t, testConfig(t))
	dl, err := d.client.AddDownload(context.Background(), DownloadRequest{URN: urnOf([]byte("q")), Name: "q.bin", Size: 5000,
		Sources: []SourceRecord{{Addr: addr}}})
	require.NoError(t, err)
	var got Download
	waitFor(t, "the queue place", func() bool { got = downloadState(t, d, dl.ID); return len(got.Queued) == 1 })
	assert.Equal(t, 3, got.Queued[0].Position)
	assert.Equal(t, 12, got.Queued[0].Length)
	assert.Equal(t, addr, got.Queued[0].Source)
	assert.Equal(t, StateRunning, got.State)
	paused, err := d.client.PauseDownload(context.Background(), dl.ID)
	require.NoError(t, err)
	assert.Empty(t, paused.Queued, "a place is forgotten once the download stops")
}

// TestDownloadResumeFailed: a download that failed (its only source
// answered 404) runs again on Resume, and finishes once the source has
// the file.
func TestDownloadResumeFailed(t *testing.T) {
	ctx := context.Background()
	body := randomBytes(1000, 9)
	var has atomic.Bool
	addr := answerEach(t, func() string {
		if has.Load() {
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
		return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
	})
	d := startDaemon(t, testConfig(t))
	dl, err := d.client.AddDownload(ctx, DownloadRequest{URN: urnOf(body), Name: "late.bin", Size: int64(len(body)), Sources: []SourceRecord{{Addr: addr}}})
	require.NoError(t, err)
	waitFor(t, "the download failed", func() bool { return downloadState(t, d, dl.ID).State == StateFailed })
	assert.Contains(t, downloadState(t, d, dl.ID).Error, "404 Not Found")

	has.Store(true)
	again, err := d.client.ResumeDownload(ctx, dl.ID)
	require.NoError(t, err)
	assert.Contains(t, []string{StateQueued, StateRunning}, again.State)
	assert.Empty(t, again.Error)
	waitFor(t, "the download done", func() bool { return downloadState(t, d, dl.ID).State == StateDone })
	got, err := os.ReadFile(downloadState(t, d, dl.ID).Path)
	require.NoError(t, err)
	assert.Equal(t, body, got)
}

// answerEach listens on loopback and answers every request on every
// connection with what reply returns then; it returns the address.
func answerEach(t *testing.T, reply func() string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if strings.TrimSpace(line) == "" {
						fmt.Fprint(nc, reply())
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestQueueFileBounded: a download queue file past maxQueueFile (garbage,
// or /dev/zero linked in its place) is refused, not read into memory.
func TestQueueFileBounded(t *testing.T) {
	data := t.TempDir()
	f, err := os.Create(filepath.Join(data, QueueFile))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(maxQueueFile+1)) // sparse: no disk used
	require.NoError(t, f.Close())
	_, err = NewQueue(nil, data, 0, zap.NewNop())
	require.ErrorIs(t, err, smallfile.ErrTooLarge)
}
