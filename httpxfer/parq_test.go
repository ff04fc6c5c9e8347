package httpxfer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

func TestParseQueued(t *testing.T) {
	tests := []struct {
		name string
		head string
		want QueueStatus
		ok   bool
	}{
		{"gtk-gnutella", "Retry-After: 10\r\nX-Queued: ID=d4e1b623a2b22bb0039169f494cc125f; position=1; lifetime=10; length=1; ETA=0",
			QueueStatus{ID: "d4e1b623a2b22bb0039169f494cc125f", Position: 1, Length: 1, PollMin: 10 * time.Second, PollMax: 10 * time.Second}, true},
		{"spec order, commas, case", "Retry-After: 600\r\nX-Queued: position=1503, length=1840, ETA=4200, lifetime=3600, id=6a07",
			QueueStatus{ID: "6a07", Position: 1503, Length: 1840, PollMin: 600 * time.Second, PollMax: 3600 * time.Second}, true},
		{"no lifetime: Retry-After plus a minute", "Retry-After: 30\r\nX-Queued: position=2; ID=ab",
			QueueStatus{ID: "ab", Position: 2, PollMin: 30 * time.Second, PollMax: 90 * time.Second}, true},
		{"lifetime below Retry-After", "Retry-After: 400\r\nX-Queued: position=2; ID=ab; lifetime=5",
			QueueStatus{ID: "ab", Position: 2, PollMin: 400 * time.Second, PollMax: 400 * time.Second}, true},
		{"Active Queueing", "X-Queue: position=2,length=5,limit=4,pollMin=45,pollMax=120",
			QueueStatus{Position: 2, Length: 5, PollMin: 45 * time.Second, PollMax: 120 * time.Second}, true},
		{"a version is not a place", "X-Queue: 1.0", QueueStatus{}, false},
		{"no ID", "X-Queued: position=3", QueueStatus{}, false},
		{"no position", "X-Queued: ID=ab", QueueStatus{}, false},
		{"position 0", "X-Queued: ID=ab; position=0", QueueStatus{}, false},
		{"ID that would end a header", "X-Queued: ID=ab\rX-Evil: 1; position=1", QueueStatus{}, false},
		{"ID too long", "X-Queued: position=1; ID=" + strings.Repeat("a", 65), QueueStatus{}, false},
		{"huge position", "X-Queued: position=99999999999; ID=ab", QueueStatus{}, false},
		{"nothing", "Retry-After: 10", QueueStatus{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &wire.Handshake{}
			for _, line := range strings.Split(tt.head, "\r\n") {
				k, v, _ := strings.Cut(line, ": ")
				h.Add(k, v)
			}
			got, ok := parseQueued(h)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

// queueLab is an Uploader in a synctest bubble, with clients on pipes
// from addresses of the test's choosing.
type queueLab struct {
	t       *testing.T
	u       *Uploader
	ctx     context.Context
	file    File
	data    []byte
	clients []*pipeClient
}

func queueTest(t *testing.T, cfg UploaderConfig, f func(l *queueLab)) {
	synctest.Test(t, func(t *testing.T) {
		lib := &memLibrary{}
		file, data := shareFile(t, t.TempDir(), 1, "f.bin", 64<<10)
		lib.add(file)
		cfg.Library = lib
		ctx, cancel := context.WithCancel(context.Background())
		l := &queueLab{t: t, u: NewUploader(cfg), ctx: ctx, file: file, data: data}
		defer func() {
			cancel()
			for _, c := range l.clients {
				c.conn.Close()
				<-c.served
			}
		}()
		f(l)
	})
}

func (l *queueLab) dial(addr string) *pipeClient {
	c := dialPipe(l.t, l.ctx, l.u, addr)
	l.clients = append(l.clients, c)
	return c
}

// hold takes a slot from addr and keeps it while the connection is open.
func (l *queueLab) hold(addr string) *pipeClient {
	c := l.dial(addr)
	resp := c.get(l.t, "/get/1/f.bin", "0-0")
	_, _ = io.Copy(io.Discard, resp.Body)
	require.Equal(l.t, 206, resp.StatusCode)
	return c
}

// poll sends a PARQ GET (with the ID, when not empty) and reads the reply.
func (c *pipeClient) poll(t *testing.T, id string) *http.Response {
	t.Helper()
	req := "GET /get/1/f.bin HTTP/1.1\r\nHost: x\r\nX-Queue: 1.1\r\n"
	if id != "" {
		req += "X-Queued: position=1; ID=" + id + "\r\n"
	}
	_, err := io.WriteString(c.conn, req+"\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp
}

// place reads the X-Queued of a reply.
func place(t *testing.T, resp *http.Response) QueueStatus {
	t.Helper()
	h := &wire.Handshake{}
	for k, vs := range resp.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	q, ok := parseQueued(h)
	require.True(t, ok, "no place in %v", resp.Header)
	return q
}

// source is l's Uploader as a download source at addr, reached through
// a pipeDialer from the address from.
func (l *queueLab) source(addr, from string) *uploadServer {
	return &uploadServer{u: l.u, addr: netip.MustParseAddrPort(addr), ctx: l.ctx, cancel: func() {},
		remote: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(from)), done: make(chan error, 16)}
}

// A full uploader queues the fourth downloader: it polls inside each
// window it is given, keeps its place while the two ahead of it let
// theirs lapse, sees its position go down, and gets the file when a slot
// frees.
func TestPARQDownloaderKeepsItsPlace(t *testing.T) {
	cfg := UploaderConfig{MaxUploads: 3, MaxUploadsPerIP: 1, MaxUploadsPerNet: 10, IdleTimeout: 10 * time.Minute, SlowUploadTime: time.Hour}
	queueTest(t, cfg, func(l *queueLab) {
		holders := []*pipeClient{l.hold("10.0.1.1:1"), l.hold("10.0.1.2:1"), l.hold("10.0.1.3:1")}
		// Two queue ahead and never come back.
		for i, a := range []string{"10.0.2.1:1", "10.0.2.2:1"} {
			c := l.dial(a)
			resp := c.poll(t, "")
			require.Equal(t, "503 Queued", resp.Status)
			assert.Equal(t, i+1, place(t, resp).Position)
			assert.Equal(t, "queue/1.1", resp.Header.Get("X-Features"))
			c.conn.Close()
		}
		start := time.Now()
		go func() {
			time.Sleep(200 * time.Second)
			holders[0].conn.Close()
		}()

		up := l.source("10.9.9.9:6346", "10.0.0.4:1")
		d := NewDownloader(DownloaderConfig{Dir: t.TempDir(), Dialer: newPipeDialer(up)})
		var mu sync.Mutex
		var seen []int
		var at []time.Duration
		res, err := d.Download(l.ctx, Request{
			Name: "f.bin", Size: l.file.Size, SHA1: l.file.SHA1,
			Sources: []Source{{Addr: up.addr}},
			Queued: func(_ Source, q QueueStatus) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, q.Position)
				at = append(at, time.Since(start).Round(time.Second))
			},
		})
		require.NoError(t, err)
		got, err := os.ReadFile(res.Path)
		require.NoError(t, err)
		assert.Equal(t, l.data, got)

		// Position 3 polls every 30+2*15 = 60 s; the two ahead expire at
		// 130 s and 145 s; at 180 s it is first (30 s), and the slot freed
		// at 200 s is its at 210 s.
		assert.Equal(t, []int{3, 3, 3, 1}, seen)
		assert.Equal(t, []time.Duration{0, 60 * time.Second, 120 * time.Second, 180 * time.Second}, at)
		assert.Equal(t, 210*time.Second, time.Since(start).Round(time.Second))
		assert.Equal(t, 0, l.u.QueueLength())
		for _, h := range holders[1:] {
			h.conn.Close()
		}
		up.stop()
	})
}

// A poll a few seconds early keeps the place (gtk-gnutella forgives
// up to QueueEarlyGrace), and so does one earlier still: the spec frees
// the slot of a request "too soon", but gtk-gnutella (parq_upload_abusing)
// counts such polls and frees the place only when QueueMaxEarly of them
// follow the first, each within QueueEarlyWindow of the one before. The
// request then queues again at the end, and its next early poll loses
// that place too.
func TestPARQEarlyPollLosesPlace(t *testing.T) {
	queueTest(t, UploaderConfig{MaxUploads: 1, IdleTimeout: 10 * time.Minute}, func(l *queueLab) {
		l.hold("10.0.1.1:1")
		a, b := l.dial("10.0.2.1:1"), l.dial("10.0.2.2:1")
		qa := place(t, a.poll(t, ""))
		qb := place(t, b.poll(t, ""))
		require.Equal(t, []int{1, 2}, []int{qa.Position, qb.Position})
		require.Equal(t, 30*time.Second, qa.PollMin)

		time.Sleep(qa.PollMin - 5*time.Second) // early, within the grace
		again := place(t, a.poll(t, qa.ID))
		assert.Equal(t, QueueStatus{ID: qa.ID, Position: 1, Length: 2, PollMin: 30 * time.Second, PollMax: 130 * time.Second}, again)

		for i := range QueueMaxEarly {
			time.Sleep(time.Second) // 25 s and more before the 30 s it was given
			again = place(t, a.poll(t, qa.ID))
			require.Equal(t, qa.ID, again.ID, "early poll %d forgiven", i+1)
			require.Equal(t, 1, again.Position)
		}
		time.Sleep(time.Second)
		lost := place(t, a.poll(t, qa.ID))
		assert.NotEqual(t, qa.ID, lost.ID, "a new entry")
		assert.Equal(t, 2, lost.Position, "behind b")
		time.Sleep(time.Second)
		lostAgain := place(t, a.poll(t, lost.ID))
		assert.NotEqual(t, lost.ID, lostAgain.ID, "the count went with it")
		assert.Equal(t, 2, lostAgain.Position)
		time.Sleep(time.Second) // b: 38 s, past its 45 s less the grace
		assert.Equal(t, 1, place(t, b.poll(t, qb.ID)).Position, "b moved up")
	})
}

// A poll after the lifetime finds the place gone; one within it keeps it.
func TestPARQLatePollLosesPlace(t *testing.T) {
	queueTest(t, UploaderConfig{MaxUploads: 1, IdleTimeout: 10 * time.Minute}, func(l *queueLab) {
		l.hold("10.0.1.1:1")
		a, b := l.dial("10.0.2.1:1"), l.dial("10.0.2.2:1")
		qa := place(t, a.poll(t, ""))
		qb := place(t, b.poll(t, ""))
		require.Equal(t, 45*time.Second, qb.PollMin)
		require.Equal(t, 145*time.Second, qb.PollMax)

		time.Sleep(40 * time.Second) // b: inside [35 s, 145 s]
		qb = place(t, b.poll(t, qb.ID))
		assert.Equal(t, 2, qb.Position, "a is still ahead: its place lasts until 130 s")
		time.Sleep(91 * time.Second) // 131 s: a is late, b's window is [75 s, 185 s]
		assert.Equal(t, 1, l.u.QueueLength())
		late := place(t, a.poll(t, qa.ID))
		assert.NotEqual(t, qa.ID, late.ID)
		assert.Equal(t, 2, late.Position, "a new entry behind b")
		time.Sleep(50 * time.Second) // b at 181 s, at the end of its window
		assert.Equal(t, 1, place(t, b.poll(t, qb.ID)).Position)
	})
}

// Past MaxQueue entries a request is refused, and the connection closed;
// an Active Queueing client (X-Queue: 0.1) is told its place in X-Queue.
func TestPARQQueueFullAndLegacy(t *testing.T) {
	queueTest(t, UploaderConfig{MaxUploads: 1, MaxQueue: 1, RetryAfter: 77 * time.Second}, func(l *queueLab) {
		l.hold("10.0.1.1:1")
		a := l.dial("10.0.2.1:1")
		_, err := io.WriteString(a.conn, "GET /get/1/f.bin HTTP/1.1\r\nX-Queue: 0.1\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(a.br, &http.Request{Method: "GET"})
		require.NoError(t, err)
		assert.Equal(t, "503 Queued", resp.Status)
		assert.Equal(t, "position=1, length=1, limit=1, pollMin=30, pollMax=130", resp.Header.Get("X-Queue"))
		assert.Empty(t, resp.Header.Get("X-Queued"))

		b := l.dial("10.0.2.2:1")
		resp = b.poll(t, "")
		assert.Equal(t, "503 Queue full", resp.Status)
		assert.Equal(t, "77", resp.Header.Get("Retry-After"))
		assert.Empty(t, resp.Header.Get("X-Queued"))
		_, err = b.br.ReadByte()
		assert.ErrorIs(t, err, io.EOF, "closed")
	})
}

// gtk-gnutella's queue headers as http.pcap holds them, served in a 503:
// the downloader waits the Retry-After, polls with the ID and position it
// was given and "X-Queue: 1.1", as gtk-gnutella's own downloader does
// (parq_download_add_header), and gets the file.
func TestPARQAnswersGtkGnutellaQueue(t *testing.T) {
	var lines []string
	for _, s := range tcpStreams(t, "testdata/http.pcap") {
		for _, line := range strings.Split(string(s), "\r\n") {
			if strings.HasPrefix(line, "X-Queued: ") || strings.HasPrefix(line, "Retry-After: ") || strings.HasPrefix(line, "X-Features: ") {
				lines = append(lines, line)
			}
		}
	}
	require.Contains(t, lines, "X-Queued: ID=d4e1b623a2b22bb0039169f494cc125f; position=1; lifetime=10; length=1; ETA=0")
	require.Contains(t, lines, "Retry-After: 10")
	head := "X-Features: tls/1.0, browse/1.0, fwalt/0.1, queue/1.1\r\nRetry-After: 10\r\n" +
		"X-Queued: ID=d4e1b623a2b22bb0039169f494cc125f; position=1; lifetime=10; length=1; ETA=0\r\n"
	for _, l := range strings.Split(strings.TrimSpace(head), "\r\n") {
		require.Contains(t, lines, l, "the captured line")
	}

	synctest.Test(t, func(t *testing.T) {
		data := randomData(10 << 10)
		var mu sync.Mutex
		var polls []http.Header
		var when []time.Duration
		start := time.Now()
		queueing := func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
			mu.Lock()
			polls = append(polls, req.Header.Clone())
			when = append(when, time.Since(start))
			mu.Unlock()
			if n == 0 {
				_, _ = fmt.Fprintf(conn, "HTTP/1.1 503 Queued\r\nServer: gtk-gnutella/1.2.3\r\nContent-Length: 0\r\n%s\r\n", head)
				return true
			}
			return honest(fs, conn, req, n)
		}
		fs := newPipeFake(t, "127.0.0.1:6350", data, queueing)
		fs.idle = time.Minute // the poll comes at 10 s
		defer fs.stop()
		d := NewDownloader(DownloaderConfig{Dir: t.TempDir(), Dialer: newPipeDialer(fs)})
		var places []QueueStatus
		res, err := d.Download(context.Background(), Request{
			Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()},
			Queued: func(_ Source, q QueueStatus) { places = append(places, q) },
		})
		require.NoError(t, err)
		got, _ := os.ReadFile(res.Path)
		assert.True(t, bytes.Equal(data, got))
		require.Len(t, polls, 2)
		assert.Equal(t, "1.1", polls[0].Get("X-Queue"))
		assert.Empty(t, polls[0].Get("X-Queued"))
		assert.Equal(t, "1.1", polls[1].Get("X-Queue"))
		assert.Equal(t, "position=1; ID=d4e1b623a2b22bb0039169f494cc125f", polls[1].Get("X-Queued"))
		assert.Equal(t, 10*time.Second, when[1], "after Retry-After, inside lifetime")
		assert.Equal(t, []QueueStatus{{ID: "d4e1b623a2b22bb0039169f494cc125f", Position: 1, Length: 1, PollMin: 10 * time.Second, PollMax: 10 * time.Second}}, places)
		fs.mu.Lock()
		assert.Len(t, fs.conns, 1, "the poll went on the kept connection")
		fs.mu.Unlock()
	})
}

// An uploader that calls back with QUEUE gets our poll at once, on its
// connection, instead of after the Retry-After; our requests carry the
// X-Node it calls back to.
func TestPARQQueueCallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		data := randomData(10 << 10)
		var nodes []string
		queueing := func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
			nodes = append(nodes, req.Header.Get("X-Node"))
			_, _ = io.WriteString(conn, "HTTP/1.1 503 Queued\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 600\r\n"+
				"X-Queued: ID=cb1; position=4; length=9; lifetime=700\r\n\r\n")
			return false
		}
		fs := newPipeFake(t, "10.0.0.5:6346", data, queueing)
		defer fs.stop()
		d := NewDownloader(DownloaderConfig{Dir: t.TempDir(), Dialer: newPipeDialer(fs),
			Node: func() netip.AddrPort { return netip.MustParseAddrPort("10.0.0.1:6346") }})
		start := time.Now()
		done := make(chan error, 1)
		var res Result
		go func() {
			var err error
			res, err = d.Download(context.Background(), Request{Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{fs.source()}})
			done <- err
		}()
		synctest.Wait() // queued, waiting its 600 s
		assert.False(t, d.QueueCallback("other", nil), "no download under that ID")

		ours, theirs := net.Pipe()
		var polled http.Header
		go func() {
			defer theirs.Close()
			req, err := http.ReadRequest(bufio.NewReader(theirs))
			if err != nil {
				return
			}
			polled = req.Header
			a, b := askedRange(req, len(data))
			reply206(theirs, len(data), a, b, data[a:b+1])
		}()
		// The servent read "QUEUE cb1 10.0.0.5:6346" and hands us the rest.
		cb, err := ReadQueueCallback(bufio.NewReader(strings.NewReader("QUEUE cb1 10.0.0.5:6346\r\n")))
		require.NoError(t, err)
		require.True(t, d.QueueCallback(cb.ID, ours))
		require.NoError(t, <-done)
		assert.Less(t, time.Since(start), time.Second, "not after the Retry-After")
		assert.Equal(t, "position=4; ID=cb1", polled.Get("X-Queued"))
		assert.Equal(t, []string{"10.0.0.1:6346"}, nodes)
		assert.Equal(t, "10.0.0.1:6346", polled.Get("X-Node"))
		got, _ := os.ReadFile(res.Path)
		assert.Equal(t, data, got)
	})
}

