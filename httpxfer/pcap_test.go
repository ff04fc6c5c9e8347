package httpxfer

import (
	"bytes"
	"os"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
)

// tcpStreams returns the TCP payload of a classic pcap per direction,
// keyed by {source port, destination port}. The gtk-gnutella captures are
// loopback, in order and without retransmissions (testdata README), so
// concatenating payloads in capture order is the stream.
func tcpStreams(t *testing.T, path string) map[[2]uint16][]byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	streams := make(map[[2]uint16][]byte)
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || len(tcp.Payload) == 0 {
			continue
		}
		k := [2]uint16{uint16(tcp.SrcPort), uint16(tcp.DstPort)}
		streams[k] = append(streams[k], tcp.Payload...)
	}
	require.NotEmpty(t, streams)
	return streams
}

// splitHead splits an HTTP response into head (with its CRLF CRLF) and body.
func splitHead(t *testing.T, b []byte) (head, body []byte) {
	t.Helper()
	i := bytes.Index(b, []byte("\r\n\r\n"))
	require.Positive(t, i)
	return b[:i+4], b[i+4:]
}
