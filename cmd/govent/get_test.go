package main

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

// A second get of a file already in the directory says so and leaves no
// "name (1)"; a failed get says why, per source.
func TestGetAlreadyCompleteAndReasons(t *testing.T) {
	share := t.TempDir()
	body := bytes.Repeat([]byte("come together "), 20000)
	require.NoError(t, os.WriteFile(filepath.Join(share, "come together.ogg"), body, 0o644))
	s, err := servent.New(servent.Config{Listen: "127.0.0.1:0", ShareDir: share, HashBeforeStart: true})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	defer s.Close()
	urn := s.Library().All()[0].SHA1.String()
	src := s.Addr().String()

	dir := t.TempDir()
	code, out, errOut := runCLI(t, "", "get", "--source", src, "--name", "song.ogg", "--dir", dir, urn)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	code, out, errOut = runCLI(t, "", "get", "--source", src, "--name", "song.ogg", "--dir", dir, urn)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "already complete, not downloaded again: "+filepath.Join(dir, "song.ogg"))
	assert.NotContains(t, out, "progress: ")
	assert.NotContains(t, out, "sources, best first", "no source was asked for a byte: no list of 0 B received")
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, ents, 1, "no song (1).ogg")

	// A --dir that does not exist yet is made, as search --download makes
	// it (get used to fail opening the .part in it).
	fresh := filepath.Join(t.TempDir(), "new", "songs")
	code, out, errOut = runCLI(t, "", "get", "--source", src, "--name", "song.ogg", "--dir", fresh, urn)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.FileExists(t, filepath.Join(fresh, "song.ogg"))

	code, _, errOut = runCLI(t, "", "get", "--source", src, "--name", "x.bin", "--dir", t.TempDir(),
		"urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no usable source left: "+src+": HEAD: 404 Not Found")

	// A failed get removes the --dir it made, parents included, but not
	// the directory that was there before.
	had := t.TempDir()
	code, _, errOut = runCLI(t, "", "get", "--source", src, "--name", "x.bin", "--dir", filepath.Join(had, "new", "dd2"),
		"urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	assert.Equal(t, 1, code, errOut)
	assert.NoDirExists(t, filepath.Join(had, "new"))
	assert.DirExists(t, had)
}

// makeDir's unmake removes only what it made, only on failure, and never
// a directory that holds anything (a .part with data).
func TestMakeDirUnmake(t *testing.T) {
	had := t.TempDir()
	unmake, err := makeDir(had)
	require.NoError(t, err)
	unmake(errors.New("failed"))
	assert.DirExists(t, had, "there before")

	dir := filepath.Join(had, "a", "b")
	unmake, err = makeDir(dir)
	require.NoError(t, err)
	unmake(nil)
	assert.DirExists(t, dir, "the get succeeded")

	dir = filepath.Join(had, "c", "d")
	unmake, err = makeDir(dir)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.part"), []byte("data"), 0o644))
	unmake(errors.New("interrupted"))
	assert.FileExists(t, filepath.Join(dir, "x.part"), "a .part with data stays")
}

// oneFile is a Library sharing one file.
type oneFile struct{ f httpxfer.File }

func (o oneFile) ByIndex(i uint32) (httpxfer.File, bool)   { return o.f, i == o.f.Index }
func (o oneFile) BySHA1(d wire.SHA1) (httpxfer.File, bool) { return o.f, d == o.f.SHA1 }
func (o oneFile) Tree(wire.TTH) (*thex.Tree, bool)         { return nil, false }

// oneSlotTaken serves body as name from an uploader of cfg with one
// upload slot, which holder takes.
func oneSlotTaken(t *testing.T, name string, body []byte, cfg httpxfer.UploaderConfig) (httpxfer.File, *httpxfer.Uploader, net.Listener, net.Conn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, body, 0o644))
	file := httpxfer.File{Index: 1, Name: name, Size: int64(len(body)), SHA1: sha1.Sum(body), Path: path}
	cfg.Library, cfg.MaxUploads = oneFile{file}, 1
	u := httpxfer.NewUploader(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = u.ServeConn(t.Context(), conn, nil); conn.Close() }()
		}
	}()
	holder, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { holder.Close() })
	_, err = holder.Write([]byte("GET /get/1/" + name + " HTTP/1.1\r\nRange: bytes=0-0\r\n\r\n"))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(holder), nil)
	require.NoError(t, err)
	require.Equal(t, 206, resp.StatusCode)
	return file, u, ln, holder
}

