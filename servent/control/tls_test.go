package control

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A queued source that takes TLS (get --daemon --source tls:IP:PORT)
// keeps the mark through the API and the queue file, and the download
// dials it with TLS first.
func TestSourceRecordTLS(t *testing.T) {
	in := DownloadRequest{URN: urnOf([]byte("sealed")), Sources: []SourceRecord{{Addr: "127.0.0.1:6346", TLS: true}, {Addr: "127.0.0.1:6347"}}}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"tls":true`)
	var out DownloadRequest
	require.NoError(t, json.Unmarshal(b, &out))
	req, err := requestOf(out)
	require.NoError(t, err)
	require.Len(t, req.Sources, 2)
	assert.Equal(t, netip.MustParseAddrPort("127.0.0.1:6346"), req.Sources[0].Addr)
	assert.True(t, req.Sources[0].TLS)
	assert.False(t, req.Sources[1].TLS)
}
