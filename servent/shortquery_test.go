package servent

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A search text under MinQueryBytes is refused before it is sent, as
// gtk-gnutella refuses one (search_new: SEARCH_NEW_TOO_SHORT): its peers
// drop a 1-byte one (MSG_DROP_QUERY_TOO_SHORT), and no routing table holds
// a word under wire.QRPMinWordLen bytes, so no leaf would see it. The
// length is gtk-gnutella's: in bytes, runs of spaces counted as one. A
// urn:sha1 search has no words and is not concerned.
func TestCheckQueryTooShort(t *testing.T) {
	for _, text := range []string{"e", "ab", " a  ", "é", "a\tb"[:1]} {
		assert.ErrorContains(t, CheckQuery(text), "shorter than 3 bytes", "%q", text)
	}
	for _, text := range []string{"abc", "a b", "a   b", "日本", "urn:sha1:PLSTHIPQQ2DXIGD4GAGQGU3GJJUSD6NA"} {
		assert.NoError(t, CheckQuery(text), "%q", text)
	}
	assert.EqualError(t, CheckQuery("  "), "empty search")
	// The error counts as the check does: "é" is one character but two
	// bytes, "日本" two characters but six bytes (and accepted above).
	assert.EqualError(t, CheckQuery("é"), "shorter than 3 bytes: servents drop such a search, and match no word shorter than 3 bytes")

	s := startServent(t, Config{Listen: "127.0.0.1:0"})
	_, err := s.Search(t.Context(), "e")
	assert.ErrorContains(t, err, "shorter than 3 bytes")
}
