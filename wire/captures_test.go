package wire_test

import (
	"bytes"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// Facts below come from /work/shared/testdata/gtk-gnutella/README.md.

var gtkgServent = "48c831020b29cc9f54ca85f81b70fef8"

// TestCapturesRoundTrip: every descriptor in every capture decodes, and
// Append gives back its exact bytes, header included.
func TestCapturesRoundTrip(t *testing.T) {
	total := 0
	for _, name := range allCaptures {
		t.Run(name, func(t *testing.T) {
			var m wire.Message
			for i, d := range captureDescriptors(t, name) {
				require.NoError(t, m.Decode(d.Header, d.Payload), "%s #%d %v", d.Flow, i, d.Header.Type)
				out, err := m.Append(nil)
				require.NoError(t, err, "%s #%d", d.Flow, i)
				assert.Equal(t, hex.EncodeToString(d.Raw), hex.EncodeToString(out), "%s #%d %v", d.Flow, i, d.Header.Type)
				total++
			}
		})
	}
	assert.Equal(t, 11+17+7+9, total, "descriptors: leaf-deflate, ultrapeer-plain, outbound, push-giv")
}

// The per-type tallies of ultrapeer-plain.pcap's table, to know the capture
// reader finds every descriptor in both directions.
func TestCaptureUltrapeerTally(t *testing.T) {
	got := map[string]int{}
	for _, d := range captureDescriptors(t, "ultrapeer-plain.pcap") {
		dir := "gtkg"
		if strings.HasSuffix(d.Flow, ":6350") {
			dir = "probe"
		}
		got[dir+" "+d.Header.Type.String()]++
	}
	assert.Equal(t, map[string]int{
		"probe PING": 2, "probe QUERY": 5,
		"gtkg PING": 1, "gtkg PONG": 1, "gtkg QUERYHIT": 4, "gtkg QRP": 2, "gtkg VENDOR": 2,
	}, got)
}

func TestCapturePong(t *testing.T) {
	for _, c := range []struct {
		capture string
		slots   byte // free ultrapeer slots: seen by a leaf, by an ultrapeer
		uptime  byte
	}{{"leaf-deflate.pcap", 0x32, 0x3c}, {"ultrapeer-plain.pcap", 0x31, 0x34}} {
		t.Run(c.capture, func(t *testing.T) {
			d := findDescriptor(t, c.capture, wire.TypePong, 0, nil)
			require.Len(t, d.Payload, 41)
			var p wire.Pong
			require.NoError(t, p.Decode(d.Payload))
			assert.Equal(t, netip.MustParseAddrPort("127.0.0.1:6350"), p.AddrPort())
			assert.Equal(t, uint32(3), p.Files)
			assert.Equal(t, uint32(128), p.KB)
			assert.Equal(t, []string{"VC", "UP", "DU", "TLS"}, wire.GGEPIDs(&p.GGEP))
			want := map[string][]byte{
				"VC": []byte("GTKG\x83"), "UP": {0x02, 0xff, c.slots}, "DU": {c.uptime}, "TLS": {},
			}
			for id, data := range want {
				e, ok := p.GGEP.Get(id)
				require.True(t, ok, id)
				assert.Equal(t, data, e.Data, id)
				assert.Zero(t, e.Flags, id)
			}
			assert.Empty(t, p.Trailer)
		})
	}
}

func TestCapturePingSCP(t *testing.T) {
	d := findDescriptor(t, "ultrapeer-plain.pcap", wire.TypePing, 0, func(p []byte) bool { return len(p) > 0 })
	assert.Equal(t, uint8(4), d.Header.TTL)
	var p wire.Ping
	require.NoError(t, p.Decode(d.Payload))
	scp, ok := p.GGEP.Get("SCP")
	require.True(t, ok)
	assert.Equal(t, []byte{0x03}, scp.Data)
}

func tthRoot(t *testing.T, b32 string) []byte {
	d, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b32)
	require.NoError(t, err)
	require.Len(t, d, 24)
	return d
}

