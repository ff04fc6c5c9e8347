package httpxfer

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeSource is a scripted HTTP source for download tests. Requests are
// parsed by net/http; behave writes whatever reply the test wants.
type fakeSource struct {
	ln   net.Listener
	addr netip.AddrPort
	data []byte
	// behave answers request number n (counted over all connections) and
	// returns false to close the connection.
	behave func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool
	// gate, if set, holds every request until it is closed.
	gate chan struct{}
	// arrived is closed when the first request was read, first when it
	// was answered.
	arrived, first         chan struct{}
	arrivedOnce, firstOnce sync.Once
	// idle bounds the wait for each request; default 10 s.
	idle time.Duration

	mu     sync.Mutex
	gone   bool // killed: a pipe fake refuses connections, as a closed listener does
	nreq   int
	ranges []string
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// startFake starts a fake source; gate, if given, holds its requests.
func startFake(t testing.TB, data []byte, behave func(*fakeSource, net.Conn, *http.Request, int) bool, gate ...chan struct{}) *fakeSource {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fs := &fakeSource{
		ln: ln, addr: netip.MustParseAddrPort(ln.Addr().String()), data: data,
		behave: behave, arrived: make(chan struct{}), first: make(chan struct{}), conns: make(map[net.Conn]bool),
	}
	if len(gate) > 0 {
		fs.gate = gate[0]
	}
	fs.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			if !fs.accept(conn) {
				conn.Close()
			}
		}
	})
	t.Cleanup(fs.kill)
	return fs
}

func (fs *fakeSource) source() Source { return Source{Addr: fs.addr} }

// newPipeFake is a fake source without a listener, reached through a
// pipeDialer: nothing in it touches the network, so it runs inside a
// synctest bubble. addr only names it.
func newPipeFake(t testing.TB, addr string, data []byte, behave func(*fakeSource, net.Conn, *http.Request, int) bool, gate ...chan struct{}) *fakeSource {
	fs := &fakeSource{
		addr: netip.MustParseAddrPort(addr), data: data, behave: behave,
		arrived: make(chan struct{}), first: make(chan struct{}), conns: make(map[net.Conn]bool),
	}
	if len(gate) > 0 {
		fs.gate = gate[0]
	}
	t.Cleanup(fs.kill)
	return fs
}

// stop kills a pipe fake and waits for its goroutines: a synctest bubble
// must not end with them still sleeping.
func (fs *fakeSource) stop() {
	fs.kill()
	fs.wg.Wait()
}

// accept serves a connection to fs until it or fs ends; it refuses it
// once fs was killed.
func (fs *fakeSource) accept(conn net.Conn) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.gone {
		return false
	}
	fs.conns[conn] = true
	fs.wg.Go(func() { fs.serve(conn) })
	return true
}

func (fs *fakeSource) pipeAddr() netip.AddrPort { return fs.addr }

// pipeEnd is what a pipeDialer reaches: a pipe fake or a pipe Uploader
// (newPipeUploader). accept serves the server's end of a connection, or
// reports false to refuse it.
type pipeEnd interface {
	pipeAddr() netip.AddrPort
	accept(conn net.Conn) bool
}

// pipeDialer connects a Downloader to pipe ends over a bare net.Pipe (no
// send buffer: TestPipelineOverBarePipe says why that is fine): nothing
// touches the network, and time inside a synctest bubble is virtual, so
// that the rates the ranking and the endgame measure are the ones the
// ends are paced at.
type pipeDialer map[netip.AddrPort]pipeEnd

func newPipeDialer(ends ...pipeEnd) pipeDialer {
	d := pipeDialer{}
	for _, e := range ends {
		d[e.pipeAddr()] = e
	}
	return d
}

func (d pipeDialer) DialSource(ctx context.Context, s Source) (net.Conn, error) {
	e, ok := d[s.Addr]
	if !ok {
		return nil, fmt.Errorf("no pipe end at %s", s.Addr)
	}
	client, server := net.Pipe()
	if !e.accept(server) {
		client.Close()
		return nil, fmt.Errorf("pipe to %s: %w", s.Addr, syscall.ECONNREFUSED)
	}
	return client, nil
}

// kill closes the listener and every connection: the source is gone.
func (fs *fakeSource) kill() {
	if fs.ln != nil {
		fs.ln.Close()
	}
	fs.mu.Lock()
	fs.gone = true
	for c := range fs.conns {
		c.Close()
	}
	fs.mu.Unlock()
}

func (fs *fakeSource) requestRanges() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.ranges...)
}

func (fs *fakeSource) serve(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	idle := fs.idle
	if idle == 0 {
		idle = 10 * time.Second
	}
	for {
		_ = conn.SetDeadline(time.Now().Add(idle))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		fs.arrivedOnce.Do(func() { close(fs.arrived) })
		if fs.gate != nil {
			select {
			case <-fs.gate:
			case <-time.After(10 * time.Second):
			}
		}
		fs.mu.Lock()
		n := fs.nreq
		fs.nreq++
		fs.ranges = append(fs.ranges, req.Header.Get("Range"))
		fs.mu.Unlock()
		keep := fs.behave(fs, conn, req, n)
		fs.firstOnce.Do(func() { close(fs.first) })
		if !keep {
			return
		}
	}
}

