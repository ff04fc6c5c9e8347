package control

import (
	"bufio"
	"context"
	"crypto/sha1"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

func testConfig(t testing.TB) servent.Config {
	return servent.Config{
		Listen: "127.0.0.1:0", AllowPrivate: true, HashBeforeStart: true,
		MaxPendingPerIP: 64, MaxPeersPerIP: 64, MaxLeavesPerIP: 64,
		Logger: zaptest.NewLogger(t),
	}
}

func startServent(t testing.TB, cfg servent.Config) *servent.Servent {
	t.Helper()
	s, err := servent.New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { s.Close() })
	return s
}

// daemon is a servent with its control API on loopback, as govent run
// makes it.
type daemon struct {
	s      *servent.Servent
	srv    *Server
	q      *Queue
	addr   string
	token  string
	data   string
	client *Client
}

func startDaemon(t testing.TB, cfg servent.Config) *daemon {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	s := startServent(t, cfg)
	tok, err := LoadOrCreateToken(cfg.DataDir)
	require.NoError(t, err)
	q, err := NewQueue(s, cfg.DataDir, 0, cfg.Logger)
	require.NoError(t, err)
	q.Start(context.Background())
	t.Cleanup(q.Close)
	srv, err := New(Config{Servent: s, Token: tok, Queue: q, Logger: cfg.Logger})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	d := &daemon{s: s, srv: srv, q: q, addr: ln.Addr().String(), token: tok, data: cfg.DataDir}
	d.client = NewClient(d.addr, tok)
	return d
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, "waiting for %s", what)
}

func shareDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return dir
}

// gatedSource serves one file over HTTP range requests: the first
// "before" bytes of each answer at once, the rest only once open is
// called. A download from it runs, with some progress, for as long as the
// test wants.
type gatedSource struct {
	body   []byte
	before int
	ln     net.Listener
	mu     sync.Mutex
	gate   chan struct{}
	gets   int
}

func newGatedSource(t testing.TB, body []byte, before int) *gatedSource {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := &gatedSource{body: body, before: before, ln: ln, gate: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go g.serve()
	return g
}

func (g *gatedSource) addr() string { return g.ln.Addr().String() }

func (g *gatedSource) getCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gets
}

func (g *gatedSource) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.gate:
	default:
		close(g.gate)
	}
}

func (g *gatedSource) serve() {
	for {
		nc, err := g.ln.Accept()
		if err != nil {
			return
		}
		go g.serveConn(nc)
	}
}

func (g *gatedSource) serveConn(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReader(nc)
	for {
		start, end := 0, len(g.body)-1
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		head := strings.HasPrefix(line, "HEAD")
		for {
			h, err := br.ReadString('\n')
			if err != nil {
				return
			}
			h = strings.TrimSpace(h)
			if h == "" {
				break
			}
			if v, ok := strings.CutPrefix(strings.ToLower(h), "range: bytes="); ok {
				a, b, _ := strings.Cut(v, "-")
				start, _ = strconv.Atoi(a)
				if b != "" {
					end, _ = strconv.Atoi(b)
				}
			}
		}
		end = min(end, len(g.body)-1)
		d := sha1.Sum(g.body)
		fmt.Fprintf(nc, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\nX-Gnutella-Content-URN: %s\r\n\r\n",
			start, end, len(g.body), end-start+1, wire.SHA1(d).String())
		if head {
			continue
		}
		g.mu.Lock()
		g.gets++
		gate := g.gate
		g.mu.Unlock()
		part := g.body[start : end+1]
		n := min(g.before, len(part))
		if _, err := nc.Write(part[:n]); err != nil {
			return
		}
		<-gate
		if _, err := nc.Write(part[n:]); err != nil {
			return
		}
	}
}

func urnOf(b []byte) string { return wire.SHA1(sha1.Sum(b)).String() }

func rawGet(t testing.TB, addr, path, auth string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