func TestReadQueueCallback(t *testing.T) {
	for line, ok := range map[string]bool{
		"QUEUE 6a074979f3201edbf323b6425fef4a53 45.56.67.78:1234\r\n": true,
		"QUEUE ab [2001:db8::1]:6346\n":                               true,
		"QUEUE ab 45.56.67.78\r\n":                                    false,
		"QUEUE a\rb 1.2.3.4:5\r\n":                                    false,
		"QUEUE ab 1.2.3.4:5 extra\r\n":                                false,
		"QUEUE ab 1.2.3.4:5":                                          false,
		"QUEUE " + strings.Repeat("a", 300) + " 1.2.3.4:5\r\n":        false,
	} {
		_, err := ReadQueueCallback(bufio.NewReader(strings.NewReader(line)))
		assert.Equal(t, ok, err == nil, "%q: %v", line, err)
	}
}

// An interrupted download that was queued keeps its place: the state file
// holds the queue ID, and the next run presents it, so the uploader
// finds the entry instead of queueing us behind our own ghost; also when
// the run comes at once, long before the Retry-After (an early poll, which
// the uploader forgives as gtk-gnutella does).
func TestPARQPlaceSurvivesARestart(t *testing.T) {
	t.Run("after its Retry-After", func(t *testing.T) { testPARQPlaceSurvivesARestart(t, 30*time.Second) })
	t.Run("at once", func(t *testing.T) { testPARQPlaceSurvivesARestart(t, 0) })
}

