package wire_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/capture"
)

// The gtk-gnutella captures are read with wire/capture: reassembled,
// split into handshake blocks and descriptor streams, inflated.

// captureDir holds the captures (copied from shared/testdata/gtk-gnutella,
// same names and bytes).
const captureDir = "../testdata"

// allCaptures lists the captures copied into testdata for these tests.
var allCaptures = []string{
	"leaf-deflate.pcap", "ultrapeer-plain.pcap", "http.pcap",
	"outbound.pcap", "handshake-04-refused.pcap", "push-giv.pcap",
}

// captureFlow is one direction of one connection: the bytes sent (raw)
// and what they carry.
type captureFlow struct {
	capture.Flow
	raw  *capture.Stream
	name string // "src:port>dst:port"
}

// captureFlows returns every direction of a capture that sent anything, in
// the order of their first bytes.
func captureFlows(t testing.TB, name string) []captureFlow {
	t.Helper()
	c, err := capture.ReadFile(filepath.Join(captureDir, name), capture.Options{})
	require.NoError(t, err)
	require.Zero(t, c.Skipped, "%s: every frame is TCP over IP", name)
	var flows []captureFlow
	for _, conn := range c.Conns {
		s := capture.Split(conn, capture.Options{})
		for _, f := range []captureFlow{{s.FromClient, &conn.FromClient, ""}, {s.FromServer, &conn.FromServer, ""}} {
			if len(f.raw.Data) > 0 {
				f.name = f.From.String() + ">" + f.To.String()
				flows = append(flows, f)
			}
		}
	}
	slices.SortStableFunc(flows, func(a, b captureFlow) int { return a.raw.Timeline[0].Time.Compare(b.raw.Timeline[0].Time) })
	return flows
}

// flowBetween returns the flow from fromPort to toPort (0 is any port);
// exactly one must match.
func flowBetween(t testing.TB, flows []captureFlow, fromPort, toPort uint16) captureFlow {
	t.Helper()
	var found []captureFlow
	for _, f := range flows {
		if (fromPort == 0 || f.From.Port() == fromPort) && (toPort == 0 || f.To.Port() == toPort) {
			found = append(found, f)
		}
	}
	require.Len(t, found, 1, "flows %d->%d", fromPort, toPort)
	return found[0]
}

// capturedDescriptor is one descriptor read from a capture.
type capturedDescriptor struct {
	Flow    string // "src:port>dst:port"
	Header  wire.Header
	Payload []byte
	Raw     []byte // header and payload as on the wire (after inflating)
}

// splitDescriptors cuts a descriptor stream, which must end on a boundary.
func splitDescriptors(t testing.TB, flow string, stream []byte) []capturedDescriptor {
	t.Helper()
	var out []capturedDescriptor
	sc := capture.NewDescriptorScanner(stream, nil)
	for sc.Scan() {
		g := sc.Descriptor().Layer
		raw := stream[sc.Descriptor().Offset:sc.Offset():sc.Offset()]
		out = append(out, capturedDescriptor{Flow: flow, Header: g.Header, Payload: raw[wire.HeaderLen:], Raw: raw})
	}
	require.NoError(t, sc.Err(), flow)
	return out
}

// captureDescriptors reads every descriptor of every Gnutella stream in a
// capture (HTTP, GIV and refused connections yield none).
func captureDescriptors(t testing.TB, name string) []capturedDescriptor {
	t.Helper()
	var out []capturedDescriptor
	for _, f := range captureFlows(t, name) {
		if f.Kind != capture.KindGnutella06 && f.Kind != capture.KindGnutella04 {
			continue
		}
		require.NoError(t, f.Err, f.name)
		out = append(out, splitDescriptors(t, f.name, f.Descriptors)...)
	}
	return out
}

// findDescriptor returns the n-th (0-based) captured descriptor of type pt
// whose payload satisfies match (nil matches all).
func findDescriptor(t testing.TB, capture string, pt wire.PayloadType, n int, match func([]byte) bool) capturedDescriptor {
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
