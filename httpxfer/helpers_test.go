package httpxfer

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

// memLibrary is an in-memory Library for tests.
type memLibrary struct {
	mu    sync.Mutex
	files []File
	trees map[wire.TTH]*thex.Tree
}

func (l *memLibrary) Tree(root wire.TTH) (*thex.Tree, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.trees[root]
	return t, ok
}

// addWithTree shares f with its Tiger tree (built from data).
func (l *memLibrary) addWithTree(f File, data []byte) File {
	b := thex.NewBuilder()
	b.Write(data)
	t := b.Tree()
	f.TTH, f.HasTTH = t.Root(), true
	l.mu.Lock()
	if l.trees == nil {
		l.trees = make(map[wire.TTH]*thex.Tree)
	}
	l.trees[t.Root()] = t
	l.mu.Unlock()
	l.add(f)
	return f
}

func (l *memLibrary) add(f File) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.files = append(l.files, f)
}

func (l *memLibrary) ByIndex(i uint32) (File, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.files {
		if f.Index == i {
			return f, true
		}
	}
	return File{}, false
}

func (l *memLibrary) BySHA1(d wire.SHA1) (File, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.files {
		if f.SHA1 == d && d != (wire.SHA1{}) {
			return f, true
		}
	}
	return File{}, false
}

// shareFile writes size random bytes as dir/name and returns its File.
func shareFile(t testing.TB, dir string, index uint32, name string, size int) (File, []byte) {
	t.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	p := filepath.Join(dir, "shared-"+name)
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return File{
		Index: index, Name: name, Size: int64(size), SHA1: sha1.Sum(data), Path: p,
		ModTime: time.Date(2026, 11, 22, 3, 48, 24, 0, time.UTC),
	}, data
}

// uploadServer runs an Uploader the way the servent does: it sniffs the
// first bytes with a bufio.Reader and hands the connection and the reader
// to ServeConn. Its connections come from a loopback listener
// (startUploader) or, inside a synctest bubble, from a pipeDialer
// (newPipeUploader).
type uploadServer struct {
	u      *Uploader
	ln     net.Listener
	addr   netip.AddrPort
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan error // one value per finished connection
	// A pipe Uploader's downloaders connect from remote (pipeRemote when
	// nil); bps, if set, paces what it writes (pacedConn).
	remote net.Addr
	bps    int
}

func newUploadServer(cfg UploaderConfig, addr netip.AddrPort) *uploadServer {
	ctx, cancel := context.WithCancel(context.Background())
	return &uploadServer{u: NewUploader(cfg), addr: addr, ctx: ctx, cancel: cancel, done: make(chan error, 1024)}
}

func startUploader(t testing.TB, cfg UploaderConfig) *uploadServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := newUploadServer(cfg, netip.MustParseAddrPort(ln.Addr().String()))
	s.ln = ln
	t.Cleanup(s.stop)
	s.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.accept(conn)
		}
	})
	return s
}

// newPipeUploader is an Uploader reached through a pipeDialer at addr,
// which writes at about bps bytes a second (0: at once); its downloaders
// connect from pipeRemote. Stop it before a synctest bubble ends.
func newPipeUploader(t testing.TB, addr string, bps int, cfg UploaderConfig) *uploadServer {
	s := newUploadServer(cfg, netip.MustParseAddrPort(addr))
	s.bps = bps
	t.Cleanup(s.stop)
	return s
}

// pipeRemote is where a pipe Uploader's downloaders connect from.
var pipeRemote net.Addr = net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:6346"))

func (s *uploadServer) pipeAddr() netip.AddrPort { return s.addr }

func (s *uploadServer) accept(conn net.Conn) bool {
	if s.ln == nil {
		conn = addrConn{conn, cmp.Or(s.remote, pipeRemote)}
	}
	if s.bps > 0 {
		conn = pacedConn{Conn: conn, bps: s.bps}
	}
	s.wg.Go(func() {
		br := bufio.NewReader(conn)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := br.Peek(4); err != nil {
			conn.Close()
			s.done <- err
			return
		}
		s.done <- s.u.ServeConn(s.ctx, conn, br)
	})
	return true
}

// stop ends the uploader's connections and waits for them.
func (s *uploadServer) stop() {
	s.cancel()
	if s.ln != nil {
		s.ln.Close()
	}
	s.wg.Wait()
}
