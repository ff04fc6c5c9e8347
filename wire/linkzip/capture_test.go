package linkzip_test

import (
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire/capture"
)

// leafDeflatePcap is gtk-gnutella 1.2.3 (port 6350) talking to a test probe
// (port 45872) with deflate both ways; see testdata/gtk-gnutella/README.md
// in the shared fixtures.
const leafDeflatePcap = "../../testdata/leaf-deflate.pcap"

// compressedSegments returns what port srcPort sent in leaf-deflate.pcap
// after its handshakeBlocks handshake blocks: that direction's zlib
// stream, one slice per TCP segment, as wire/capture reassembled it.
func compressedSegments(t testing.TB, srcPort layers.TCPPort, handshakeBlocks int) [][]byte {
	t.Helper()
	sessions, err := capture.DecodeFile(leafDeflatePcap, capture.Options{})
	require.NoError(t, err)
	var s *capture.Stream
	var f capture.Flow
	for _, sess := range sessions {
		switch uint16(srcPort) {
		case sess.Conn.FromClient.From.Port():
			s, f = &sess.Conn.FromClient, sess.FromClient
		case sess.Conn.FromServer.From.Port():
			s, f = &sess.Conn.FromServer, sess.FromServer
		}
	}
	require.NotNil(t, s, "nothing from port %d", srcPort)
	require.NoError(t, s.Err())
	require.Len(t, f.Blocks, handshakeBlocks)
	require.True(t, f.Deflate)

	body := len(s.Data) - len(f.Wire)
	var segs [][]byte
	for i, seg := range s.Timeline {
		end := len(s.Data)
		if i+1 < len(s.Timeline) {
			end = s.Timeline[i+1].Offset
		}
		if start := max(seg.Offset, body); start < end {
			segs = append(segs, s.Data[start:end:end])
		}
	}
	return segs
}
