package capture

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// descriptor builds header bytes by hand (not with wire's encoder):
// GUID(16), type, TTL, hops, length little-endian.
func descriptor(guidByte byte, typ byte, ttl, hops byte, length uint32, payload []byte) []byte {
	b := make([]byte, 16, 23+len(payload))
	for i := range b {
		b[i] = guidByte
	}
	b = append(b, typ, ttl, hops)
	b = binary.LittleEndian.AppendUint32(b, length)
	return append(b, payload...)
}

type truncFlag struct{ truncated bool }

func (f *truncFlag) SetTruncated() { f.truncated = true }

func TestGnutellaLayerTypeRegistered(t *testing.T) {
	assert.GreaterOrEqual(t, int(LayerTypeGnutella), 1000)
	assert.Less(t, int(LayerTypeGnutella), 2000)
	assert.Equal(t, "Gnutella", LayerTypeGnutella.String())
	var g Gnutella
	assert.Equal(t, LayerTypeGnutella, g.LayerType())
	assert.True(t, g.CanDecode().Contains(LayerTypeGnutella))
}

func TestGnutellaDecodeFromBytes(t *testing.T) {
	query := descriptor(0xaa, 0x80, 7, 0, 8, []byte("\x80\x00penny\x00"))
	ping := descriptor(0xbb, 0x00, 1, 0, 0, nil)
	tests := []struct {
		name       string
		data       []byte
		max        uint32
		wantErr    []error
		truncated  bool
		wantLen    int
		wantType   wire.PayloadType
		wantNext   gopacket.LayerType
		wantLength uint32
	}{
		{name: "query", data: query, wantLen: 31, wantType: wire.TypeQuery, wantNext: gopacket.LayerTypePayload, wantLength: 8},
		{name: "ping with no payload", data: ping, wantLen: 23, wantType: wire.TypePing, wantNext: gopacket.LayerTypeZero},
		{name: "next descriptor left alone", data: append(append([]byte{}, ping...), query...), wantLen: 23, wantType: wire.TypePing, wantNext: gopacket.LayerTypeZero},
		{name: "empty input", data: nil, wantErr: []error{wire.ErrFrame, wire.ErrTruncated}, truncated: true},
		{name: "header cut at 22 bytes", data: query[:22], wantErr: []error{wire.ErrFrame, wire.ErrTruncated}, truncated: true},
		{name: "payload cut one short", data: query[:30], wantErr: []error{wire.ErrFrame, wire.ErrTruncated}, truncated: true},
		{name: "length over default limit", data: descriptor(1, 0x81, 1, 0, 65537, nil), wantErr: []error{wire.ErrFrame, wire.ErrTooLarge}},
		{name: "length at default limit, payload missing", data: descriptor(1, 0x81, 1, 0, 65536, nil), wantErr: []error{wire.ErrTruncated}, truncated: true},
		{name: "length 4 GiB", data: descriptor(1, 0x81, 1, 0, 0xffffffff, nil), wantErr: []error{wire.ErrTooLarge}},
		{name: "length over custom limit", data: query, max: 7, wantErr: []error{wire.ErrTooLarge}},
		{name: "length at custom limit", data: query, max: 8, wantLen: 31, wantType: wire.TypeQuery, wantNext: gopacket.LayerTypePayload, wantLength: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Gnutella{MaxPayload: tt.max}
			var df truncFlag
			err := g.DecodeFromBytes(tt.data, &df)
			assert.Equal(t, tt.truncated, df.truncated, "truncated flag")
			if tt.wantErr != nil {
				for _, e := range tt.wantErr {
					assert.ErrorIs(t, err, e)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantLen, g.Len())
			assert.Equal(t, tt.wantType, g.Header.Type)
			assert.Equal(t, tt.wantLength, g.Header.Length)
			assert.Equal(t, tt.wantNext, g.NextLayerType())
			assert.Equal(t, tt.data[:23], g.LayerContents())
			assert.Equal(t, tt.data[23:tt.wantLen], g.LayerPayload())
			assert.Equal(t, g.LayerPayload(), g.Payload())
		})
	}
}

