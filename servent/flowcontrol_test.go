package servent

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/sendq"
	"github.com/govent/govent/wire"
)

// dialSmallWindow dials addr on the test's in-memory network with a
// receive buffer of 4 KiB, so a peer that stops reading fills the sender's
// side quickly.
func dialSmallWindow(t testing.TB, addr netip.AddrPort) *rawPeer {
	t.Helper()
	n := testNetwork(t)
	require.NotNil(t, n, "under vtest")
	n.BufferSize = 4096
	defer func() { n.BufferSize = 0 }()
	return dialRaw(t, addr)
}

// connFrom returns s's connection whose TCP peer is the local end of nc.
func connFrom(s *Servent, nc net.Conn) *conn {
	remote := addrPortOf(nc.LocalAddr())
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if c.peer.remote == remote {
			return c
		}
	}
	return nil
}

// TestStuckPeer builds S with three neighbours: R, a raw peer that
// handshakes and then never reads; N, a normal servent; F, a raw peer that
// floods Queries into S. N keeps getting every Query while R's queue enters
// flow control and drops Queries (and only Queries: a Pong for R still gets
// in), until R has been stuck for StuckAfter and S says Bye 502, which R
// reads once it reads again. In virtual time: StuckAfter passes as the test
// waits, however loaded the machine.
func TestStuckPeer(t *testing.T) {
	vtest(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.StuckAfter = 300 * time.Millisecond
		s := startServent(t, cfg)
		n := startServent(t, testConfig(t))
		require.NoError(t, n.Connect(s.Addr()))

		r := dialSmallWindow(t, s.Addr())
		r.handshake06()
		f := dialRaw(t, s.Addr())
		f.handshake06()
		go func() { _, _ = io.Copy(io.Discard, f.br) }() // F reads whatever S sends it
		waitFor(t, "three neighbours", func() bool { return len(s.Peers()) == 3 })
		rc := connFrom(s, r.nc)
		require.NotNil(t, rc)

		// Queries of about 1 KiB in batches that N's queue holds well below
		// its flow-control mark; each batch waits until N has them all, so N
		// is never the slow one.
		const batch = 32
		text := "flood " + strings.Repeat("q", 1000)
		sent := 0
		flood := func() {
			var buf []byte
			for range batch {
				m := queryMsg(guidN('f', uint32(sent)), 2, text)
				var err error
				buf, err = m.Append(buf)
				require.NoError(t, err)
				sent++
			}
			_, err := f.nc.Write(buf)
			require.NoError(t, err)
			waitFor(t, "N receives every Query", func() bool { return queryCount(n) == uint64(sent) })
		}

		for !rc.q.InFlowControl() {
			flood()
			require.Less(t, sent, 200_000, "R's queue never entered flow control")
		}
		t.Logf("R's queue entered flow control after %d Queries", sent)

		// In flow control: R's Ping is still answered (a Pong outranks the
		// Queries being refused).
		ping := wire.Message{Header: wire.Header{GUID: guidN('r', 1), Type: wire.TypePing, TTL: 1}}
		r.send(ping)
		waitFor(t, "S queues a Pong for R", func() bool {
			return rc.q.Stats().Class[sendq.ClassPong].Enqueued >= 1
		})
		before := queryCount(n)
		for range 4 {
			flood()
		}
		assert.Equal(t, before+4*batch, queryCount(n), "N got every Query while R was stuck")

		st := rc.q.Stats()
		assert.NotZero(t, st.Class[sendq.ClassQuery].Dropped[sendq.DropFlowControl], "R's Queries are dropped")
		for _, cl := range []sendq.Class{sendq.ClassPong, sendq.ClassQueryHit, sendq.ClassPush, sendq.ClassControl} {
			assert.Zero(t, st.Class[cl].TotalDropped(), "nothing of class %s is dropped", cl)
		}
		for _, p := range s.Peers() {
			switch p.Addr {
			case addrPortOf(r.nc.LocalAddr()):
				assert.NotZero(t, p.Dropped, "R's drops show in Peers")
			default:
				assert.Zero(t, p.Dropped, "%s lost descriptors", p.Addr)
			}
		}
		assert.NotZero(t, s.Stats().QueueDrops)

		// Keep flooding until S gives up on R.
		for rc.byeCode.Load() == 0 {
			flood()
			require.Less(t, sent, 400_000, "R was never found stuck")
		}
		assert.EqualValues(t, wire.ByeSendQueueFull, rc.byeCode.Load())
		bye := r.readBye()
		assert.EqualValues(t, 502, bye.Code)
		assert.Equal(t, "Send Queue Full", string(bye.Reason()))
		waitFor(t, "R gone, N and F kept", func() bool { return len(s.Peers()) == 2 })
		assert.Len(t, n.Peers(), 1)
	})
}
