package servent

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// rawPeer is a hand-driven TCP client: it speaks the handshake and the
// descriptors byte by byte, so tests can misbehave on purpose and see
// exactly what the servent sends.
type rawPeer struct {
	t  testing.TB
	nc rawConn
	br *bufio.Reader
	r  *wire.Reader // descriptors, after the handshake
}

// rawConn is a stream a raw peer drives: *net.TCPConn or *memnet.Conn.
type rawConn interface {
	net.Conn
	CloseWrite() error
}

// rawWait bounds every read of a raw peer: a servent that should have
// answered and did not fails the test instead of hanging it (virtual time
// under vtest).
const rawWait = time.Minute

// dialRaw dials addr on the test's network: the in-memory one under vtest,
// from 127.0.0.1, else loopback TCP.
func dialRaw(t testing.TB, addr netip.AddrPort) *rawPeer {
	t.Helper()
	if n := testNetwork(t); n != nil {
		return dialRawFrom(t, n.Host(netip.AddrFrom4([4]byte{127, 0, 0, 1})), addr)
	}
	nc, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(addr))
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// dialRawFrom dials addr on an in-memory network from the host h, for raw
// peers in virtual time and from chosen addresses.
func dialRawFrom(t testing.TB, h *memnet.Host, addr netip.AddrPort) *rawPeer {
	t.Helper()
	nc, err := h.DialContext(context.Background(), "tcp", addr.String())
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{t: t, nc: nc.(*memnet.Conn), br: bufio.NewReader(nc)}
}

// rawConnect is a CONNECT block as a minimal 0.6 ultrapeer sends it, without
// Accept-Encoding so that the servent's answer stays uncompressed.
func rawConnect(extra ...string) string {
	var b strings.Builder
	b.WriteString("GNUTELLA CONNECT/0.6\r\nUser-Agent: RawPeer/1.0\r\nX-Ultrapeer: True\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// writeString sends raw bytes.
func (p *rawPeer) writeString(s string) {
	p.t.Helper()
	_, err := p.nc.Write([]byte(s))
	require.NoError(p.t, err)
}

// readBlock reads one handshake block.
func (p *rawPeer) readBlock() (*wire.Handshake, error) {
	_ = p.nc.SetReadDeadline(time.Now().Add(rawWait))
	return wire.ReadHandshake(p.br, wire.HandshakeLimits{})
}

// handshake06 runs the client side of a 0.6 handshake by hand and returns
// the servent's answer.
func (p *rawPeer) handshake06(extra ...string) *wire.Handshake {
	p.t.Helper()
	p.writeString(rawConnect(extra...))
	ans, err := p.readBlock()
	require.NoError(p.t, err)
	_, code, _, err := ans.ParseStatus()
	require.NoError(p.t, err)
	require.Equal(p.t, 200, code, "answer %q", ans.StartLine)
	_, compressed := ans.Get("Content-Encoding")
	require.False(p.t, compressed, "we offered no Accept-Encoding")
	p.writeString("GNUTELLA/0.6 200 OK\r\n\r\n")
	p.r = wire.NewReader(p.br, 0)
	return ans
}

// send encodes and writes one descriptor.
func (p *rawPeer) send(m wire.Message) {
	p.t.Helper()
	b, err := m.Append(nil)
	require.NoError(p.t, err)
	_, err = p.nc.Write(b)
	require.NoError(p.t, err)
}

// next reads the next descriptor the servent sent.
func (p *rawPeer) next() (*wire.Message, error) {
	_ = p.nc.SetReadDeadline(time.Now().Add(rawWait))
	return p.r.ReadMessage()
}

// readUntil reads descriptors until match accepts one, returning it (a
// copy of its header and Bye, the fields tests look at) or failing.
func (p *rawPeer) readUntil(what string, match func(*wire.Message) bool) *wire.Message {
	p.t.Helper()
	for {
		m, err := p.next()
		require.NoError(p.t, err, "reading until %s", what)
		if match(m) {
			return m
		}
	}
}

// readBye reads descriptors until a Bye and then expects the end of the
// stream: the servent says Bye and closes.
func (p *rawPeer) readBye() wire.Bye {
	p.t.Helper()
	m := p.readUntil("a Bye", func(m *wire.Message) bool { return m.Header.Type == wire.TypeBye })
	bye := wire.Bye{Code: m.Bye.Code, Text: append([]byte(nil), m.Bye.Text...)}
	p.expectClosed()
	return bye
}

// expectClosed reads until the servent closes the connection; anything it
// still sends is discarded.
func (p *rawPeer) expectClosed() {
	p.t.Helper()
	_ = p.nc.SetReadDeadline(time.Now().Add(rawWait))
	_, err := io.Copy(io.Discard, p.br)
	var ne net.Error
	require.False(p.t, errors.As(err, &ne) && ne.Timeout(), "the servent did not close the connection")
}

// guidN is a distinct, recognisable GUID for the n-th test descriptor.
func guidN(tag byte, n uint32) wire.GUID {
	g := wire.NewGUID()
	g[0], g[1], g[2], g[3], g[4] = tag, byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	return g
}

// queryMsg is a Query with the 0.6 flags marker, as every modern servent
// sends them.
func queryMsg(g wire.GUID, ttl uint8, text string) wire.Message {
	q := wire.Query{Criteria: []byte(text)}
	q.SetFlags(wire.QueryFlagGGEPH)
	return wire.Message{Header: wire.Header{GUID: g, Type: wire.TypeQuery, TTL: ttl}, Query: q}
}

// queryCount is how many Queries arrived on all of s's connections.
func queryCount(s *Servent) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for _, c := range s.conns {
		n += c.stats.inMsgs[wire.TypeQuery].Load()
	}
	return n
}

// onlyConn returns s's one connection.
func onlyConn(t testing.TB, s *Servent) *conn {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Len(t, s.conns, 1)
	for _, c := range s.conns {
		return c
	}
	return nil
}