func TestGnutellaAsGopacketPacket(t *testing.T) {
	b := descriptor(0xcd, 0x80, 3, 1, 8, []byte("\x80\x00beatl\x00"))
	p := gopacket.NewPacket(b, LayerTypeGnutella, gopacket.Default)
	require.Nil(t, p.ErrorLayer())
	g, ok := p.Layer(LayerTypeGnutella).(*Gnutella)
	require.True(t, ok)
	assert.Equal(t, uint8(3), g.Header.TTL)
	assert.Equal(t, uint8(1), g.Header.Hops)
	assert.Equal(t, strings.Repeat("cd", 16), g.Header.GUID.String())
	require.NotNil(t, p.ApplicationLayer())
	assert.Equal(t, []byte("\x80\x00beatl\x00"), p.ApplicationLayer().Payload())

	ping := gopacket.NewPacket(descriptor(1, 0, 1, 0, 0, nil), LayerTypeGnutella, gopacket.Default)
	assert.Nil(t, ping.ErrorLayer(), "an empty payload ends the packet cleanly")

	bad := gopacket.NewPacket(b[:10], LayerTypeGnutella, gopacket.Default)
	require.NotNil(t, bad.ErrorLayer())
	assert.ErrorIs(t, bad.ErrorLayer().Error(), wire.ErrTruncated)
	assert.True(t, bad.Metadata().Truncated)
}

func TestDescriptorScanner(t *testing.T) {
	d1 := descriptor(1, 0x00, 1, 0, 0, nil)
	d2 := descriptor(2, 0x80, 1, 0, 8, []byte("\x80\x00penny\x00"))
	d3 := descriptor(3, 0x02, 1, 0, 3, []byte{200, 0, 0})
	stream := append(append(append([]byte{}, d1...), d2...), d3...)
	t0 := time.Date(2026, 11, 22, 3, 48, 0, 0, time.UTC)
	// Segments: d1 and the first 10 bytes of d2 at t0, the rest of d2 at
	// t0+1s, d3 at t0+2s.
	tl := Timeline{{0, t0}, {33, t0.Add(time.Second)}, {54, t0.Add(2 * time.Second)}}

	tests := []struct {
		name      string
		stream    []byte
		max       uint32
		wantOffs  []int
		wantTimes []time.Time
		wantErr   []error
		errOffset int
	}{
		{name: "three descriptors", stream: stream, wantOffs: []int{0, 23, 54},
			wantTimes: []time.Time{t0, t0, t0.Add(2 * time.Second)}},
		{name: "empty stream", stream: nil},
		{name: "stream ends inside the last payload", stream: stream[:len(stream)-1], wantOffs: []int{0, 23},
			wantTimes: []time.Time{t0, t0}, wantErr: []error{wire.ErrFrame, wire.ErrTruncated}, errOffset: 54},
		{name: "stream ends inside a header", stream: stream[:40], wantOffs: []int{0},
			wantTimes: []time.Time{t0}, wantErr: []error{wire.ErrTruncated}, errOffset: 23},
		{name: "length over the limit stops the walk", stream: stream, max: 4, wantOffs: []int{0},
			wantTimes: []time.Time{t0}, wantErr: []error{wire.ErrFrame, wire.ErrTooLarge}, errOffset: 23},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewDescriptorScanner(tt.stream, tl)
			s.MaxPayload = tt.max
			var offs []int
			var times []time.Time
			for s.Scan() {
				d := s.Descriptor()
				offs = append(offs, d.Offset)
				times = append(times, d.Time)
				assert.Equal(t, tt.stream[d.Offset:d.Offset+d.Layer.Len()], append(append([]byte{}, d.Layer.LayerContents()...), d.Layer.Payload()...))
			}
			assert.Equal(t, tt.wantOffs, offs)
			assert.Equal(t, tt.wantTimes, times)
			assert.False(t, s.Scan(), "scanning stays stopped")
			if tt.wantErr == nil {
				assert.NoError(t, s.Err())
				return
			}
			for _, e := range tt.wantErr {
				assert.ErrorIs(t, s.Err(), e)
			}
			assert.Equal(t, tt.errOffset, s.Offset())
			assert.Contains(t, s.Err().Error(), "offset")
		})
	}
}
