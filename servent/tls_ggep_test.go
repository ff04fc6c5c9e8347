package servent

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// gtkgTLSDescriptors are the Pong and the first QueryHit gtk-gnutella
// sent in ultrapeer-plain.pcap, both with GGEP "TLS" (its Pong: VC, UP, DU,
// TLS; its QueryHit's QHD: GTKGV, TLS, BH).
func gtkgTLSDescriptors(t *testing.T) (pong, hit wire.Message) {
	t.Helper()
	_, rest := cutBlock(t, gtkStream(t, "ultrapeer-plain.pcap", func(src, _ uint16) bool { return src == 6350 }))
	r := wire.NewReader(bytes.NewReader(rest), 0)
	var havePong, haveHit bool
	for !havePong || !haveHit {
		m, err := r.ReadMessage()
		require.NoError(t, err)
		own := wire.Message{Header: m.Header, Payload: append([]byte(nil), m.Payload...)}
		switch {
		case m.Header.Type == wire.TypePong && !havePong:
			pong, havePong = own, true
		case m.Header.Type == wire.TypeQueryHit && !haveHit:
			hit, haveHit = own, true
		}
	}
	return pong, hit
}

// gtkgTLSExtension is GGEP "TLS" as gtk-gnutella wrote it last in its
// Pong: flags 0x83 (last, an ID of 3 bytes), "TLS", length 0 (0x40).
func gtkgTLSExtension(t *testing.T, pong wire.Message) []byte {
	t.Helper()
	var p wire.Pong
	require.NoError(t, p.Decode(pong.Payload))
	exts := p.GGEP.Extensions
	require.NotEmpty(t, exts)
	require.Equal(t, "TLS", string(exts[len(exts)-1].ID), "gtk-gnutella's Pong ends with TLS")
	ext := pong.Payload[len(pong.Payload)-5:]
	require.Equal(t, []byte{0x83, 'T', 'L', 'S', 0x40}, ext)
	return ext
}

// Our Pongs and QueryHits carry GGEP "TLS" in exactly gtk-gnutella's bytes
// (as recorded), and not with TLS off.
func TestGGEPTLSAdvertisedAsGtkg(t *testing.T) {
	pong, hit := gtkgTLSDescriptors(t)
	ext := gtkgTLSExtension(t, pong)
	// In gtk-gnutella's QueryHit the extension is not the last: the same
	// bytes without the "last" bit.
	assert.Contains(t, string(hit.Payload), string(append([]byte{ext[0] &^ 0x80}, ext[1:]...)))

	for _, noTLS := range []bool{false, true} {
		vtest(t, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.NoTLS = noTLS
			cfg.ShareDir = shareDir(t, map[string]string{"penny lane.mp3": "strawberry"})
			s := startServent(t, cfg)
			p := dialRaw(t, s.Addr())
			p.handshake06()
			ping := guidN(7, 1)
			p.send(wire.Message{Header: wire.Header{GUID: ping, Type: wire.TypePing, TTL: 1}})
			ourPong := append([]byte(nil), p.readUntil("our Pong", func(m *wire.Message) bool {
				return m.Header.Type == wire.TypePong && m.Header.GUID == ping
			}).Payload...) // the reader reuses its message and buffer
			p.send(queryMsg(guidN(7, 2), 1, "penny"))
			ourHit := p.readUntil("our QueryHit", func(m *wire.Message) bool { return m.Header.Type == wire.TypeQueryHit })
			// The QHD's private data is the last thing before the servent
			// GUID: a GGEP block holding TLS alone.
			qhd := ourHit.Payload[:len(ourHit.Payload)-wire.GUIDLen]
			if noTLS {
				assert.NotContains(t, string(ourPong), "TLS", "NoTLS: no GGEP TLS in the Pong")
				assert.NotContains(t, string(qhd), "TLS", "nor in the QueryHit")
				return
			}
			assert.True(t, bytes.HasSuffix(ourPong, ext), "our Pong ends with gtk-gnutella's TLS bytes: % x", ourPong)
			assert.True(t, bytes.HasSuffix(qhd, append([]byte{wire.GGEPMagic}, ext...)), "our QHD's GGEP is TLS alone, in gtk-gnutella's bytes: % x", qhd)
			var qh wire.QueryHit
			require.NoError(t, qh.Decode(ourHit.Payload))
			ggep, _ := qh.QHD.GGEPFlag()
			assert.True(t, ggep, "the QHD says it has GGEP")
		})
	}
}

// gtk-gnutella's recorded Pong and QueryHit, replayed by a peer, teach us
// that 127.0.0.1:6350 takes TLS: the hit's result says so, and the
// download dialler would open TLS to it.
func TestGGEPTLSReadFromGtkg(t *testing.T) {
	pong, hit := gtkgTLSDescriptors(t)
	gtkg := netip.MustParseAddrPort("127.0.0.1:6350")
	vtest(t, func(t *testing.T) {
		s := startServent(t, testConfig(t))
		p := dialRaw(t, s.Addr())
		p.handshake06()
		ping := p.readUntil("our Ping", func(m *wire.Message) bool { return m.Header.Type == wire.TypePing })
		_, err := p.nc.Write(rawDescriptor(t, ping.Header.GUID, pong))
		require.NoError(t, err)
		waitFor(t, "the Pong's host is known to take TLS", func() bool { return s.xfer.tlsHosts.Known(gtkg) })

		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sr, err := s.Search(ctx, "penny")
		require.NoError(t, err)
		q := p.readUntil("our Query", func(m *wire.Message) bool { return m.Header.Type == wire.TypeQuery })
		_, err = p.nc.Write(rawDescriptor(t, q.Header.GUID, hit))
		require.NoError(t, err)
		res := collect(t, sr, 1, 5*time.Second)
		require.Len(t, res, 1)
		assert.Equal(t, gtkg, res[0].Addr)
		assert.True(t, res[0].TLS, "GGEP TLS in gtk-gnutella's QHD")
		assert.True(t, SourceOf(res[0]).TLS)
	})
}

// rawDescriptor is a recorded descriptor re-addressed to guid, TTL and
// hops as recorded, its payload byte for byte.
func rawDescriptor(t *testing.T, guid wire.GUID, m wire.Message) []byte {
	t.Helper()
	h := m.Header
	h.GUID = guid
	h.Length = uint32(len(m.Payload))
	return append(h.Append(nil), m.Payload...)
}
