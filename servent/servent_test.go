package servent

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTwoServentsSearch(t *testing.T) {
	cfgA := testConfig(t)
	cfgA.ShareDir = shareDir(t, map[string]string{"Penny Lane.mp3": "penny lane bytes", "other.txt": "x"})
	a := startServent(t, cfgA)
	b := startServent(t, testConfig(t))
	require.NoError(t, b.Connect(a.Addr()))
	waitFor(t, "both sides connected", func() bool { return len(a.Peers()) == 1 && len(b.Peers()) == 1 })

	sr, err := b.Search(searchCtx(t), "penny")
	require.NoError(t, err)
	res := collect(t, sr, 1, 5*time.Second)
	require.Len(t, res, 1)
	assert.Equal(t, "Penny Lane.mp3", res[0].Name)
	assert.Equal(t, a.Addr(), res[0].Addr)
	assert.Equal(t, a.GUID(), res[0].ServentGUID)
	assert.Equal(t, "GOVT", res[0].Vendor)
	assert.True(t, res[0].HasSHA1)
	assert.EqualValues(t, len("penny lane bytes"), res[0].Size)
}
