// Package fragile is a deliberately fragile Gnutella servent for testing
// fuzz-peer: a small servent built on package wire (not on package
// servent) that is sound except for exactly three known bugs, each of
// which takes it down for every later connection until Restart:
//
//   - BugQueryHitCount: after a QueryHit whose hit count is larger than the
//     results it holds, it stops answering (connections are accepted and
//     read, nothing is ever written);
//   - BugGGEPLength: on a GGEP data length that runs past the payload (in a
//     Ping, Pong, Push or Query) it hangs, holding the lock every
//     connection needs;
//   - BugLongHeader: after a handshake header line over 4 KiB it stops
//     accepting (it closes its listening socket).
//
// Everything else is bounded and checked: handshakes and reads have
// deadlines, frame errors get a Bye 400, malformed payloads are dropped.
// Only tests use it.
package fragile

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/govent/govent/wire"
)

// Bug names one of the known bugs.
type Bug string

// The known bugs.
const (
	BugQueryHitCount Bug = "queryhit-count"
	BugGGEPLength    Bug = "ggep-length"
	BugLongHeader    Bug = "long-header"
)

// AllBugs lists them.
var AllBugs = []Bug{BugQueryHitCount, BugGGEPLength, BugLongHeader}

// Bounds of the servent's own, sound, handling.
const (
	handshakeTimeout = 5 * time.Second
	idleTimeout      = 30 * time.Second
	longHeaderLine   = 4 << 10
)

// Config sets up a fragile servent.
type Config struct {
	// Addr is where it listens first ("127.0.0.1:0" picks a port); after
	// a restart it listens on the address it got.
	Addr string
	// Listen opens a listening socket; nil means TCP.
	Listen func(addr string) (net.Listener, error)
}

// Servent is the fragile servent.
type Servent struct {
	cfg  Config
	addr string

	mu      sync.Mutex
	gen     *generation
	tripped []Bug
	closed  bool
	wg      sync.WaitGroup
}

// generation is the state one Restart throws away.
type generation struct {
	ln      net.Listener
	conns   map[net.Conn]bool
	lock    chan struct{} // the one lock every connection takes (a channel, so a test's bubble sees who waits)
	wedged  chan struct{} // closed by BugQueryHitCount
	release chan struct{} // closed by Restart, ending a BugGGEPLength hang
}

// Start listens and serves.
func Start(cfg Config) (*Servent, error) {
	if cfg.Listen == nil {
		cfg.Listen = func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s := &Servent{cfg: cfg}
	if err := s.listen(cfg.Addr); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Servent) listen(addr string) error {
	ln, err := s.cfg.Listen(addr)
	if err != nil {
		return fmt.Errorf("fragile: listen: %w", err)
	}
	g := &generation{ln: ln, conns: map[net.Conn]bool{}, lock: make(chan struct{}, 1),
		wedged: make(chan struct{}), release: make(chan struct{})}
	s.mu.Lock()
	s.addr, s.gen, s.tripped = ln.Addr().String(), g, nil
	s.mu.Unlock()
	s.wg.Go(func() { s.accept(g) })
	return nil
}

// Addr is where it listens.
func (s *Servent) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Tripped lists the bugs tripped since the last (re)start.
func (s *Servent) Tripped() []Bug {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Bug(nil), s.tripped...)
}

// Broken reports whether a bug has been tripped.
func (s *Servent) Broken() bool { return len(s.Tripped()) > 0 }

func (s *Servent) trip(g *generation, b Bug) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == g {
		s.tripped = append(s.tripped, b)
	}
}

// Restart throws the state away and listens again on the same address, as
// a supervisor restarting a crashed servent would.
func (s *Servent) Restart(context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("fragile: closed")
	}
	g := s.gen
	s.mu.Unlock()
	s.stop(g)
	return s.listen(s.Addr())
}

// Close stops it for good.
func (s *Servent) Close() error {
	s.mu.Lock()
	s.closed = true
	g := s.gen
	s.mu.Unlock()
	s.stop(g)
	s.wg.Wait()
	return nil
}

