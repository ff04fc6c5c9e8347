package wire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenVector is one hand-written descriptor from testdata/golden.
type goldenVector struct {
	Raw        []byte
	OKPrefixes map[int]bool // payload prefix lengths that still decode
}

// loadGolden reads a .hex vector: hex digits, "#" comments, "#!" directives.
func loadGolden(t testing.TB, name string) goldenVector {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "golden", name))
	require.NoError(t, err)
	defer f.Close()
	v := goldenVector{OKPrefixes: map[int]bool{}}
	var digits strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if d, ok := strings.CutPrefix(line, "#! ok-prefixes:"); ok {
			for _, r := range strings.Fields(d) {
				lo, hi, isRange := strings.Cut(r, "-")
				a, err := strconv.Atoi(lo)
				require.NoError(t, err, line)
				b := a
				if isRange {
					b, err = strconv.Atoi(hi)
					require.NoError(t, err, line)
				}
				for k := a; k <= b; k++ {
					v.OKPrefixes[k] = true
				}
			}
			continue
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	require.NoError(t, sc.Err())
	v.Raw, err = hex.DecodeString(digits.String())
	require.NoError(t, err, name)
	return v
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	require.NoError(t, err)
	return b
}

func mustGUID(t testing.TB, s string) GUID {
	t.Helper()
	g, err := ParseGUID(s)
	require.NoError(t, err)
	return g
}

func mustURN(t testing.TB, s string) SHA1 {
	t.Helper()
	d, err := ParseURN(s)
	require.NoError(t, err)
	return d
}

// ggepIDs lists a block's IDs as strings, for compact assertions.
func ggepIDs(g *GGEP) []string {
	var ids []string
	for _, e := range g.Extensions {
		ids = append(ids, string(e.ID))
	}
	return ids
}