// gtkgHit checks what every gtk-gnutella QueryHit carries.
func gtkgHit(t *testing.T, payload []byte, open string) *wire.QueryHit {
	t.Helper()
	var q wire.QueryHit
	require.NoError(t, q.Decode(payload))
	assert.Equal(t, netip.MustParseAddrPort("127.0.0.1:6350"), q.AddrPort())
	assert.Equal(t, uint32(6), q.Speed)
	assert.Equal(t, wire.MustGUID(t, gtkgServent), q.ServentGUID)
	require.True(t, q.HasQHD)
	assert.Equal(t, [4]byte{'G', 'T', 'K', 'G'}, q.QHD.Vendor)
	assert.Equal(t, open, hex.EncodeToString(q.QHD.Open))
	assert.Equal(t, []string{"GTKGV", "TLS", "BH"}, wire.GGEPIDs(&q.QHD.GGEP))
	v, _ := q.QHD.GGEP.Get("GTKGV")
	assert.Equal(t, "01010203"+"00"+"65e3bd80"+"00000000"+"0700"+"03", hex.EncodeToString(v.Data))
	assert.Empty(t, q.QHD.Private)
	assert.Empty(t, q.Trailer)
	for i := range q.Results {
		r := &q.Results[i]
		require.Len(t, r.Ext.Blocks, 2)
		assert.Equal(t, wire.ExtSHA1, r.Ext.Blocks[0].Kind)
		assert.True(t, r.Ext.Blocks[0].Sep)
		assert.Equal(t, wire.ExtGGEP, r.Ext.Blocks[1].Kind)
		assert.Equal(t, []string{"TT", "CT"}, wire.GGEPIDs(r.Ext.GGEP()))
		ct, _ := r.Ext.GGEP().Get("CT")
		assert.Len(t, ct.Data, 4, "CT: 4-byte time")
	}
	return &q
}

var gtkgFiles = map[uint32]struct {
	name string
	size uint32
	urn  string
	tth  string
	cobs bool // the TT root holds a NUL, so gtk-gnutella COBS-encodes it
}{
	1: {"strawberry fields.ogg", 51200, "urn:sha1:7GUGJ7RVJ6XJ54V2CFGBVYQJHQFR6KYF", "XG6UH577C2KXHA3MQNIQV3SGBKJ4JUVB63N26HA", false},
	2: {"penny lane.mp3", 102400, "urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O", "3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI", true},
	3: {"readme test.txt", 34, "urn:sha1:M26QHSCJJMCTM5EQANTXFQTJUOMRAXMC", "3W4DLMN5BPHSVBORRSULM7TTIO5HPABQVKA6DOY", false},
}

func checkGtkgResult(t *testing.T, r *wire.Result) {
	t.Helper()
	f, ok := gtkgFiles[r.Index]
	require.True(t, ok, "index %d", r.Index)
	assert.Equal(t, f.name, string(r.Name))
	assert.Equal(t, f.size, r.Size)
	d, ok := r.Ext.SHA1()
	assert.True(t, ok)
	assert.Equal(t, f.urn, d.String())
	tt, ok := r.Ext.GGEP().Get("TT")
	require.True(t, ok)
	assert.Equal(t, f.cobs, tt.Flags&wire.GGEPFlagCOBS != 0, "TT COBS flag for %s", f.name)
	v, err := tt.Value()
	require.NoError(t, err)
	assert.Equal(t, tthRoot(t, f.tth), v)
}

func TestCaptureQueryHits(t *testing.T) {
	for _, c := range []struct {
		capture string
		n       int
		index   uint32
		open    string
	}{
		{"leaf-deflate.pcap", 0, 2, "2c21"},
		{"leaf-deflate.pcap", 1, 1, "2c21"},
		{"ultrapeer-plain.pcap", 1, 3, "2c21"},
		{"push-giv.pcap", 0, 2, "2d21"},
	} {
		t.Run(c.capture+"#"+strconv.Itoa(c.n), func(t *testing.T) {
			d := findDescriptor(t, c.capture, wire.TypeQueryHit, c.n, nil)
			assert.Equal(t, uint8(6), d.Header.TTL, "gtk-gnutella hits leave with TTL 6")
			q := gtkgHit(t, d.Payload, c.open)
			require.Len(t, q.Results, 1)
			assert.Equal(t, c.index, q.Results[0].Index)
			checkGtkgResult(t, &q.Results[0])
		})
	}
}

// browseHostHit digs the one QUERYHIT out of http.pcap's browse-host reply
// (connection C6): a chunked body of type application/x-gnutella-packets.
func browseHostHit(t testing.TB) capturedDescriptor {
	t.Helper()
	for _, f := range captureFlows(t, "http.pcap") {
		if f.From.Port() != 6350 || !bytes.Contains(f.HTTP, []byte("application/x-gnutella-packets")) {
			continue
		}
		_, body, ok := bytes.Cut(f.HTTP, []byte("\r\n\r\n"))
		require.True(t, ok)
		sizeLine, chunk, ok := bytes.Cut(body, []byte("\r\n"))
		require.True(t, ok)
		size, err := strconv.ParseUint(string(sizeLine), 16, 32)
		require.NoError(t, err)
		require.Equal(t, uint64(408), size)
		ds := splitDescriptors(t, f.name, chunk[:size])
		require.Len(t, ds, 1)
		return ds[0]
	}
	require.FailNow(t, "no browse-host reply in http.pcap")
	return capturedDescriptor{}
}

