package thex

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/capture"
)

func TestThexURI(t *testing.T) {
	sha1, err := wire.ParseURN("urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O")
	require.NoError(t, err)
	root := mustTTH(t, "3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI")
	v := FormatThexURI(sha1, root)
	assert.Equal(t, "/uri-res/N2X?urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O;3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI", v)

	good := []struct{ in, path string }{
		{v, "/uri-res/N2X?urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O"},
		{"/uri-res/N2X?urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O ; 3amaeabebd5hebzw666rxbiife5r6ipopvsswki ", "/uri-res/N2X?urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O"},
		{"/gnutella/thex/v1?urn:tree:tiger/:3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI;3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI", "/gnutella/thex/v1?urn:tree:tiger/:3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI"},
	}
	for _, c := range good {
		path, got, ok, err := ParseThexURI(c.in)
		require.NoError(t, err, c.in)
		assert.True(t, ok)
		assert.Equal(t, c.path, path)
		assert.Equal(t, root, got)
	}
	// The non-standard form without a root: the path alone.
	path, _, ok, err := ParseThexURI("/uri-res/N2X?urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, "/uri-res/N2X?urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O", path)

	for _, bad := range []string{
		"", "uri-res/N2X?x;3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI", "/x;3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWK",
		"/x;", "/a b;3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI", "/" + strings.Repeat("a", 2000),
	} {
		_, _, _, err := ParseThexURI(bad)
		assert.ErrorIs(t, err, ErrMalformed, "%q", bad)
	}
}

// gtk-gnutella's http.pcap: every response that carries X-Thex-URI names
// penny lane.mp3's tree, and the file's bytes in the same capture (the
// 200 of connection C2) hash to the root it gives.
func TestThexURIInCapture(t *testing.T) {
	sessions, err := capture.DecodeFile("../testdata/http.pcap", capture.Options{})
	require.NoError(t, err)
	want := mustTTH(t, "3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI")
	headers, bodies := 0, 0
	for _, s := range sessions {
		if s.FromServer.Kind != capture.KindHTTP {
			continue
		}
		br := bufio.NewReader(bytes.NewReader(s.FromServer.HTTP))
		for {
			h, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			var body []byte
			if cl, ok := h.Get("Content-Length"); ok && !strings.HasPrefix(h.StartLine, "HTTP/1.1 200") || h.StartLine == "" {
				n, err := strconv.Atoi(cl)
				require.NoError(t, err)
				_, err = br.Discard(n)
				require.NoError(t, err)
			} else {
				body, _ = io.ReadAll(br) // a 200 here closes the connection
			}
			v, ok := h.Get("X-Thex-URI")
			if !ok {
				continue
			}
			headers++
			path, root, hasRoot, err := ParseThexURI(v)
			require.NoError(t, err, v)
			require.True(t, hasRoot)
			assert.Equal(t, "/uri-res/N2X?urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O", path)
			assert.Equal(t, want, root)
			if len(body) == 102400 {
				bodies++
				assert.Equal(t, root, Root(body), "the file in the capture hashes to its X-Thex-URI root")
			}
		}
	}
	assert.Equal(t, 4, headers, "C1's first 206, C2, C3 and C5's 400 carry X-Thex-URI")
	assert.Equal(t, 2, bodies, "C2 and C3 carry the whole file")
}