var goldenChecks = map[string]func(t *testing.T, m *Message){
	"ping-empty.hex": func(t *testing.T, m *Message) {
		assert.Equal(t, TypePing, m.Header.Type)
		assert.Equal(t, uint8(7), m.Header.TTL)
		assert.Empty(t, m.Ping.GGEP.Extensions)
		assert.Empty(t, m.Ping.Trailer)
	},
	"ping-ggep.hex": func(t *testing.T, m *Message) {
		assert.Equal(t, []string{"SCP", "IP"}, ggepIDs(&m.Ping.GGEP))
		scp, ok := m.Ping.GGEP.Get("SCP")
		require.True(t, ok)
		assert.Equal(t, []byte{0x01}, scp.Data)
		assert.Zero(t, scp.Flags)
		ip, ok := m.Ping.GGEP.Get("IP")
		require.True(t, ok)
		assert.Empty(t, ip.Data)
		assert.Empty(t, m.Ping.Trailer)
	},
	"pong.hex": func(t *testing.T, m *Message) {
		p := &m.Pong
		assert.Equal(t, uint16(6346), p.Port)
		assert.Equal(t, netip.MustParseAddr("192.0.2.1"), p.Addr)
		assert.Equal(t, uint32(1000), p.Files)
		assert.Equal(t, uint32(123456), p.KB)
		assert.Equal(t, []string{"DU", "VC"}, ggepIDs(&p.GGEP))
		du, _ := p.GGEP.Get("DU")
		assert.Equal(t, []byte{0x10, 0x0e}, du.Data)
		vc, _ := p.GGEP.Get("VC")
		assert.Equal(t, []byte("GOVT\x01"), vc.Data)
		assert.Empty(t, p.Trailer)
	},
	"push.hex": func(t *testing.T, m *Message) {
		p := &m.Push
		assert.Equal(t, mustGUID(t, "f0e1d2c3b4a59687ff695a4b3c2d1e00"), p.ServentGUID)
		assert.Equal(t, uint32(7), p.Index)
		assert.Equal(t, netip.MustParseAddrPort("10.0.0.1:6346"), p.AddrPort())
		assert.Equal(t, []string{"TLS"}, ggepIDs(&p.GGEP))
	},
	"bye.hex": func(t *testing.T, m *Message) {
		p := &m.Bye
		assert.Equal(t, ByeSendQueueFull, p.Code)
		assert.Equal(t, "Send Queue Full", string(p.Reason()))
		assert.Equal(t, "Server: govent/0.1\r\n\r\n", string(p.Headers()))
		assert.False(t, p.Unterminated)
		assert.Empty(t, p.Trailer)
	},
	"vendor.hex": func(t *testing.T, m *Message) {
		v := &m.Vendor
		assert.True(t, v.IsMessagesSupported())
		assert.Equal(t, [4]byte{}, v.Vendor)
		assert.Zero(t, v.Selector)
		assert.Zero(t, v.Version)
		entries, err := AppendMessagesSupported(nil, v.Body)
		require.NoError(t, err)
		assert.Equal(t, []VendorEntry{
			{Vendor: [4]byte{'B', 'E', 'A', 'R'}, Selector: 4, Version: 1},
			{Vendor: [4]byte{'G', 'T', 'K', 'G'}, Selector: 7, Version: 2},
		}, entries)
	},
	"query.hex": func(t *testing.T, m *Message) {
		q := &m.Query
		flags, ok := q.Flags()
		require.True(t, ok)
		assert.True(t, flags.Has(QueryFlagGGEPH))
		assert.True(t, flags.Has(QueryFlagOOB))
		assert.False(t, flags.Has(QueryFlagFirewalled))
		assert.False(t, flags.Has(QueryFlagXML))
		assert.False(t, flags.Has(QueryFlagLeafGuided))
		assert.False(t, flags.Has(QueryFlagF2F))
		assert.Equal(t, 0x20, flags.MaxHits())
		assert.Equal(t, "beatles", string(q.Criteria))
		require.Len(t, q.Ext.Blocks, 2)
		assert.Equal(t, ExtSHA1, q.Ext.Blocks[0].Kind)
		assert.True(t, q.Ext.Blocks[0].Sep)
		assert.Equal(t, ExtGGEP, q.Ext.Blocks[1].Kind)
		assert.False(t, q.Ext.Blocks[1].Sep)
		assert.True(t, q.Ext.Terminated)
		penny := mustURN(t, "urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O")
		assert.Equal(t, []SHA1{penny}, q.Ext.appendSHA1s(nil))
		h, ok := q.Ext.GGEP().Get("H")
		require.True(t, ok)
		assert.Equal(t, append([]byte{0x01}, penny[:]...), h.Data)
		assert.Empty(t, q.Trailer)
	},
	"query-minspeed.hex": func(t *testing.T, m *Message) {
		q := &m.Query
		_, ok := q.Flags()
		assert.False(t, ok)
		assert.Equal(t, uint16(64), q.MinSpeed())
		assert.Equal(t, "mp3 lane", string(q.Criteria))
		require.Len(t, q.Ext.Blocks, 1)
		assert.Equal(t, ExtXML, q.Ext.Blocks[0].Kind)
		assert.Equal(t, `<audios><audio title="lane"/></audios>`, string(q.Ext.Blocks[0].Data))
		assert.True(t, q.Ext.Terminated)
		assert.Empty(t, q.Ext.appendSHA1s(nil))
	},
	"queryhit.hex": func(t *testing.T, m *Message) {
		q := &m.QueryHit
		assert.Equal(t, netip.MustParseAddrPort("192.0.2.1:6346"), q.AddrPort())
		assert.Equal(t, uint32(350), q.Speed)
		require.Len(t, q.Results, 2)

		r := &q.Results[0]
		assert.Equal(t, uint32(5), r.Index)
		assert.Equal(t, uint32(1<<20), r.Size)
		assert.Equal(t, "a.mp3", string(r.Name))
		d, ok := r.Ext.SHA1()
		assert.True(t, ok)
		assert.Equal(t, mustURN(t, "urn:sha1:7GUGJ7RVJ6XJ54V2CFGBVYQJHQFR6KYF"), d)
		assert.Nil(t, r.Ext.GGEP())

		r = &q.Results[1]
		assert.Equal(t, uint32(7), r.Index)
		assert.Equal(t, uint32(34), r.Size)
		assert.Equal(t, "b.txt", string(r.Name))
		d, ok = r.Ext.SHA1()
		assert.True(t, ok)
		assert.Equal(t, mustURN(t, "urn:sha1:M26QHSCJJMCTM5EQANTXFQTJUOMRAXMC"), d)
		require.NotNil(t, r.Ext.GGEP())
		ct, ok := r.Ext.GGEP().Get("CT")
		require.True(t, ok)
		assert.Equal(t, byte(GGEPFlagCOBS), ct.Flags)
		val, err := ct.Value()
		require.NoError(t, err)
		assert.Equal(t, []byte{0x00, 0x00, 0xe3, 0x65}, val)

		require.True(t, q.HasQHD)
		h := &q.QHD
		assert.Equal(t, [4]byte{'G', 'O', 'V', 'T'}, h.Vendor)
		assert.Equal(t, []byte{0x3d, 0x35}, h.Open)
		for name, got := range map[string][2]bool{
			"push": pair(h.Push()), "busy": pair(h.Busy()), "uploaded": pair(h.Uploaded()),
			"measured": pair(h.Measured()), "ggep": pair(h.GGEPFlag()),
		} {
			want := map[string][2]bool{
				"push": {true, true}, "busy": {true, true}, "uploaded": {false, true},
				"measured": {true, true}, "ggep": {true, true},
			}[name]
			assert.Equal(t, want, got, name)
		}
		assert.Equal(t, []string{"BH"}, ggepIDs(&h.GGEP))
		assert.Equal(t, []byte{0xde, 0xad}, h.Private)
		assert.Empty(t, q.Trailer)
		assert.Equal(t, mustGUID(t, "f0e1d2c3b4a59687ff695a4b3c2d1e00"), q.ServentGUID)
	},
}

