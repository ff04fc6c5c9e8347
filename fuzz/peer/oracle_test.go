package peer

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// answerPing is a minimal servent for the oracle: it takes the handshake,
// reads the Ping and answers through reply.
func answerPing(reply func(nc net.Conn, ping *wire.Message)) func(net.Conn) {
	return func(nc net.Conn) {
		br := bufio.NewReader(nc)
		if _, err := wire.ReadHandshake(br, wire.HandshakeLimits{}); err != nil {
			return
		}
		ok := &wire.Handshake{StartLine: wire.StatusLine06(200, "OK")}
		if _, err := nc.Write(ok.Append(nil)); err != nil {
			return
		}
		if _, err := wire.ReadHandshake(br, wire.HandshakeLimits{}); err != nil {
			return
		}
		m, err := wire.NewReader(br, 0).ReadMessage()
		if err != nil {
			return
		}
		reply(nc, m)
	}
}

func send(nc net.Conn, m *wire.Message) {
	b, _ := m.Append(nil)
	_, _ = nc.Write(b)
}

func pong(guid wire.GUID) *wire.Message {
	return &wire.Message{Header: wire.Header{GUID: guid, Type: wire.TypePong, TTL: 1}, Pong: wire.Pong{Port: 1}}
}

// TestOracleEffects: what the control check makes of each way a target
// can fail it.
func TestOracleEffects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		serve  func(net.Conn) // nil: nothing listens
		effect Effect
	}{
		{"healthy", answerPing(func(nc net.Conn, p *wire.Message) { send(nc, pong(p.Header.GUID)) }), ""},
		{"refused", nil, EffectRefused},
		{"closes at once", func(nc net.Conn) {}, EffectRefused},
		{"silent", func(nc net.Conn) { time.Sleep(time.Hour) }, EffectUnresponsive},
		{"no Pong", answerPing(func(nc net.Conn, p *wire.Message) { time.Sleep(time.Hour) }), EffectUnresponsive},
		{"slow Pong", answerPing(func(nc net.Conn, p *wire.Message) { time.Sleep(3 * time.Second); send(nc, pong(p.Header.GUID)) }), EffectSlow},
		{"foreign Pong GUID", answerPing(func(nc net.Conn, p *wire.Message) { send(nc, pong(wire.NewGUID())) }), EffectCorrupt},
		{"QueryHit on the control link", answerPing(func(nc net.Conn, p *wire.Message) {
			hit := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeQueryHit, TTL: 1},
				QueryHit: wire.QueryHit{Results: []wire.Result{{Name: []byte("x"), Ext: wire.ExtArea{Terminated: true}}}}}
			send(nc, &hit)
			send(nc, pong(p.Header.GUID))
		}), EffectCorrupt},
		{"Bye to a valid Ping", answerPing(func(nc net.Conn, p *wire.Message) {
			send(nc, &wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeBye, TTL: 1}, Bye: wire.NewBye(400, "no")})
		}), EffectCorrupt},
		{"full", func(nc net.Conn) {
			br := bufio.NewReader(nc)
			if _, err := wire.ReadHandshake(br, wire.HandshakeLimits{}); err == nil {
				_, _ = nc.Write([]byte("GNUTELLA/0.6 503 Full\r\n\r\n"))
			}
		}, effectBusy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := memnet.New()
				if tc.serve != nil {
					l, err := n.Listen(context.Background(), "tcp", "127.0.0.1:6346")
					require.NoError(t, err)
					defer l.Close()
					go func() {
						for {
							nc, err := l.Accept()
							if err != nil {
								return
							}
							go func() {
								defer nc.Close()
								tc.serve(nc)
							}()
						}
					}()
				}
				o := &oracle{dial: NetworkDial(n), target: "127.0.0.1:6346", live: 5 * time.Second, slow: 2 * time.Second}
				h := o.check(context.Background())
				assert.Equal(t, tc.effect == "", h.OK, "%+v", h)
				assert.Equal(t, tc.effect, h.Effect, "%+v", h)
				// Let the servers' sleeps end inside the bubble.
				time.Sleep(2 * time.Hour)
			})
		})
	}
}