// A source with its one slot taken queues get, which says so, keeps its
// place by polling and downloads when the slot frees.
func TestGetQueued(t *testing.T) {
	body := bytes.Repeat([]byte("something "), 5000)
	// Position 1 is told to poll after 1 s (QueuePoll); get polls after
	// 10 s, the floor it keeps whatever a source says (httpxfer's minPoll).
	file, u, ln, holder := oneSlotTaken(t, "something.ogg", body, httpxfer.UploaderConfig{QueuePoll: time.Second})

	go func() {
		for end := time.Now().Add(time.Minute); u.QueueLength() == 0 && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		holder.Close() // the slot frees while get waits its turn
	}()
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "", "get", "--source", ln.Addr().String(), "--name", "song.ogg", "--dir", dir, file.SHA1.String())
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "queued at "+ln.Addr().String()+": position 1 of 1, next poll in 10s\n")
	// The source, ranked, with what it delivered: it gave a slot in the end.
	assert.Regexp(t, `sources, best first \(free slot before queue place, measured throughput else advertised speed, direct before Push\):\n`+
		`  1\. `+regexp.QuoteMeta(ln.Addr().String())+`: [0-9.]+ [KMG]?i?B/s measured, 48\.8 KiB received\n`, out)
	got, err := os.ReadFile(filepath.Join(dir, "song.ogg"))
	require.NoError(t, err)
	assert.Equal(t, body, got)
}

// Ctrl-C while queued, before any byte arrived, says the queue place is
// kept (the .part's state holds it, and the same command presents it
// again), not that nothing is kept.
func TestGetInterruptedWhileQueued(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	bin := buildGovent(t)
	file, _, ln, _ := oneSlotTaken(t, "song.ogg", bytes.Repeat([]byte("queued song "), 5000), httpxfer.UploaderConfig{})

	dir := t.TempDir()
	g := startGet(t, bin, func(line string) bool { return strings.HasPrefix(line, "queued at ") },
		"get", file.SHA1.String(), "--source", ln.Addr().String(), "--dir", dir, "--name", "song.ogg")
	g.waitSeen(t, "get was not queued")
	g.interrupt(t)
	stderr := &g.stderr
	state := filepath.Join(dir, "song.ogg.part.state")
	assert.Equal(t, "govent: interrupted while queued at "+ln.Addr().String()+": "+state+" keeps the queue place, and the same command resumes it\n", stderr.String())
	st, err := os.ReadFile(state)
	require.NoError(t, err)
	assert.Contains(t, string(st), `"position":1`)
}

// getProc is a real govent process whose stdout is watched for a line.
type getProc struct {
	cmd    *exec.Cmd
	stderr syncBuffer
	seen   chan struct{} // closed at the first line match took
	exited chan error
}

func startGet(t *testing.T, bin string, match func(line string) bool, args ...string) *getProc {
	t.Helper()
	g := &getProc{cmd: exec.Command(bin, args...), seen: make(chan struct{}), exited: make(chan error, 1)}
	g.cmd.Env = testEnviron()
	g.cmd.Stderr = &g.stderr
	stdout, err := g.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, g.cmd.Start())
	t.Cleanup(func() { _ = g.cmd.Process.Kill() })
	go func() {
		sc, seen := bufio.NewScanner(stdout), false
		for sc.Scan() {
			if !seen && match(sc.Text()) {
				seen = true
				close(g.seen)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		g.exited <- g.cmd.Wait()
	}()
	return g
}

// waitSeen waits for the line, failing with missing after 20 s.
func (g *getProc) waitSeen(t *testing.T, missing string) {
	t.Helper()
	select {
	case <-g.seen:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s\n%s", missing, g.stderr.String())
	}
}

// interrupt sends SIGINT and returns how the process exited: not 0.
func (g *getProc) interrupt(t *testing.T) *exec.ExitError {
	t.Helper()
	require.NoError(t, g.cmd.Process.Signal(syscall.SIGINT))
	var err error
	select {
	case err = <-g.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("the process did not stop on SIGINT\n%s", g.stderr.String())
	}
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, g.stderr.String())
	return exit
}

// stallConn passes its first limit bytes written, then holds every
// further write until the connection is closed: a source that stalls in
// mid-file.
type stallConn struct {
	net.Conn
	left   *atomic.Int64
	closed chan struct{}
	once   sync.Once
}