// askedRange parses the "bytes=a-b" our downloader sends.
func askedRange(req *http.Request, size int) (int, int) {
	v := strings.TrimPrefix(req.Header.Get("Range"), "bytes=")
	a, b, _ := strings.Cut(v, "-")
	start, _ := strconv.Atoi(a)
	end, err := strconv.Atoi(b)
	if err != nil || end >= size {
		end = size - 1
	}
	return start, end
}

// reply206 writes a 206 for [start, end] with body (which may differ from
// the file, to lie) and extra header lines.
func reply206(conn net.Conn, size, start, end int, body []byte, extra ...string) {
	head := fmt.Sprintf("HTTP/1.1 206 Partial Content\r\nServer: fake\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n",
		start, end, size, end-start+1)
	for _, e := range extra {
		head += e + "\r\n"
	}
	_, _ = conn.Write(append([]byte(head+"\r\n"), body...))
}

// Behaviours.

func honest(fs *fakeSource, conn net.Conn, req *http.Request, _ int) bool {
	a, b := askedRange(req, len(fs.data))
	reply206(conn, len(fs.data), a, b, fs.data[a:b+1])
	return true
}

// corruptEvery flips the first byte of every body it sends.
func corruptEvery(fs *fakeSource, conn net.Conn, req *http.Request, _ int) bool {
	a, b := askedRange(req, len(fs.data))
	body := append([]byte(nil), fs.data[a:b+1]...)
	body[0] ^= 0xff
	reply206(conn, len(fs.data), a, b, body)
	return true
}

// sendHalfThenDie promises the range, sends half, and vanishes for good.
func sendHalfThenDie(fs *fakeSource, conn net.Conn, req *http.Request, _ int) bool {
	a, b := askedRange(req, len(fs.data))
	half := (b - a + 1) / 2
	head := fmt.Sprintf("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n\r\n", a, b, len(fs.data), b-a+1)
	_, _ = conn.Write(append([]byte(head), fs.data[a:a+half]...))
	fs.kill()
	return false
}

func busyFirst(retryAfter string) func(*fakeSource, net.Conn, *http.Request, int) bool {
	return func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		if n == 0 {
			_, _ = conn.Write([]byte("HTTP/1.1 503 Busy\r\nRetry-After: " + retryAfter + "\r\nContent-Length: 0\r\n\r\n"))
			return false
		}
		return honest(fs, conn, req, n)
	}
}

// tooManyBytes sends the body it promised plus junk after it.
func tooManyBytes(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
	honest(fs, conn, req, n)
	_, _ = conn.Write([]byte("JUNK JUNK JUNK\r\n\r\n"))
	return true
}

// widerRange answers with 100 bytes more than asked, as Content-Range says.
func widerRange(fs *fakeSource, conn net.Conn, req *http.Request, _ int) bool {
	a, b := askedRange(req, len(fs.data))
	b = min(b+100, len(fs.data)-1)
	reply206(conn, len(fs.data), a, b, fs.data[a:b+1])
	return true
}

// tooFewFirst cuts its first body in half and hangs up, then behaves.
func tooFewFirst(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
	if n == 0 {
		a, b := askedRange(req, len(fs.data))
		head := fmt.Sprintf("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n\r\n", a, b, len(fs.data), b-a+1)
		_, _ = conn.Write(append([]byte(head), fs.data[a:a+(b-a+1)/2]...))
		return false
	}
	return honest(fs, conn, req, n)
}

// gtkCap answers at most 512 KiB per request, like gtk-gnutella.
func gtkCap(fs *fakeSource, conn net.Conn, req *http.Request, _ int) bool {
	a, b := askedRange(req, len(fs.data))
	b = min(b, a+512<<10-1)
	reply206(conn, len(fs.data), a, b, fs.data[a:b+1])
	return true
}

func status(code int, reason string) func(*fakeSource, net.Conn, *http.Request, int) bool {
	return func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		_, _ = fmt.Fprintf(conn, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n\r\n", code, reason)
		return true
	}
}

// ignoresRange always sends the whole file with 200.
func ignoresRange(fs *fakeSource, conn net.Conn, req *http.Request, _ int) bool {
	head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(fs.data))
	_, _ = conn.Write(append([]byte(head), fs.data...))
	return true
}

// wrongSize claims the file is one byte longer.
func wrongSize(fs *fakeSource, conn net.Conn, req *http.Request, _ int) bool {
	a, b := askedRange(req, len(fs.data))
	head := fmt.Sprintf("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n\r\n", a, b, len(fs.data)+1, b-a+1)
	_, _ = conn.Write(append([]byte(head), fs.data[a:b+1]...))
	return true
}

// waitRecorder replaces DownloaderConfig.Wait: it records the asked delay
// and returns at once.
type waitRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (w *waitRecorder) wait(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.waits = append(w.waits, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waitRecorder) recorded() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.waits...)
}

// dirNames lists a directory's entries.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