func TestCaptureBrowseHost(t *testing.T) {
	d := browseHostHit(t)
	assert.Equal(t, wire.TypeQueryHit, d.Header.Type)
	assert.Equal(t, wire.GUID{}, d.Header.GUID)
	assert.Equal(t, uint32(385), d.Header.Length)
	q := gtkgHit(t, d.Payload, "2c29")
	require.Len(t, q.Results, 3)
	for i, want := range []uint32{2, 3, 1} {
		assert.Equal(t, want, q.Results[i].Index)
		checkGtkgResult(t, &q.Results[i])
	}
	up, known := q.QHD.Uploaded()
	assert.True(t, up && known, "2c29: has uploaded")
	var m wire.Message
	require.NoError(t, m.Decode(d.Header, d.Payload))
	out, err := m.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, d.Raw, out)
}

func TestCapturePush(t *testing.T) {
	d := findDescriptor(t, "push-giv.pcap", wire.TypePush, 0, nil)
	assert.Equal(t, wire.MustGUID(t, "05d2e3a3064a60f0ff6b97b9b86f8400"), d.Header.GUID)
	var p wire.Push
	require.NoError(t, p.Decode(d.Payload))
	assert.Equal(t, wire.MustGUID(t, gtkgServent), p.ServentGUID)
	assert.Equal(t, uint32(2), p.Index)
	assert.Equal(t, netip.MustParseAddrPort("127.0.0.1:7000"), p.AddrPort())
	assert.Empty(t, p.GGEP.Extensions)
	assert.Empty(t, p.Trailer)
}

