package servent

import (
	"crypto/sha1"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// gtkgHit answers q the way gtk-gnutella 1.2.3 does (seen on loopback by
// the conformance suite): a querier that sets 0x0800 ("understands GGEP
// H") gets the file's hash in a GGEP "H" extension, type 2 (a bitprint:
// SHA-1, then the Tiger root), and no urn:sha1 text; any other querier
// gets "urn:sha1:..." text.
func gtkgHit(t *testing.T, q *wire.Message, digest wire.SHA1) wire.Message {
	t.Helper()
	ext := wire.ExtArea{Terminated: true}
	if f, _ := q.Query.Flags(); f.Has(wire.QueryFlagGGEPH) {
		h, err := wire.NewGGEPExtension("H", append(append([]byte{0x02}, digest[:]...), gtkgTiger[:]...), true, false)
		require.NoError(t, err)
		ext.Blocks = []wire.ExtBlock{{Kind: wire.ExtGGEP, GGEP: wire.GGEP{Extensions: []wire.GGEPExtension{h}}}}
	} else {
		ext.Blocks = []wire.ExtBlock{wire.NewSHA1Block(digest)}
	}
	qh := wire.QueryHit{Port: 6346, Addr: netip.MustParseAddr("192.0.2.7"), Speed: 16,
		Results:     []wire.Result{{Index: 2, Size: 102400, Name: []byte("penny lane.mp3"), Ext: ext}},
		HasQHD:      true,
		QHD:         wire.QHD{Vendor: [4]byte{'G', 'T', 'K', 'G'}},
		ServentGUID: wire.NewGUID()}
	return wire.Message{Header: wire.Header{GUID: q.Header.GUID, Type: wire.TypeQueryHit, TTL: 6}, QueryHit: qh}
}

// gtkgTiger stands for the Tiger root of the file in gtkgHit's bitprint.
var gtkgTiger = wire.TTH{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}

// TestSearchGetsHashFromGTKG: a gtk-gnutella neighbour's results carry the
// file's SHA-1 where our search can read it. Our Query says it reads GGEP
// "H" (0x0800), so gtk-gnutella sends a bitprint there and no urn text:
// the result has the SHA-1 and the Tiger root. A hit with urn:sha1 text
// (what gtk-gnutella sends without the flag) gives the SHA-1 alone.
func TestSearchGetsHashFromGTKG(t *testing.T) {
	for _, withH := range []bool{true, false} {
		t.Run(fmt.Sprint("GGEP H ", withH), func(t *testing.T) {
			vtest(t, func(t *testing.T) { testSearchGetsHashFromGTKG(t, withH) })
		})
	}
}

func testSearchGetsHashFromGTKG(t *testing.T, withH bool) {
	s := startServent(t, testConfig(t))
	p := dialRaw(t, s.Addr())
	p.handshake06()
	waitFor(t, "the peer registered", func() bool { return len(s.Peers()) == 1 })

	sr, err := s.Search(searchCtx(t), "penny lane")
	require.NoError(t, err)
	// The reader reuses its buffers: keep what the answer needs.
	var q wire.Message
	p.readUntil("our Query", func(m *wire.Message) bool {
		if m.Header.Type != wire.TypeQuery {
			return false
		}
		q.Header, q.Query.Word = m.Header, m.Query.Word
		return true
	})
	f, _ := q.Query.Flags()
	require.True(t, f.Has(wire.QueryFlagGGEPH), "our Query reads GGEP H")
	if !withH {
		q.Query.SetFlags(f &^ wire.QueryFlagGGEPH)
	}
	digest := wire.SHA1(sha1.Sum([]byte("penny lane")))
	p.send(gtkgHit(t, &q, digest))

	res := collect(t, sr, 1, 5*time.Second)
	require.Len(t, res, 1)
	assert.True(t, res[0].HasSHA1, "the result's SHA-1 was lost")
	assert.Equal(t, digest, res[0].SHA1)
	assert.Equal(t, withH, res[0].HasTTH)
	if withH {
		assert.Equal(t, gtkgTiger, res[0].TTH)
		req := RequestOf(res[0])
		assert.True(t, req.HasTTH, "a download from it verifies chunks")
		assert.False(t, req.RootNamed, "a hit's root: the SHA-1 is checked too")
	}
}
