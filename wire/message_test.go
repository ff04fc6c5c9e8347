package wire

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Types without a codec (HSEP, anything unknown) are no error: the payload
// is kept and written back as it came.
func TestMessageUnknownTypes(t *testing.T) {
	for _, pt := range []PayloadType{TypeHSEP, 0x99} {
		t.Run(pt.String(), func(t *testing.T) {
			payload := mustHex(t, "0100000002000000 03000000")
			h := Header{GUID: NewGUID(), Type: pt, TTL: 1, Length: uint32(len(payload))}
			var m Message
			require.NoError(t, m.Decode(h, payload))
			assert.Equal(t, payload, m.Payload)
			out, err := m.Append(nil)
			require.NoError(t, err)
			assert.Equal(t, append(h.Append(nil), payload...), out)
			line := string(m.AppendSummary(nil))
			assert.True(t, strings.HasPrefix(line, pt.String()+" "+h.GUID.String()+" ttl=1 hops=0 len=12"), line)
		})
	}
}

func TestMessageDecodeErrorNamesTheType(t *testing.T) {
	var m Message
	err := m.Decode(Header{Type: TypePong}, []byte{1, 2, 3})
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "PONG")
}

// Append writes the Length of the typed payload, not the header's.
func TestMessageAppendRecomputesLength(t *testing.T) {
	v := loadGolden(t, "pong.hex")
	h, err := ParseHeader(v.Raw)
	require.NoError(t, err)
	var m Message
	require.NoError(t, m.Decode(h, v.Raw[HeaderLen:]))
	m.Pong.GGEP.Extensions = m.Pong.GGEP.Extensions[:1] // drop VC: 9 bytes
	m.Header.Length = 9999
	out, err := m.Append(nil)
	require.NoError(t, err)
	back, err := ParseHeader(out)
	require.NoError(t, err)
	assert.Equal(t, uint32(30-9), back.Length)
	assert.Len(t, out, HeaderLen+30-9)
	assert.Equal(t, 30-9, m.Len())
}

func TestMessageAppendError(t *testing.T) {
	m := Message{Header: Header{Type: TypeQuery}, Query: Query{Criteria: []byte{0}}}
	_, err := m.Append(nil)
	assert.ErrorIs(t, err, ErrMalformed)
}

// Fields and AppendSummary for the hand-written vectors: every type names
// its decoded fields, and the map survives JSON.
func TestMessageFieldsGolden(t *testing.T) {
	for _, c := range []struct {
		file    string
		summary []string
		fields  map[string]any
	}{
		{"ping-ggep.hex", []string{"PING 0123456789abcdefff11223344556601 ttl=4 hops=0 len=11 ggep=SCP,IP"},
			map[string]any{"ggep": []any{"SCP", "IP"}}},
		{"pong.hex", []string{"addr=192.0.2.1:6346 files=1000 kb=123456 ggep=DU,VC"},
			map[string]any{"addr": "192.0.2.1:6346", "files": 1000.0, "kb": 123456.0}},
		{"push.hex", []string{"servent=f0e1d2c3b4a59687ff695a4b3c2d1e00 index=7 addr=10.0.0.1:6346 ggep=TLS"},
			map[string]any{"servent": "f0e1d2c3b4a59687ff695a4b3c2d1e00", "index": 7.0}},
		{"bye.hex", []string{`code=502 reason="Send Queue Full" headers="Server: govent/0.1\r\n\r\n"`},
			map[string]any{"code": 502.0, "reason": "Send Queue Full"}},
		{"vendor.hex", []string{"vendor=00000000 selector=0 version=0 body_len=18 supported=BEAR/4v1,GTKG/7v2"},
			map[string]any{"supported": []any{"BEAR/4v1", "GTKG/7v2"}}},
		{"query.hex", []string{`flags=0x8c20 text="beatles" urns=urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O ggep=H`},
			map[string]any{"flags": "0x8c20", "text": "beatles", "urns": []any{"urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O"}}},
		{"query-minspeed.hex", []string{`min_speed=64 text="mp3 lane" ext=xml/38`},
			map[string]any{"min_speed": 64.0, "ext": []any{"xml/38"}}},
		{"queryhit.hex", []string{
			`hits=[{index=5 size=1048576 name="a.mp3" urns=urn:sha1:7GUGJ7RVJ6XJ54V2CFGBVYQJHQFR6KYF} {index=7 size=34 name="b.txt" urns=urn:sha1:M26QHSCJJMCTM5EQANTXFQTJUOMRAXMC ggep=CT}]`,
			"qhd_vendor=GOVT open_data=3d35 push=true busy=true uploaded=false measured=true ggep_flag=true qhd_ggep=BH private_len=2 servent=f0e1d2c3b4a59687ff695a4b3c2d1e00",
		}, map[string]any{"qhd_vendor": "GOVT", "busy": true, "uploaded": false, "private_len": 2.0}},
	} {
		t.Run(c.file, func(t *testing.T) {
			v := loadGolden(t, c.file)
			h, err := ParseHeader(v.Raw)
			require.NoError(t, err)
			var m Message
			require.NoError(t, m.Decode(h, v.Raw[HeaderLen:]))
			line := string(m.AppendSummary(nil))
			for _, w := range c.summary {
				assert.Contains(t, line, w)
			}
			js, err := json.Marshal(m.Fields())
			require.NoError(t, err)
			var back map[string]any
			require.NoError(t, json.Unmarshal(js, &back))
			assert.Equal(t, h.Type.String(), back["type"])
			assert.Equal(t, h.GUID.String(), back["guid"])
			for k, want := range c.fields {
				assert.Equal(t, want, back[k], k)
			}
		})
	}
}

func TestSummaryCutsLongText(t *testing.T) {
	long := strings.Repeat("x", 500)
	payload := append(append([]byte{0x80, 0x00}, long...), 0)
	var m Message
	require.NoError(t, m.Decode(Header{Type: TypeQuery, TTL: 1}, payload))
	line := string(m.AppendSummary(nil))
	assert.Contains(t, line, `text="`+strings.Repeat("x", summaryTextMax)+`"...`)
	assert.Equal(t, long, m.Fields()["text"], "Fields keeps the whole text")
}