func (s *Servent) stop(g *generation) {
	s.mu.Lock()
	select {
	case <-g.release:
	default:
		close(g.release)
	}
	conns := make([]net.Conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	g.ln.Close()
	for _, c := range conns {
		c.Close()
	}
}

func (s *Servent) accept(g *generation) {
	for {
		nc, err := g.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.gen != g || s.closed {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		g.conns[nc] = true
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				nc.Close()
				s.mu.Lock()
				delete(g.conns, nc)
				s.mu.Unlock()
			}()
			s.serve(g, nc)
		})
	}
}

// acquire takes the servent's one lock, giving up when the connection's
// generation is released.
func (g *generation) acquire() bool {
	select {
	case g.lock <- struct{}{}:
		return true
	case <-g.release:
		return false
	}
}

func (g *generation) unlock() { <-g.lock }

func (s *Servent) serve(g *generation, nc net.Conn) {
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	br := bufio.NewReader(nc)
	first, err := br.Peek(4)
	if err != nil {
		return
	}
	select {
	case <-g.wedged:
		// BugQueryHitCount: accept, read, never answer.
		_, _ = br.Discard(br.Buffered())
		select {
		case <-g.release:
		case <-time.After(idleTimeout):
		}
		return
	default:
	}
	if !g.acquire() {
		return
	}
	g.unlock()
	switch {
	case bytes.HasPrefix(first, []byte("GNUT")):
		s.gnutella(g, nc, br)
	case bytes.HasPrefix(first, []byte("GET ")), bytes.HasPrefix(first, []byte("HEAD")):
		serveHTTP(nc, br)
	}
}

func serveHTTP(nc net.Conn, br *bufio.Reader) {
	if _, err := wire.ReadHandshake(br, wire.HandshakeLimits{}); err != nil {
		_, _ = nc.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		return
	}
	_, _ = nc.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
}

func (s *Servent) gnutella(g *generation, nc net.Conn, br *bufio.Reader) {
	h, ok := s.readBlock(g, br)
	if !ok {
		return
	}
	ver, isConnect := h.IsConnect()
	switch {
	case isConnect && ver == "0.4":
		if _, err := nc.Write([]byte(wire.Handshake04OK)); err != nil {
			return
		}
	case isConnect && ver == "0.6":
		ans := &wire.Handshake{StartLine: wire.StatusLine06(200, "OK")}
		ans.Add("User-Agent", "fragile/1")
		ans.Add("X-Ultrapeer", "True")
		if _, err := nc.Write(ans.Append(nil)); err != nil {
			return
		}
		final, ok := s.readBlock(g, br)
		if !ok {
			return
		}
		if _, code, _, err := final.ParseStatus(); err != nil || code != 200 {
			return
		}
		if final.HasToken("Content-Encoding", "deflate") {
			sendBye(nc, 400, "Compression Not Supported")
			return
		}
	default:
		return
	}
	s.descriptors(g, nc, br)
}

// readBlock reads a handshake block. Its limits are generous, since the
// servent reads long lines: that is where BugLongHeader lives.
func (s *Servent) readBlock(g *generation, br *bufio.Reader) (*wire.Handshake, bool) {
	h, err := wire.ReadHandshake(br, wire.HandshakeLimits{MaxLines: 4096, MaxBytes: 256 << 10})
	if err != nil {
		return nil, false
	}
	if longLine(h) {
		s.trip(g, BugLongHeader)
		g.ln.Close()
		return nil, false
	}
	return h, true
}

// longLine reports a start line or header line over 4 KiB.
func longLine(h *wire.Handshake) bool {
	if len(h.StartLine) > longHeaderLine {
		return true
	}
	for _, hd := range h.Headers {
		if len(hd.Name)+2+len(hd.Value) > longHeaderLine {
			return true
		}
	}
	return false
}