func TestCaptureQueries(t *testing.T) {
	var texts []string
	var urns []string
	var speeds []uint16
	for _, d := range captureDescriptors(t, "ultrapeer-plain.pcap") {
		if d.Header.Type != wire.TypeQuery {
			continue
		}
		var q wire.Query
		require.NoError(t, q.Decode(d.Payload))
		texts = append(texts, string(q.Criteria))
		for _, s := range wire.AppendSHA1s(&q.Ext, nil) {
			urns = append(urns, s.String())
		}
		if _, ok := q.Flags(); !ok {
			speeds = append(speeds, q.MinSpeed())
		} else {
			assert.Equal(t, uint16(0x8000), q.Word)
		}
		if len(q.Ext.Blocks) > 0 {
			assert.True(t, q.Ext.Terminated, "gtk-gnutella's urn:sha1 ends with a NUL")
		}
	}
	assert.Equal(t, []string{"penny", "readme", `\`, "", "lane"}, texts)
	assert.Equal(t, []string{"urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O", "urn:sha1:7GUGJ7RVJ6XJ54V2CFGBVYQJHQFR6KYF"}, urns)
	assert.Equal(t, []uint16{0}, speeds, "one old-style query with min speed 0")
}

func TestCaptureBye(t *testing.T) {
	d := findDescriptor(t, "leaf-deflate.pcap", wire.TypeBye, 0, nil)
	var p wire.Bye
	require.NoError(t, p.Decode(d.Payload))
	assert.Equal(t, wire.ByeNormal, p.Code)
	assert.Equal(t, "Closing, test done", string(p.Reason()))
	assert.Nil(t, p.Headers())
	assert.False(t, p.Unterminated)
}

func TestCaptureVendor(t *testing.T) {
	var v wire.Vendor
	d := findDescriptor(t, "push-giv.pcap", wire.TypeVendor, 0, nil)
	require.NoError(t, v.Decode(d.Payload))
	require.True(t, v.IsMessagesSupported())
	entries, err := wire.AppendMessagesSupported(nil, v.Body)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, string(e.Vendor[:])+"/"+strconv.Itoa(int(e.Selector))+" v"+strconv.Itoa(int(e.Version)))
	}
	assert.Equal(t, strings.Split("BEAR/4 v1,BEAR/7 v1,BEAR/11 v1,BEAR/12 v1,GTKG/7 v1,GTKG/7 v2,GTKG/9 v1,GTKG/10 v1,"+
		"GTKG/21 v1,GTKG/22 v1,GTKG/23 v1,GTKG/24 v1,LIME/5 v1,LIME/11 v2,LIME/11 v3,LIME/12 v1,LIME/12 v2,LIME/12 v3,"+
		"LIME/13 v1,LIME/21 v1,LIME/21 v2,LIME/22 v1,LIME/22 v2,LIME/23 v1,LIME/23 v2,LIME/24 v1,LIME/24 v2", ","), got)

	d = findDescriptor(t, "push-giv.pcap", wire.TypeVendor, 1, nil)
	require.NoError(t, v.Decode(d.Payload))
	require.True(t, v.IsFeaturesSupported())
	features, err := wire.AppendFeaturesSupported(nil, v.Body)
	require.NoError(t, err)
	got = got[:0]
	for _, f := range features {
		got = append(got, string(f.Feature[:])+" v"+strconv.Itoa(int(f.Version)))
	}
	assert.Equal(t, []string{"HSEP v1", "WHAT v1", "QRP1 v1", "F2FT v65535", "TCPI v0", "TLS! v1"}, got, "TCPI v0: firewalled")

	d = findDescriptor(t, "push-giv.pcap", wire.TypeVendor, 2, nil)
	require.NoError(t, v.Decode(d.Payload))
	assert.Equal(t, "BEAR", string(v.Vendor[:]))
	assert.Equal(t, [2]uint16{7, 1}, [2]uint16{v.Selector, v.Version})
	assert.Equal(t, []byte{0xce, 0x18}, v.Body, "port 6350 LE")
	assert.True(t, d.Header.GUID.IsZero())

	d = findDescriptor(t, "push-giv.pcap", wire.TypeVendor, 3, nil)
	require.NoError(t, v.Decode(d.Payload))
	assert.Equal(t, "LIME", string(v.Vendor[:]))
	assert.Equal(t, [2]uint16{21, 1}, [2]uint16{v.Selector, v.Version})
	assert.Empty(t, v.Body)
	assert.Equal(t, wire.MustGUID(t, gtkgServent), d.Header.GUID)
}

func TestCaptureSummaries(t *testing.T) {
	var m wire.Message
	d := findDescriptor(t, "push-giv.pcap", wire.TypeQueryHit, 0, nil)
	require.NoError(t, m.Decode(d.Header, d.Payload))
	line := string(m.AppendSummary(nil))
	for _, want := range []string{
		"QUERYHIT 670b9bc0797ef9e4ff7104867c63a800 ttl=6 hops=0 len=171",
		"addr=127.0.0.1:6350", `name="penny lane.mp3"`, "size=102400",
		"urns=urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O", "ggep=TT,CT", "qhd_vendor=GTKG", "open_data=2d21",
		"push=true", "qhd_ggep=GTKGV,TLS,BH", "servent=" + gtkgServent,
	} {
		assert.Contains(t, line, want)
	}
	assert.NotContains(t, line, "\n")

	f := m.Fields()
	js, err := json.Marshal(f)
	require.NoError(t, err)
	var back map[string]any
	require.NoError(t, json.Unmarshal(js, &back))
	assert.Equal(t, "QUERYHIT", back["type"])
	assert.Equal(t, gtkgServent, back["servent"])
	hits := back["hits"].([]any)
	require.Len(t, hits, 1)
	assert.Equal(t, "penny lane.mp3", hits[0].(map[string]any)["name"])
	assert.Equal(t, true, back["push"])

	for _, c := range []struct {
		capture string
		pt      wire.PayloadType
		n       int
		want    []string
	}{
		{"leaf-deflate.pcap", wire.TypePong, 0, []string{"PONG 3e15e4d8ff83a34effa0de67115fe600 ttl=1 hops=0 len=41 addr=127.0.0.1:6350 files=3 kb=128 ggep=VC,UP,DU,TLS"}},
		{"leaf-deflate.pcap", wire.TypeQuery, 0, []string{"QUERY 5b4ffd864ba419b7ffb30b68cde5ba00 ttl=1 hops=0 len=8 flags=0x8000 text=\"penny\""}},
		{"leaf-deflate.pcap", wire.TypeBye, 0, []string{"code=200", `reason="Closing, test done"`}},
		{"leaf-deflate.pcap", wire.TypeQRP, 0, []string{"QRP ", "variant=RESET table_length=65536 infinity=7"}},
		{"leaf-deflate.pcap", wire.TypeQRP, 1, []string{"variant=PATCH seq_no=1 seq_size=1 compressor=1 entry_bits=4 data_len=61"}},
		{"push-giv.pcap", wire.TypePush, 0, []string{"servent=" + gtkgServent + " index=2 addr=127.0.0.1:7000"}},
		{"push-giv.pcap", wire.TypeVendor, 2, []string{"vendor=BEAR selector=7 version=1 body_len=2"}},
		{"push-giv.pcap", wire.TypeVendor, 1, []string{"vendor=00000000 selector=10", "features=HSEPv1,WHATv1,QRP1v1,F2FTv65535,TCPIv0,TLS!v1"}},
		{"ultrapeer-plain.pcap", wire.TypeQuery, 4, []string{"min_speed=0", `text="lane"`}},
		{"ultrapeer-plain.pcap", wire.TypePing, 2, []string{"PING a3be310231aec586ff0ed06b7b6de103 ttl=4 hops=0 len=7 ggep=SCP"}},
	} {
		d := findDescriptor(t, c.capture, c.pt, c.n, nil)
		require.NoError(t, m.Decode(d.Header, d.Payload))
		line := string(m.AppendSummary(nil))
		for _, w := range c.want {
			assert.Contains(t, line, w)
		}
	}
}
