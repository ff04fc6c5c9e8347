package servent

import (
	"bytes"
	"compress/zlib"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/linkzip"
)

// The network-facing limits the other tests leave unproven: the first-phase
// places all told, the time a host we dial may take to answer, and the
// inflate work a compressed link may cause.

// Silent sockets from as many addresses as there are first-phase places
// (none over its address's or its network's share) fill them all: the
// next connection is refused, and answered 503 when it speaks, while the
// silent ones are younger than pendingEvictAge; after it, a newcomer takes
// the oldest one's place, and HandshakeTimeout closes the rest.
func TestFirstPhasePlacesAllTold(t *testing.T) {
	vtest(t, func(t *testing.T) {
		n := testNetwork(t)
		cfg := lockoutConfig(t, n, "127.0.0.1:6346")
		cfg.HandshakeTimeout = 5 * time.Second
		s := startServent(t, cfg)
		places := 4*s.cfg.MaxPeers + 4*s.cfg.MaxUploads + 64
		var silent []*rawPeer
		for i := range places {
			silent = append(silent, dialRawFrom(t, n.Host(netip.AddrFrom4([4]byte{127, 1, byte(i), 1})), s.Addr()))
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Second)

		late := dialRawFrom(t, n.Host(ip("127.0.0.3")), s.Addr())
		code, reason, err := late.tryHandshake(rawConnect())
		require.NoError(t, err)
		assert.Equal(t, 503, code)
		assert.Equal(t, reasonBusy, reason)
		assert.EqualValues(t, 1, s.Stats().RefusedPending)
		assert.Zero(t, s.Stats().RefusedPendingPerIP)
		assert.True(t, silent[0].isOpen())

		time.Sleep(pendingEvictAge) // the oldest silent one is old enough
		p := dialRawFrom(t, n.Host(ip("127.0.0.4")), s.Addr())
		code, reason, err = p.tryHandshake(rawConnect())
		require.NoError(t, err)
		assert.Equal(t, 200, code, reason)
		assert.EqualValues(t, 1, s.Stats().EvictedPending)
		assert.False(t, silent[0].isOpen(), "the oldest gave its place")
		assert.True(t, silent[1].isOpen(), "the others keep theirs")

		time.Sleep(5 * time.Second) // the silent ones time out
		p = dialRawFrom(t, n.Host(ip("127.0.0.5")), s.Addr())
		code, reason, err = p.tryHandshake(rawConnect())
		require.NoError(t, err)
		assert.Equal(t, 200, code, reason)
		assert.EqualValues(t, 1, s.Stats().RefusedPending)
	})
}

// zeroStream is n bytes of zeros as one zlib stream at the best ratio
// deflate has (about 1000:1). On a link they read as 23-byte Pings with a
// zero GUID and TTL.
func zeroStream(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := zlib.NewWriterLevel(&b, zlib.BestCompression)
	require.NoError(t, err)
	zero := make([]byte, 64<<10)
	for ; n > 0; n -= len(zero) {
		_, err := zw.Write(zero[:min(n, len(zero))])
		require.NoError(t, err)
	}
	require.NoError(t, zw.Flush())
	return b.Bytes()
}

// A peer that compresses its side of the link and sends a bomb (64 MiB of
// zeros in some 64 KiB) makes the servent inflate no more than the bomb
// guard's window, some 1 MiB, before it closes the link: not the 64 MiB of
// descriptors the stream holds.
func TestLinkInflateIsBounded(t *testing.T) {
	vtest(t, func(t *testing.T) {
		s := startServent(t, testConfig(t))
		p := dialRaw(t, s.Addr())
		p.writeString(rawConnect())
		ans, err := p.readBlock()
		require.NoError(t, err)
		require.True(t, acceptsDeflate(ans), "the servent reads deflate")
		p.writeString("GNUTELLA/0.6 200 OK\r\nContent-Encoding: deflate\r\n\r\n")
		bomb := zeroStream(t, 64<<20)
		t.Logf("64 MiB of zeros in %d bytes", len(bomb))
		go func() { _, _ = p.nc.Write(bomb) }()
		p.expectClosed()
		waitFor(t, "the link gone", func() bool { return len(s.Peers()) == 0 })
		in := s.Traffic().InBytes[wire.TypePing]
		t.Logf("inflated %d bytes of Pings", in)
		assert.NotZero(t, in, "the stream was read")
		assert.LessOrEqual(t, in, uint64(2*linkzip.DefaultWindow), "inflated past the bomb guard's window")
	})
}

// A host that takes our connection and then says nothing (a tarpit) holds
// our dial for HandshakeTimeout, not longer: Connect fails then, and the
// slot it reserved is free again.
func TestDialHandshakeTimeout(t *testing.T) {
	for _, tc := range []struct{ name, answer string }{
		{"says nothing", ""},
		{"half an answer", "GNUTELLA/0.6 200 OK\r\nUser-Agent: Tarpit/1.0\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vtest(t, func(t *testing.T) {
				n := testNetwork(t)
				ln, err := n.Host(ip("127.0.0.2")).Listen(t.Context(), "tcp", "127.0.0.2:6346")
				require.NoError(t, err)
				t.Cleanup(func() { ln.Close() })
				go func() {
					for {
						nc, err := ln.Accept()
						if err != nil {
							return
						}
						t.Cleanup(func() { nc.Close() })
						if tc.answer != "" {
							_, _ = nc.Write([]byte(tc.answer))
						}
					}
				}()
				cfg := testConfig(t)
				cfg.HandshakeTimeout = 5 * time.Second
				s := startServent(t, cfg)
				start := time.Now()
				err = s.Connect(netip.MustParseAddrPort("127.0.0.2:6346"))
				require.Error(t, err)
				assert.Equal(t, 5*time.Second, time.Since(start), "gave up at HandshakeTimeout (virtual time)")
				peers, _, _ := slotsHeld(s)
				assert.Zero(t, peers, "the slot is free again")
			})
		})
	}
}
