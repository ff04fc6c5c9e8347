package peer

import (
	"bufio"
	"context"
	"io"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// TestDiscoverKeepsTheTargetsFiles: an ultrapeer target answers a Query
// with its own hits and with its leaves' (forwarded); discovery keeps its
// own only, told by the GUID its handshake gave or, without one, by the
// hits' address.
func TestDiscoverKeepsTheTargetsFiles(t *testing.T) {
	const target = "127.0.0.1:6346"
	self, leaf := wire.NewGUID(), wire.NewGUID()
	hit := func(q wire.GUID, servent wire.GUID, addr string, hops uint8, names ...string) *wire.Message {
		ap := netip.MustParseAddrPort(addr)
		h := wire.QueryHit{Port: ap.Port(), Addr: ap.Addr(), Speed: 1, ServentGUID: servent}
		for i, n := range names {
			h.Results = append(h.Results, wire.Result{Index: uint32(i + 1), Size: 10, Name: []byte(n)})
		}
		return &wire.Message{Header: wire.Header{GUID: q, Type: wire.TypeQueryHit, TTL: 3, Hops: hops}, QueryHit: h}
	}
	for _, tc := range []struct {
		name   string
		header string
	}{
		{"by guid", "GUID: " + self.String() + "\r\n"},
		{"by address", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := memnet.New()
				l, err := n.Listen(context.Background(), "tcp", target)
				require.NoError(t, err)
				defer l.Close()
				go func() {
					nc, err := l.Accept()
					if err != nil {
						return
					}
					defer nc.Close()
					br := bufio.NewReader(nc)
					if _, err := wire.ReadHandshake(br, wire.HandshakeLimits{}); err != nil {
						return
					}
					if _, err := nc.Write([]byte("GNUTELLA/0.6 200 OK\r\n" + tc.header + "\r\n")); err != nil {
						return
					}
					_, _ = wire.ReadHandshake(br, wire.HandshakeLimits{})
					m, err := wire.NewReader(br, 0).ReadMessage()
					if err != nil || m.Header.Type != wire.TypeQuery {
						return
					}
					// The leaf sits on the same host, on a port of its own.
					send(nc, hit(m.Header.GUID, leaf, "127.0.0.1:7000", 1, "leaf.ogg"))
					send(nc, hit(m.Header.GUID, self, target, 0, "a.ogg", "b.ogg"))
					_, _ = io.Copy(io.Discard, br) // until discovery hangs up
				}()
				e := &executor{dial: NetworkDial(n), target: target, src: newSources(target), timeout: time.Second}
				files := discover(context.Background(), e, Config{Areas: []Area{AreaHTTP}, AnswerTimeout: time.Second, Logf: t.Logf})
				var names []string
				for _, f := range files {
					names = append(names, f.Name)
				}
				assert.Equal(t, []string{"a.ogg", "b.ogg"}, names)
			})
		})
	}
}