func (c *stallConn) Write(p []byte) (int, error) {
	if c.left.Add(-int64(len(p))) < 0 {
		<-c.closed
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

func (c *stallConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// Ctrl-C in the middle of a get says what is kept and how to go on, not
// "context canceled"; the same command then resumes from the .part and
// the file verifies. (The message used to be httpxfer's error for a
// cancelled context.)
func TestGetInterruptedThenResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	bin := buildGovent(t)
	body := bytes.Repeat([]byte("interrupted song "), 200000) // 3.4 MB
	var left atomic.Int64
	left.Store(1 << 20) // then the source stalls
	file, ln := serveSong(t, body, func(conn net.Conn) net.Conn {
		return &stallConn{Conn: conn, left: &left, closed: make(chan struct{})}
	})

	dir := t.TempDir()
	args := []string{"get", file.SHA1.String(), "--source", ln.Addr().String(), "--dir", dir, "--name", "song.ogg"}
	// Interrupt once the source has stalled and get has reported bytes
	// written: what the source sent can sit in the socket buffers for a
	// while on a loaded machine, and an interrupt before anything arrived
	// would leave nothing to resume.
	g := startGet(t, bin, func(line string) bool {
		return strings.HasPrefix(line, "progress: ") && !strings.HasPrefix(line, "progress: 0 B ")
	}, args...)
	stderr := &g.stderr
	for deadline := time.Now().Add(20 * time.Second); left.Load() > 0; time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the source is not stalled yet\n%s", stderr.String())
	}
	g.waitSeen(t, "get reported no bytes written")
	exit := g.interrupt(t)
	assert.Equal(t, 1, exit.ExitCode())
	part := filepath.Join(dir, "song.ogg.part")
	assert.Regexp(t, `^govent: interrupted at [0-9.]+ [KM]iB of 3\.2 MiB: `+regexp.QuoteMeta(part)+` keeps what arrived, and the same command resumes it\n$`, stderr.String())
	require.FileExists(t, part)

	left.Store(1 << 40)
	code, out, errOut := runCLI(t, "", args...)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Regexp(t, `(?m)^resuming at [0-9.]+ [KM]iB$`, out)
	got, err := os.ReadFile(filepath.Join(dir, "song.ogg"))
	require.NoError(t, err)
	assert.Equal(t, body, got)
}

// A --size that the source contradicts is said as a wrong --size, not as
// the source's fault, and the failed start leaves no empty .part behind.
func TestGetWrongSize(t *testing.T) {
	body := strings.Repeat("the right size ", 2000)
	peer := shareFiles(t, map[string]string{"sized.txt": body})
	urn := peer.Library().All()[0].SHA1.String()
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "", "get", urn, "--source", peer.Addr().String(), "--dir", dir, "--size", "123")
	assert.Equal(t, 1, code, out)
	assert.Equal(t, fmt.Sprintf("govent: sources say the file has %d bytes, not --size 123\n", len(body)), errOut)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "no empty .part, no .part.state")
}

// get | head -1 stops the download as Ctrl-C does: the .part is kept, the
// line that says so reaches standard error, and it exits 1. Before, the
// next progress line killed it by SIGPIPE (status 141) without that line.
func TestGetOutputClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	bin := buildGovent(t)
	body := bytes.Repeat([]byte("closed-pipe song "), 200000) // 3.4 MB
	// 16 KiB every 20 ms: the file takes 4 s, a progress line comes at
	// every tenth of it.
	file, ln := serveSong(t, body, func(conn net.Conn) net.Conn { return dripConn{conn} })
	dir := t.TempDir()
	cmd := exec.Command(bin, "get", file.SHA1.String(), "--source", ln.Addr().String(), "--dir", dir, "--name", "song.ogg")
	cmd.Env = testEnviron()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	timer := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	first, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	assert.Contains(t, first, "progress: ")
	require.NoError(t, stdout.Close())
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "stderr:\n%s", stderr.String())
	ws := exit.Sys().(syscall.WaitStatus)
	require.False(t, ws.Signaled(), "killed by %v; stderr:\n%s", ws.Signal(), stderr.String())
	assert.Equal(t, 1, exit.ExitCode())
	part := filepath.Join(dir, "song.ogg.part")
	assert.Regexp(t, `^govent: interrupted (at [0-9.]+ [KM]iB of 3\.2 MiB: |before any new data arrived: )`+regexp.QuoteMeta(part)+` keeps what`, stderr.String())
	require.FileExists(t, part)
	require.FileExists(t, part+".state")
}

// serveSong serves body as song.ogg on a loopback port, each connection
// wrapped by wrap (a source that stalls, or drips).
func serveSong(t *testing.T, body []byte, wrap func(net.Conn) net.Conn) (httpxfer.File, net.Listener) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "song.ogg")
	require.NoError(t, os.WriteFile(path, body, 0o644))
	file := httpxfer.File{Index: 1, Name: "song.ogg", Size: int64(len(body)), SHA1: sha1.Sum(body), Path: path}
	u := httpxfer.NewUploader(httpxfer.UploaderConfig{Library: oneFile{file}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c := wrap(conn)
			go func() { _ = u.ServeConn(t.Context(), c, nil); c.Close() }()
		}
	}()
	return file, ln
}

// dripConn writes 16 KiB at a time, 20 ms apart: a slow source.
type dripConn struct{ net.Conn }

func (c dripConn) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 16<<10)
		time.Sleep(20 * time.Millisecond)
		m, err := c.Conn.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// TestGetSizeHelpSaysZeroIsUnknown: --size 0 is allowed (sizeRule) and
// means the size is not known, as when it is not given: the help says so.
func TestGetSizeHelpSaysZeroIsUnknown(t *testing.T) {
	code, out, _ := runCLI(t, "", "get", "--help")
	require.Equal(t, 0, code)
	line := regexp.MustCompile(`(?m)^\s*--size int\s.*(?:\n\s{20,}\S.*)*`).FindString(out)
	require.NotEmpty(t, line, out)
	assert.Regexp(t, `\b0\b[^\n]*unknown|unknown[^\n]*\b0\b`, strings.Join(strings.Fields(line), " "), "the --size help: %q", line)
}