func pair(v, known bool) [2]bool { return [2]bool{v, known} }

func goldenNames(t *testing.T) []string {
	names, err := filepath.Glob(filepath.Join("..", "testdata", "golden", "*.hex"))
	require.NoError(t, err)
	require.NotEmpty(t, names)
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

func TestGoldenVectors(t *testing.T) {
	for _, name := range goldenNames(t) {
		t.Run(name, func(t *testing.T) {
			check, ok := goldenChecks[name]
			require.True(t, ok, "no field checks for %s", name)
			v := loadGolden(t, name)
			h, err := ParseHeader(v.Raw)
			require.NoError(t, err)
			payload := v.Raw[HeaderLen:]
			require.Equal(t, int(h.Length), len(payload), "header length vs bytes")

			var m Message
			require.NoError(t, m.Decode(h, payload))
			check(t, &m)

			assert.Equal(t, len(payload), m.Len())
			out, err := m.Append(nil)
			require.NoError(t, err)
			assert.Equal(t, hex.EncodeToString(v.Raw), hex.EncodeToString(out), "Append gives back the bytes")
		})
	}
}

// TestGoldenTruncations cuts every vector's payload at every offset: a cut
// the vector lists as still valid must decode and give back the cut bytes,
// any other cut must fail with ErrMalformed; none may panic.
func TestGoldenTruncations(t *testing.T) {
	for _, name := range goldenNames(t) {
		t.Run(name, func(t *testing.T) {
			v := loadGolden(t, name)
			h, err := ParseHeader(v.Raw)
			require.NoError(t, err)
			payload := v.Raw[HeaderLen:]
			var m Message
			for k := range len(payload) {
				// A fresh copy with no spare capacity, so a read past the
				// cut would be caught by the race detector or a panic.
				cut := bytes.Clone(payload[:k])
				err := m.Decode(h, cut)
				if !v.OKPrefixes[k] {
					assert.ErrorIs(t, err, ErrMalformed, "prefix %d", k)
					continue
				}
				if !assert.NoError(t, err, "prefix %d", k) {
					continue
				}
				out, err := m.Append(nil)
				require.NoError(t, err, "prefix %d", k)
				assert.Equal(t, cut, out[HeaderLen:], "prefix %d round trip", k)
			}
		})
	}
}
