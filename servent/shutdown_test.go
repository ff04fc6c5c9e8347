package servent

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// byesLogged returns the Byes a servent logged receiving, as code and
// reason.
func byesLogged(logs *observer.ObservedLogs) []string {
	var out []string
	for _, e := range logs.FilterMessage("peer said Bye").All() {
		m := e.ContextMap()
		out = append(out, fmt.Sprint(m["code"], " ", m["reason"]))
	}
	return out
}

// observedPeer is a servent on n whose info logs the test reads.
func observedPeer(t *testing.T, n *memnet.Network, addr string) (*Servent, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := memConfig(t, n, addr)
	cfg.Logger = zap.New(core)
	return startServent(t, cfg), logs
}

// Close says Bye 200 to every peer, and each peer receives and logs it,
// even when the context Start was given was cancelled first (as a signal
// context is, the moment SIGINT arrives): that context bounds Start's own
// work, not the servent's life.
func TestCloseSaysByeAfterStartContextCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s, err := New(memConfig(t, n, "127.0.0.1:6346"))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		require.NoError(t, s.Start(ctx))
		p1, logs1 := observedPeer(t, n, "127.0.0.2:6346")
		p2, logs2 := observedPeer(t, n, "127.0.0.3:6346")
		require.NoError(t, p1.Connect(s.Addr()))
		require.NoError(t, p2.Connect(s.Addr()))
		synctest.Wait()
		require.Len(t, s.Peers(), 2)

		cancel()
		synctest.Wait()
		assert.Len(t, s.Peers(), 2, "cancelling the Start context stops nothing")
		require.NoError(t, s.Close())
		// Close returns once each peer took the Bye and closed in turn.
		assert.Equal(t, []string{"200 Shutting Down"}, byesLogged(logs1))
		assert.Equal(t, []string{"200 Shutting Down"}, byesLogged(logs2))
		synctest.Wait()
		assert.Empty(t, p1.Peers())
		assert.Empty(t, p2.Peers())
		require.NoError(t, s.Close(), "a second Close is harmless")
	})
}

// A link whose handshake completes while Close is under way gets its Bye
// 200 too, instead of a bare close.
func TestByeForLinkEstablishedDuringClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		core, logs := observer.New(zapcore.InfoLevel)
		cfg := memConfig(t, n, "127.0.0.1:6346")
		cfg.Logger = zap.New(core)
		s, err := New(cfg)
		require.NoError(t, err)
		require.NoError(t, s.Start(context.Background()))
		nc, br := connectMemRaw(t, n, s.Addr(), false)

		closed := make(chan struct{})
		go func() {
			s.Close()
			close(closed)
		}()
		synctest.Wait() // Close is waiting for the handshake in progress
		_, err = nc.Write([]byte("GNUTELLA/0.6 200 OK\r\n\r\n"))
		require.NoError(t, err)
		r := wire.NewReader(br, 0)
		var bye *wire.Message
		for {
			m, err := r.ReadMessage()
			require.NoError(t, err, "closed without a Bye")
			if m.Header.Type == wire.TypeBye {
				bye = m
				break
			}
		}
		assert.EqualValues(t, 200, bye.Bye.Code)
		assert.Equal(t, "Shutting Down", string(bye.Bye.Reason()))
		nc.Close()
		<-closed
		assert.Equal(t, 1, logs.FilterMessage("disconnected").FilterField(zap.Uint32("bye_sent", 200)).Len(), "and says so")
	})
}

// TestCloseWaitsForHandshakeInFlight: a peer whose link is coming up when
// we shut down (it has sent its final 200 and is in the TLS handshake of
// the upgrade) still gets our Bye: Close lets the handshake finish within
// the Bye window instead of cutting it, and the link that came up too late
// is told "Shutting Down". Cut, the peer's TLS handshake failed: from its
// side a link it had agreed to vanished without a word (govent run, sent
// SIGTERM under load, lost the Bye to a peer now and then).
func TestCloseWaitsForHandshakeInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s, err := New(memConfig(t, n, "127.0.0.1:6346"))
		require.NoError(t, err)
		require.NoError(t, s.Start(t.Context()))
		nc, err := n.DialFrom(context.Background(), netip.MustParseAddr("127.0.0.9"), "tcp", s.Addr().String())
		require.NoError(t, err)
		defer nc.Close()
		br := bufio.NewReader(nc)
		_, err = nc.Write([]byte(rawConnect("Upgrade: TLS/1.0")))
		require.NoError(t, err)
		ans, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
		require.NoError(t, err)
		require.True(t, ans.HasToken("Upgrade", "TLS/1.0"))
		_, err = nc.Write([]byte("GNUTELLA/0.6 200 OK\r\nConnection: Upgrade\r\n\r\n"))
		require.NoError(t, err)
		synctest.Wait() // the servent waits for our ClientHello

		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		synctest.Wait() // Close is under way
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
		require.NoError(t, tc.Handshake(), "the servent finished the handshake it had begun")
		r := wire.NewReader(bufio.NewReader(tc), 1<<16)
		for {
			m, err := r.ReadMessage()
			require.NoError(t, err, "reading until the Bye")
			if m.Header.Type == wire.TypeBye {
				assert.EqualValues(t, 200, m.Bye.Code)
				assert.Equal(t, "Shutting Down", string(m.Bye.Reason()))
				break
			}
		}
		require.NoError(t, <-closed)
	})
}
