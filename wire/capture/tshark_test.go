package capture

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// tsharkFields are the Gnutella fields Wireshark's dissector knows, in the
// order we ask for them.
var tsharkFields = []string{
	"gnutella.header.id", "gnutella.header.payload", "gnutella.header.ttl", "gnutella.header.hops", "gnutella.header.size",
	"gnutella.pong.port", "gnutella.pong.ip", "gnutella.pong.files", "gnutella.pong.kbytes",
	"gnutella.query.min_speed", "gnutella.query.search",
	"gnutella.queryhit.count", "gnutella.queryhit.port", "gnutella.queryhit.ip", "gnutella.queryhit.speed",
	"gnutella.queryhit.hit.index", "gnutella.queryhit.hit.size", "gnutella.queryhit.hit.name", "gnutella.queryhit.servent_id",
	"gnutella.push.servent_id", "gnutella.push.index", "gnutella.push.ip", "gnutella.push.port",
}

// TestTsharkAgrees writes a pcap of our encoded messages on port 6346 and
// checks that Wireshark's independent Gnutella dissector reads every field
// as we meant it: byte order (little-endian fields, big-endian IPv4), field
// offsets and lengths.
func TestTsharkAgrees(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark is not installed; CI must install it (.ci/run does: apt-get install tshark)")
		}
		t.Skip("tshark not installed: skipping the cross-check (apt-get install tshark to run it)")
	}

	guid := func(b byte) wire.GUID {
		var g wire.GUID
		for i := range g {
			g[i] = b + byte(i)
		}
		return g
	}
	sha := wire.SHA1{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	oldQuery := wire.Query{Criteria: []byte("old style")}
	oldQuery.SetMinSpeed(0x0123)
	newQuery := wire.Query{Criteria: []byte("penny lane"), Ext: wire.ExtArea{Blocks: []wire.ExtBlock{wire.NewSHA1Block(sha)}, Terminated: true}}
	newQuery.SetFlags(wire.QueryFlagGGEPH | wire.QueryFlagFirewalled)
	hit := wire.QueryHit{
		Port: 0x18ce, Addr: netip.MustParseAddr("192.0.2.77"), Speed: 0x01020304,
		Results: []wire.Result{
			{Index: 7, Size: 0x00012345, Name: []byte("first file.mp3"), Ext: wire.ExtArea{Blocks: []wire.ExtBlock{wire.NewSHA1Block(sha)}, Terminated: true}},
			{Index: 0x01000002, Size: 99, Name: []byte("second.ogg"), Ext: wire.ExtArea{Terminated: true}},
		},
		HasQHD:      true,
		QHD:         wire.QHD{Vendor: [4]byte{'G', 'O', 'V', 'T'}},
		ServentGUID: guid(0xA0),
	}
	hit.QHD.SetPush(true)
	msgs := []wire.Message{
		{Header: wire.Header{GUID: guid(0x10), Type: wire.TypePing, TTL: 7}},
		{Header: wire.Header{GUID: guid(0x20), Type: wire.TypePong, TTL: 3, Hops: 4},
			Pong: wire.Pong{Port: 0x1234, Addr: netip.MustParseAddr("10.20.30.40"), Files: 0x01020304, KB: 0x0a0b0c0d}},
		{Header: wire.Header{GUID: guid(0x30), Type: wire.TypeQuery, TTL: 5, Hops: 2}, Query: oldQuery},
		{Header: wire.Header{GUID: guid(0x40), Type: wire.TypeQuery, TTL: 6, Hops: 1}, Query: newQuery},
		{Header: wire.Header{GUID: guid(0x50), Type: wire.TypeQueryHit, TTL: 2, Hops: 5}, QueryHit: hit},
		{Header: wire.Header{GUID: guid(0x60), Type: wire.TypePush, TTL: 7},
			Push: wire.Push{ServentGUID: guid(0xB0), Index: 0x0badcafe, Addr: netip.MustParseAddr("198.51.100.9"), Port: 0x1ae1}},
	}
	var chunks []Chunk
	for _, m := range msgs {
		b, err := m.Append(nil)
		require.NoError(t, err)
		chunks = append(chunks, Chunk{Dir: ClientToServer, Data: b})
	}
	path := filepath.Join(t.TempDir(), "ours.pcap")
	var buf bytes.Buffer
	require.NoError(t, WriteConn(&buf, 40000, chunks))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))

	args := []string{"-n", "-r", path, "-Y", "gnutella.header", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-E", "separator=/t"}
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command(tshark, args...).Output()
	require.NoError(t, err, "tshark failed")
	var rows []map[string]string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		cols := strings.Split(line, "\t")
		require.Len(t, cols, len(tsharkFields), "line %q", line)
		row := map[string]string{}
		for i, f := range tsharkFields {
			row[f] = cols[i]
		}
		rows = append(rows, row)
	}
	require.Len(t, rows, len(msgs), "one dissected packet per descriptor:\n%s", out)

	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	for i, m := range msgs {
		row := rows[i]
		name := m.Header.Type.String()
		assert.Equal(t, hex.EncodeToString(m.Header.GUID[:]), row["gnutella.header.id"], name)
		assert.Equal(t, u(uint64(m.Header.Type)), row["gnutella.header.payload"], name)
		assert.Equal(t, u(uint64(m.Header.TTL)), row["gnutella.header.ttl"], name)
		assert.Equal(t, u(uint64(m.Header.Hops)), row["gnutella.header.hops"], name)
		assert.Equal(t, u(uint64(m.Len())), row["gnutella.header.size"], name)
		switch m.Header.Type {
		case wire.TypePong:
			assert.Equal(t, u(uint64(m.Pong.Port)), row["gnutella.pong.port"])
			assert.Equal(t, m.Pong.Addr.String(), row["gnutella.pong.ip"])
			assert.Equal(t, u(uint64(m.Pong.Files)), row["gnutella.pong.files"])
			assert.Equal(t, u(uint64(m.Pong.KB)), row["gnutella.pong.kbytes"])
		case wire.TypeQuery:
			// Wireshark reads the word as the 0.4 little-endian minimum
			// speed whatever it holds: that checks our byte order of
			// both readings.
			assert.Equal(t, u(uint64(m.Query.MinSpeed())), row["gnutella.query.min_speed"], name)
			assert.Equal(t, string(m.Query.Criteria), row["gnutella.query.search"], name)
		case wire.TypeQueryHit:
			q := &m.QueryHit
			assert.Equal(t, u(uint64(len(q.Results))), row["gnutella.queryhit.count"])
			assert.Equal(t, u(uint64(q.Port)), row["gnutella.queryhit.port"])
			assert.Equal(t, q.Addr.String(), row["gnutella.queryhit.ip"])
			assert.Equal(t, u(uint64(q.Speed)), row["gnutella.queryhit.speed"])
			var idx, size, names []string
			for _, r := range q.Results {
				idx = append(idx, u(uint64(r.Index)))
				size = append(size, u(uint64(r.Size)))
				names = append(names, string(r.Name))
			}
			assert.Equal(t, strings.Join(idx, "|"), row["gnutella.queryhit.hit.index"])
			assert.Equal(t, strings.Join(size, "|"), row["gnutella.queryhit.hit.size"])
			assert.Equal(t, strings.Join(names, "|"), row["gnutella.queryhit.hit.name"])
			assert.Equal(t, hex.EncodeToString(q.ServentGUID[:]), row["gnutella.queryhit.servent_id"])
		case wire.TypePush:
			p := &m.Push
			assert.Equal(t, hex.EncodeToString(p.ServentGUID[:]), row["gnutella.push.servent_id"])
			assert.Equal(t, u(uint64(p.Index)), row["gnutella.push.index"])
			assert.Equal(t, p.Addr.String(), row["gnutella.push.ip"])
			assert.Equal(t, u(uint64(p.Port)), row["gnutella.push.port"])
		}
	}
}
