package servent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/wire"
)

// observed is a test config whose info log the test reads.
func observedConfig(t *testing.T) (Config, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := testConfig(t)
	cfg.Logger = zap.New(core)
	return cfg, logs
}

func waitLog(t *testing.T, logs *observer.ObservedLogs, msg string) observer.LoggedEntry {
	t.Helper()
	var e observer.LoggedEntry
	require.Eventually(t, func() bool {
		got := logs.FilterMessage(msg).All()
		if len(got) > 0 {
			e = got[0]
		}
		return len(got) > 0
	}, 10*time.Second, 5*time.Millisecond, "no %q in the log: %v", msg, logs.All())
	return e
}

// TestLogsSharingAndUploads: what an operator needs at info: the files
// shared after the scan, and each upload (who, what, bytes, time), one a
// second per client at most.
func TestLogsSharingAndUploads(t *testing.T) {
	cfg, logs := observedConfig(t)
	cfg.ShareDir = shareDir(t, map[string]string{"penguin.ogg": strings.Repeat("p", 5000), "walrus.txt": "tusks"})
	s := startServent(t, cfg)

	e := waitLog(t, logs, "sharing")
	assert.Equal(t, int64(2), e.ContextMap()["files"])
	assert.Equal(t, int64(5005), e.ContextMap()["bytes"])
	assert.Equal(t, int64(0), e.ContextMap()["still_hashing"])

	f, ok := s.Library().BySHA1(s.Library().All()[0].SHA1)
	require.True(t, ok)
	get := func() {
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/get/%d/%s", s.Addr(), f.Index, f.Name), nil)
		require.NoError(t, err)
		req.Header.Set("Range", "bytes=0-999")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get()
	e = waitLog(t, logs, "upload")
	m := e.ContextMap()
	assert.Equal(t, f.Name, m["file"])
	assert.Equal(t, int64(1000), m["bytes"])
	assert.Contains(t, m["remote"], "127.0.0.1:")
	assert.Contains(t, m, "time")
	for range 5 {
		get()
	}
	assert.Len(t, logs.FilterMessage("upload").All(), 1, "the same client within a second: rate-limited")
}

// TestLogsPushAnswered: a Push for us is answered with a GIV, and logged.
func TestLogsPushAnswered(t *testing.T) {
	cfg, logs := observedConfig(t)
	cfg.ShareDir = shareDir(t, map[string]string{"penguin.ogg": "feathers"})
	s := startServent(t, cfg)
	p := dialRaw(t, s.Addr())
	p.handshake06()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	at := netip.MustParseAddrPort(ln.Addr().String())
	p.send(wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePush, TTL: 1},
		Push: wire.Push{ServentGUID: s.GUID(), Index: s.Library().All()[0].Index, Addr: at.Addr(), Port: at.Port()}})
	nc, err := ln.Accept()
	require.NoError(t, err)
	defer nc.Close()
	line, err := bufio.NewReader(nc).ReadString('\n')
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(line, "GIV "), line)
	e := waitLog(t, logs, "Push answered: GIV sent")
	assert.Equal(t, at.String(), e.ContextMap()["requester"])
	assert.Equal(t, "penguin.ogg", e.ContextMap()["file"])
}

// TestLogsFailedDialToLearntHost: a host from the cache that cannot be
// reached is logged at info with the reason and the next try, as
// configured peers are.
func TestLogsFailedDialToLearntHost(t *testing.T) {
	cfg, logs := observedConfig(t)
	cfg.Connections = 1
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close() // nothing listens there now
	s, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Hosts().Add(dead, hostcache.SourcePong, true, time.Now()))
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { s.Close() })
	e := waitLog(t, logs, "connection attempt failed")
	assert.Equal(t, dead.String(), e.ContextMap()["peer"])
	assert.Contains(t, e.ContextMap()["error"], "refused")
	assert.Contains(t, e.ContextMap(), "retry_in")
}

// TestDebugLogsHandshakes: --log-level debug shows each handshake block,
// both ways, headers and all; info shows none of them.
func TestDebugLogsHandshakes(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	cfg := testConfig(t)
	cfg.Logger = zap.New(core)
	s := startServent(t, cfg)
	p := dialRaw(t, s.Addr())
	p.handshake06()
	in := waitLog(t, logs, "handshake received").ContextMap()
	assert.Equal(t, "GNUTELLA CONNECT/0.6", in["start_line"])
	assert.Contains(t, in["headers"], "User-Agent: RawPeer/1.0")
	out := waitLog(t, logs, "handshake sent").ContextMap()
	assert.Equal(t, "GNUTELLA/0.6 200 OK", out["start_line"])
	assert.Contains(t, fmt.Sprint(out["headers"]), "User-Agent: Govent/")

	info, infoLogs := observedConfig(t)
	s2 := startServent(t, info)
	dialRaw(t, s2.Addr()).handshake06()
	waitLog(t, infoLogs, "connected")
	assert.Empty(t, infoLogs.FilterMessage("handshake received").All())
}

// TestDebugLogsRoutingDrops: at debug, a descriptor the router drops is
// logged with the reason.
func TestDebugLogsRoutingDrops(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	cfg := testConfig(t)
	cfg.Logger = zap.New(core)
	s := startServent(t, cfg)
	p := dialRaw(t, s.Addr())
	p.handshake06()
	q := queryMsg(guidN(9, 1), 3, "penguin")
	p.send(q)
	p.send(q)
	e := waitLog(t, logs, "routing drop").ContextMap()
	assert.Equal(t, "duplicate message", e["reason"])
	assert.Equal(t, "QUERY", e["type"])
	assert.Equal(t, q.Header.GUID.String(), e["guid"])
}
