package wire

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPeeksAgreeWithDecode: what the router reads of a QueryHit or a Push
// without decoding it is what Decode reads, on the hand-written vectors.
func TestPeeksAgreeWithDecode(t *testing.T) {
	decoded := func(name string) (*Message, []byte) {
		v := loadGolden(t, name)
		h, err := ParseHeader(v.Raw)
		require.NoError(t, err)
		var m Message
		require.NoError(t, m.Decode(h, v.Raw[HeaderLen:]))
		return &m, v.Raw[HeaderLen:]
	}
	m, payload := decoded("queryhit.hex")
	g, ok := QueryHitServent(payload)
	require.True(t, ok)
	assert.Equal(t, m.QueryHit.ServentGUID, g)
	assert.Equal(t, len(m.QueryHit.Results), QueryHitCount(payload))

	m, payload = decoded("push.hex")
	g, ok = PushServent(payload)
	require.True(t, ok)
	assert.Equal(t, m.Push.ServentGUID, g)
}

// TestPeeksOnShortPayloads: a payload too short for a GUID has none, and
// an empty QueryHit counts no hits; nothing panics.
func TestPeeksOnShortPayloads(t *testing.T) {
	short := make([]byte, GUIDLen-1)
	_, ok := QueryHitServent(short)
	assert.False(t, ok)
	_, ok = PushServent(short)
	assert.False(t, ok)
	assert.Zero(t, QueryHitCount(nil))

	exact := make([]byte, GUIDLen)
	exact[0], exact[GUIDLen-1] = 0xaa, 0xbb
	g, ok := QueryHitServent(exact)
	assert.True(t, ok)
	assert.Equal(t, GUID(exact), g)
	g, ok = PushServent(exact)
	assert.True(t, ok)
	assert.Equal(t, GUID(exact), g)
}

// TestPutQueryWord: the word written into a Query's bytes is the word a
// decode reads back, the rest unchanged; a payload too short is left alone.
func TestPutQueryWord(t *testing.T) {
	v := loadGolden(t, "query.hex")
	h, err := ParseHeader(v.Raw)
	require.NoError(t, err)
	payload := bytes.Clone(v.Raw[HeaderLen:])
	var before Message
	require.NoError(t, before.Decode(h, bytes.Clone(payload)))
	f, ok := before.Query.Flags()
	require.True(t, ok)
	word := uint16(f ^ QueryFlagOOB)
	PutQueryWord(payload, word)
	var after Message
	require.NoError(t, after.Decode(h, payload))
	assert.Equal(t, word, after.Query.Word)
	assert.Equal(t, before.Query.Criteria, after.Query.Criteria)
	assert.Equal(t, v.Raw[HeaderLen+2:], payload[2:])

	short := []byte{0x80}
	PutQueryWord(short, 0xffff)
	assert.Equal(t, []byte{0x80}, short)
}
