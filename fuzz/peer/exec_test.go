package peer

import (
	"bufio"
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// TestAnswerKinds: how the executor reads each kind of answer to a case.
func TestAnswerKinds(t *testing.T) {
	g := newGenerator(1, []Area{AreaDescriptor}, nil)
	gnutella := g.generate(0)
	httpCase := Case{Proto: ProtoHTTP, Steps: []Step{{Send: []byte("GET /get/1/x HTTP/1.1\r\n\r\n")}}}
	huge := Case{Proto: ProtoGnutella, Steps: []Step{{Send: make([]byte, 4<<20)}}}
	handshake := func(nc net.Conn, br *bufio.Reader) bool {
		if _, err := wire.ReadHandshake(br, wire.HandshakeLimits{}); err != nil {
			return false
		}
		_, err := nc.Write([]byte("GNUTELLA/0.6 200 OK\r\n\r\n"))
		return err == nil
	}
	for _, tc := range []struct {
		name  string
		c     Case
		serve func(nc net.Conn, br *bufio.Reader)
		want  string
	}{
		{"probe answered", gnutella, func(nc net.Conn, br *bufio.Reader) {
			if !handshake(nc, br) {
				return
			}
			_, _ = wire.ReadHandshake(br, wire.HandshakeLimits{})
			r := wire.NewReader(br, 0)
			for {
				m, err := r.ReadMessage()
				if err != nil && m == nil {
					return
				}
				if m.Header.Type == wire.TypePing {
					send(nc, pong(m.Header.GUID))
				}
			}
		}, "alive"},
		{"bye", gnutella, func(nc net.Conn, br *bufio.Reader) {
			if handshake(nc, br) {
				send(nc, &wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeBye, TTL: 1}, Bye: wire.NewBye(400, "Bad")})
			}
		}, "bye 400"},
		{"refused handshake", gnutella, func(nc net.Conn, br *bufio.Reader) {
			_, _ = wire.ReadHandshake(br, wire.HandshakeLimits{})
			_, _ = nc.Write([]byte("GNUTELLA/0.6 503 Full\r\n\r\n"))
		}, "handshake 503"},
		{"answered as HTTP", gnutella, func(nc net.Conn, br *bufio.Reader) {
			_, _ = wire.ReadHandshake(br, wire.HandshakeLimits{})
			_, _ = nc.Write([]byte("HTTP/1.0 400 Bad Request\r\n\r\n"))
		}, "http 400"},
		{"close", gnutella, func(nc net.Conn, br *bufio.Reader) { _, _ = wire.ReadHandshake(br, wire.HandshakeLimits{}) }, "close"},
		{"silence", gnutella, func(nc net.Conn, br *bufio.Reader) { time.Sleep(time.Hour) }, "silence"},
		{"stall", huge, func(nc net.Conn, br *bufio.Reader) { time.Sleep(time.Hour) }, "stall"},
		{"http status", httpCase, func(nc net.Conn, br *bufio.Reader) {
			_, _ = wire.ReadHandshake(br, wire.HandshakeLimits{})
			_, _ = nc.Write([]byte("HTTP/1.1 416 Range Not Satisfiable\r\n\r\n"))
		}, "http 416"},
		{"garbled", httpCase, func(nc net.Conn, br *bufio.Reader) {
			_, _ = wire.ReadHandshake(br, wire.HandshakeLimits{})
			_, _ = nc.Write([]byte("what?\r\n"))
		}, "garbled"},
		{"four-digit code is no status", httpCase, func(nc net.Conn, br *bufio.Reader) {
			_, _ = wire.ReadHandshake(br, wire.HandshakeLimits{})
			_, _ = nc.Write([]byte("HTTP/1.1 2000 OK\r\n\r\n"))
		}, "garbled"},
		{"status line cut short", httpCase, func(nc net.Conn, br *bufio.Reader) {
			_, _ = wire.ReadHandshake(br, wire.HandshakeLimits{})
			_, _ = nc.Write([]byte("HTTP/1.1 20"))
		}, "garbled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := memnet.New()
				l, err := n.Listen(context.Background(), "tcp", "127.0.0.1:6346")
				require.NoError(t, err)
				defer l.Close()
				go func() {
					nc, err := l.Accept()
					if err != nil {
						return
					}
					defer nc.Close()
					tc.serve(nc, bufio.NewReader(nc))
				}()
				e := &executor{dial: NetworkDial(n), target: "127.0.0.1:6346", src: newSources("127.0.0.1:6346"), timeout: 250 * time.Millisecond}
				start := time.Now()
				a := e.run(context.Background(), &tc.c)
				assert.Equal(t, tc.want, a.Key(), "%+v", a)
				assert.LessOrEqual(t, time.Since(start), 2*e.timeout, "bounded in time")
				time.Sleep(2 * time.Hour)
			})
		})
	}
	t.Run("refused", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := &executor{dial: NetworkDial(memnet.New()), target: "127.0.0.1:6346", src: &sources{}, timeout: time.Second}
			assert.Equal(t, "refused", e.run(context.Background(), &gnutella).Key())
		})
	})
}

// TestSourcesSpreadOverLoopback: a loopback target gets cases from
// 127.1.0.0/22, round robin; any other target from the default source.
func TestSourcesSpreadOverLoopback(t *testing.T) {
	s := newSources("127.0.0.1:6346")
	first := s.pick()
	assert.Equal(t, "127.1.0.1", first.String())
	seen := map[string]bool{first.String(): true}
	for range sourcePoolSize - 1 {
		a := s.pick()
		assert.True(t, a.IsLoopback() && a.As4()[1] == 1, "%v", a)
		seen[a.String()] = true
	}
	assert.Len(t, seen, sourcePoolSize)
	assert.Equal(t, first, s.pick(), "round robin")
	assert.False(t, newSources("192.0.2.1:6346").pick().IsValid())
	assert.False(t, newSources("localhost:6346").pick().IsValid(), "names are not resolved to decide")
}