func testPARQPlaceSurvivesARestart(t *testing.T, wait time.Duration) {
	queueTest(t, UploaderConfig{MaxUploads: 1, IdleTimeout: 10 * time.Minute}, func(l *queueLab) {
		holder := l.hold("10.0.1.1:1")
		dir := t.TempDir()
		up := l.source("10.9.9.9:6346", "10.0.0.4:1")
		run := func() QueueStatus {
			ctx, cancel := context.WithCancel(l.ctx)
			defer cancel()
			var first QueueStatus
			d := NewDownloader(DownloaderConfig{Dir: dir, Dialer: newPipeDialer(up)})
			_, err := d.Download(ctx, Request{
				Name: "f.bin", Size: l.file.Size, SHA1: l.file.SHA1,
				Sources: []Source{{Addr: up.addr}},
				Queued: func(_ Source, q QueueStatus) {
					first = q
					cancel() // Ctrl-C while queued
				},
			})
			require.ErrorIs(t, err, context.Canceled)
			return first
		}
		q1 := run()
		require.Equal(t, 1, q1.Position)
		st, err := loadState(filepath.Join(dir, "f.bin.part.state"))
		require.NoError(t, err)
		assert.Equal(t, []stateQueue{{Source: "10.9.9.9:6346", ID: q1.ID, Position: 1}}, st.Queues)

		time.Sleep(wait)
		q2 := run()
		assert.Equal(t, QueueStatus{ID: q1.ID, Position: 1, Length: 1, PollMin: 30 * time.Second, PollMax: 130 * time.Second}, q2,
			"the same place, not behind our own ghost")
		assert.Equal(t, 1, l.u.QueueLength())
		holder.conn.Close()
		up.stop()
	})
}
