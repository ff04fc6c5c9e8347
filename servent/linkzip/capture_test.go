package linkzip

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
)

// leafDeflatePcap is gtk-gnutella 1.2.3 (port 6350) talking to a test probe
// (port 45872) with deflate both ways; see testdata/gtk-gnutella/README.md
// in the shared fixtures.
const leafDeflatePcap = "../../testdata/leaf-deflate.pcap"

// compressedSegments returns the TCP payloads sent from port srcPort in
// leaf-deflate.pcap, with the first handshakeBlocks handshake blocks (each
// ending in an empty line) cut off the front: what is left is that
// direction's zlib stream, one slice per TCP segment. The capture has no
// retransmissions; the sequence numbers are checked to be contiguous so a
// reordering would fail here rather than as a confusing inflate error.
func compressedSegments(t testing.TB, srcPort layers.TCPPort, handshakeBlocks int) [][]byte {
	t.Helper()
	f, err := os.Open(leafDeflatePcap)
	require.NoError(t, err)
	defer f.Close()
	pr, err := pcapgo.NewReader(f)
	require.NoError(t, err)

	var segs [][]byte
	var next uint32
	for {
		data, _, err := pr.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		pkt := gopacket.NewPacket(data, pr.LinkType(), gopacket.Default)
		tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || tcp.SrcPort != srcPort || len(tcp.Payload) == 0 {
			continue
		}
		if segs != nil {
			require.Equal(t, next, tcp.Seq, "segment out of order")
		}
		next = tcp.Seq + uint32(len(tcp.Payload))
		segs = append(segs, append([]byte(nil), tcp.Payload...))
	}

	for range handshakeBlocks {
		require.NotEmpty(t, segs)
		end := bytes.Index(segs[0], []byte("\r\n\r\n"))
		require.GreaterOrEqual(t, end, 0, "handshake block split across segments")
		segs[0] = segs[0][end+4:]
		if len(segs[0]) == 0 {
			segs = segs[1:]
		}
	}
	return segs
}
