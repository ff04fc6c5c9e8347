package wire

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
)

// This is a test-only reader for the gtk-gnutella captures: classic pcap,
// Ethernet + IPv4 + TCP, in order and without retransmissions, so each
// direction's bytes are its TCP payloads concatenated. The real capture
// decoder lives elsewhere; these tests must not depend on it.

// capturedDescriptor is one descriptor read from a capture.
type capturedDescriptor struct {
	Flow    string // "src:port>dst:port"
	Header  Header
	Payload []byte
	Raw     []byte // header and payload as on the wire (after inflating)
}

// captureStreams returns each TCP direction's bytes, keyed by flow, in the
// order the flows first appear.
func captureStreams(t testing.TB, path string) (flows []string, streams map[string][]byte) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	require.Equal(t, layers.LinkTypeEthernet, r.LinkType())

	var (
		eth     layers.Ethernet
		ip4     layers.IPv4
		tcp     layers.TCP
		payload gopacket.Payload
		decoded []gopacket.LayerType
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &tcp, &payload)
	streams = map[string][]byte{}
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		// An empty TCP segment ends the layer chain early; that is fine.
		_ = parser.DecodeLayers(data, &decoded)
		if len(tcp.Payload) == 0 || len(decoded) < 3 {
			continue
		}
		flow := fmt.Sprintf("%v:%d>%v:%d", ip4.SrcIP, uint16(tcp.SrcPort), ip4.DstIP, uint16(tcp.DstPort))
		if _, seen := streams[flow]; !seen {
			flows = append(flows, flow)
		}
		streams[flow] = append(streams[flow], tcp.Payload...)
	}
	return flows, streams
}

// captureDescriptors reads every descriptor of every Gnutella 0.6 stream in
// a capture (HTTP, GIV and refused connections yield none).
func captureDescriptors(t testing.TB, name string) []capturedDescriptor {
	t.Helper()
	flows, streams := captureStreams(t, filepath.Join("..", "testdata", name))
	var out []capturedDescriptor
	for _, flow := range flows {
		data, ok := skipHandshake(streams[flow])
		if !ok {
			continue
		}
		out = append(out, splitDescriptors(t, flow, data)...)
	}
	return out
}

// skipHandshake drops the handshake blocks of one direction, up to the
// blank line after its final "200" block, and inflates the rest when that
// block turned on deflate.
func skipHandshake(s []byte) ([]byte, bool) {
	if !bytes.HasPrefix(s, []byte("GNUTELLA CONNECT/0.6\r\n")) && !bytes.HasPrefix(s, []byte("GNUTELLA/0.6 ")) {
		return nil, false
	}
	for {
		end := bytes.Index(s, []byte("\r\n\r\n"))
		if end < 0 {
			return nil, false
		}
		block := s[:end+2]
		s = s[end+4:]
		if !bytes.HasPrefix(block, []byte("GNUTELLA/0.6 200")) {
			continue
		}
		if !bytes.Contains(block, []byte("\r\nContent-Encoding: deflate\r\n")) {
			return s, true
		}
		zr, err := zlib.NewReader(bytes.NewReader(s))
		if err != nil {
			return nil, false
		}
		// The captured streams never end: read to the unexpected EOF.
		out, err := io.ReadAll(zr)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, false
		}
		return out, true
	}
}

func splitDescriptors(t testing.TB, flow string, data []byte) []capturedDescriptor {
	t.Helper()
	var out []capturedDescriptor
	for len(data) > 0 {
		h, err := ParseHeader(data)
		require.NoError(t, err, flow)
		n := HeaderLen + int(h.Length)
		require.LessOrEqual(t, n, len(data), "%s: descriptor runs past the captured bytes", flow)
		out = append(out, capturedDescriptor{Flow: flow, Header: h, Payload: data[HeaderLen:n:n], Raw: data[:n:n]})
		data = data[n:]
	}
	return out
}

// allCaptures lists the captures copied into testdata for these tests.
var allCaptures = []string{
	"leaf-deflate.pcap", "ultrapeer-plain.pcap", "http.pcap",
	"outbound.pcap", "handshake-04-refused.pcap", "push-giv.pcap",
}

// findDescriptor returns the n-th (0-based) captured descriptor of type pt
// whose payload satisfies match (nil matches all).
func findDescriptor(t testing.TB, capture string, pt PayloadType, n int, match func([]byte) bool) capturedDescriptor {
	t.Helper()
	for _, d := range captureDescriptors(t, capture) {
		if d.Header.Type != pt || (match != nil && !match(d.Payload)) {
			continue
		}
		if n == 0 {
			return d
		}
		n--
	}
	require.FailNow(t, "descriptor not found", "%s: %v #%d", capture, pt, n)
	return capturedDescriptor{}
}