// A servent that refuses the control handshake in both roles is refused,
// and the finding says how it answered.
func TestOracleRefusedInBothRoles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		l, err := n.Listen(context.Background(), "tcp", "127.0.0.1:6346")
		require.NoError(t, err)
		defer l.Close()
		var mu sync.Mutex
		var roles []string
		go func() {
			for {
				nc, err := l.Accept()
				if err != nil {
					return
				}
				if h, err := wire.ReadHandshake(bufio.NewReader(nc), wire.HandshakeLimits{}); err == nil {
					v, _ := h.Get("X-Ultrapeer")
					mu.Lock()
					roles = append(roles, strings.ToLower(v))
					mu.Unlock()
					_, _ = nc.Write([]byte("GNUTELLA/0.6 403 Forbidden\r\n\r\n"))
				}
				nc.Close()
			}
		}()
		o := &oracle{dial: NetworkDial(n), target: "127.0.0.1:6346", live: 5 * time.Second, slow: 2 * time.Second}
		h := o.check(context.Background())
		assert.Equal(t, EffectRefused, h.Effect)
		assert.Equal(t, "handshake refused: 403 Forbidden", h.Detail)
		mu.Lock()
		defer mu.Unlock()
		assert.ElementsMatch(t, []string{"true", "false"}, roles, "asked in both roles")
	})
}

// leakyServent has one slot for connections and leaks it when a
// connection ends with a Bye: from then on it answers every handshake 503
// Full, which only a check with no case connection open can tell from a
// servent that is merely busy. (Its slot is only counted as leaked, so
// that a connection that closed normally frees it at once.)
type leakyServent struct {
	mu     sync.Mutex
	leaked int
}

func (s *leakyServent) restart(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaked = 0
	return nil
}

func (s *leakyServent) full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaked > 0
}

func (s *leakyServent) serve(nc net.Conn) {
	br := bufio.NewReader(nc)
	if _, err := wire.ReadHandshake(br, wire.HandshakeLimits{}); err != nil {
		return
	}
	if s.full() {
		_, _ = nc.Write([]byte("GNUTELLA/0.6 503 Full\r\n\r\n"))
		return
	}
	ok := &wire.Handshake{StartLine: wire.StatusLine06(200, "OK")}
	if _, err := nc.Write(ok.Append(nil)); err != nil {
		return
	}
	if _, err := wire.ReadHandshake(br, wire.HandshakeLimits{}); err != nil {
		return
	}
	r := wire.NewReader(br, 0)
	for {
		m, err := r.ReadMessage()
		if err != nil && m == nil {
			return
		}
		switch {
		case m.Header.Type == wire.TypeBye:
			s.mu.Lock()
			s.leaked++
			s.mu.Unlock()
			return
		case m.Header.Type == wire.TypePing && err == nil:
			send(nc, pong(m.Header.GUID))
		}
	}
}

func TestSlotLeakIsAFinding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		l, err := n.Listen(context.Background(), "tcp", "127.0.0.1:6346")
		require.NoError(t, err)
		defer l.Close()
		s := &leakyServent{}
		_ = s.restart(context.Background())
		go func() {
			for {
				nc, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer nc.Close()
					s.serve(nc)
				}()
			}
		}()
		sum, err := Run(context.Background(), Config{
			Target: "127.0.0.1:6346", Areas: []Area{AreaDescriptor}, Seed: 3, MaxCases: 150,
			Parallel: 1, CheckEvery: 1, MinimiseTime: time.Hour, Dial: NetworkDial(n),
			Restart: s.restart,
		})
		require.NoError(t, err)
		require.NotEmpty(t, sum.Findings)
		for _, f := range sum.Findings {
			assert.Equal(t, EffectRefused, f.Effect, f.Key)
			assert.Contains(t, f.Detail, "with no case connection open")
			assert.True(t, f.Reproduced, f.Key)
		}
	})
}