func (s *Servent) descriptors(g *generation, nc net.Conn, br *bufio.Reader) {
	r := wire.NewReader(br, 0)
	self := netip.MustParseAddrPort(s.Addr())
	for {
		_ = nc.SetDeadline(time.Now().Add(idleTimeout))
		m, err := r.ReadMessage()
		if err != nil && m == nil {
			if errors.Is(err, wire.ErrFrame) {
				sendBye(nc, 400, "Broken Frame")
			}
			return
		}
		if !g.acquire() {
			return
		}
		out, stop := s.handle(g, m, self)
		g.unlock()
		if stop {
			return
		}
		if out != nil {
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
	}
}

// handle deals with one descriptor under the lock: the answer to write,
// and whether the connection ends.
func (s *Servent) handle(g *generation, m *wire.Message, self netip.AddrPort) ([]byte, bool) {
	p := m.Payload
	switch m.Header.Type {
	case wire.TypeQueryHit:
		if hitCountOver(p) {
			s.trip(g, BugQueryHitCount)
			select {
			case <-g.wedged:
			default:
				close(g.wedged)
			}
			return nil, true
		}
	case wire.TypeBye:
		return nil, true
	}
	if ggepPastEnd(m.Header.Type, p) {
		s.trip(g, BugGGEPLength)
		// "Waits for the rest of the extension", holding the lock.
		<-g.release
		return nil, true
	}
	if m.Header.Type == wire.TypePing {
		pong := wire.Message{
			Header: wire.Header{GUID: m.Header.GUID, Type: wire.TypePong, TTL: max(m.Header.Hops, 1)},
			Pong:   wire.Pong{Port: self.Port(), Addr: self.Addr()},
		}
		b, err := pong.Append(nil)
		if err == nil {
			return b, false
		}
	}
	return nil, false
}

// hitCountOver is the naive reading that BugQueryHitCount trusts: it walks
// the results the count promises and finds fewer.
func hitCountOver(p []byte) bool {
	if len(p) < 11+wire.GUIDLen {
		return false
	}
	count, found := int(p[0]), 0
	body := p[:len(p)-wire.GUIDLen]
	pos := 11
	for found < count && pos+10 <= len(body) {
		name := bytes.IndexByte(body[pos+8:], 0)
		if name < 0 {
			break
		}
		ext := bytes.IndexByte(body[pos+8+name+1:], 0)
		if ext < 0 {
			break
		}
		pos += 8 + name + 1 + ext + 1
		found++
	}
	return count > found
}

// ggepPastEnd finds the GGEP block of a Ping, Pong, Push or Query and
// reports an extension whose data length runs past the payload: what
// BugGGEPLength waits for.
func ggepPastEnd(t wire.PayloadType, p []byte) bool {
	switch t {
	case wire.TypePing:
		return blockPastEnd(p)
	case wire.TypePong:
		return len(p) > wire.PongFixedLen && blockPastEnd(p[wire.PongFixedLen:])
	case wire.TypePush:
		return len(p) > wire.PushFixedLen && blockPastEnd(p[wire.PushFixedLen:])
	case wire.TypeQuery:
		if len(p) < 3 {
			return false
		}
		nul := bytes.IndexByte(p[2:], 0)
		if nul < 0 {
			return false
		}
		for blk := range strings.SplitSeq(string(p[3+nul:]), "\x1c") {
			if blockPastEnd([]byte(blk)) {
				return true
			}
		}
	}
	return false
}

func blockPastEnd(b []byte) bool {
	if len(b) == 0 || b[0] != wire.GGEPMagic {
		return false
	}
	pos := 1
	for pos < len(b) {
		flags := b[pos]
		pos += 1 + int(flags&0x0F)
		n, chunks := 0, 0
		for ; chunks < 3 && pos < len(b); chunks++ {
			c := b[pos]
			pos++
			n = n<<6 | int(c&0x3F)
			if c&0x40 != 0 {
				break
			}
		}
		if pos > len(b) {
			return false
		}
		if n > len(b)-pos {
			return true
		}
		pos += n
		if flags&wire.GGEPFlagLast != 0 {
			return false
		}
	}
	return false
}

func sendBye(nc net.Conn, code uint16, reason string) {
	m := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeBye, TTL: 1}, Bye: wire.NewBye(code, reason)}
	if b, err := m.Append(nil); err == nil {
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write(b)
	}
}
