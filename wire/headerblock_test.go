package wire_test

import (
	"bufio"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// An HTTP head goes through the handshake parser with RFC 9112's rules
// where the two differ; everything else (limits, errors, line ends) is the
// same.
func TestReadHTTPHead(t *testing.T) {
	read := func(raw string, lim wire.HandshakeLimits) (*wire.Handshake, error) {
		return wire.ReadHTTPHead(bufio.NewReader(strings.NewReader(raw)), lim)
	}
	t.Run("empty lines before the start line are skipped", func(t *testing.T) {
		h, err := read("\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", wire.HandshakeLimits{})
		require.NoError(t, err)
		assert.Equal(t, "GET / HTTP/1.1", h.StartLine)
		assert.Equal(t, hdrs("Host", "a"), h.Headers)
		_, err = readBlock(t, "\r\nGNUTELLA CONNECT/0.6\r\n\r\n")
		assert.ErrorIs(t, err, wire.ErrMalformed, "a handshake has no empty lines before its start")
	})
	t.Run("and count against the line limit", func(t *testing.T) {
		lim := wire.HandshakeLimits{MaxLines: 3}
		_, err := read("\r\nGET / HTTP/1.1\r\nA: 1\r\n\r\n", lim)
		require.NoError(t, err)
		_, err = read("\r\n\r\nGET / HTTP/1.1\r\nA: 1\r\n\r\n", lim)
		assert.ErrorIs(t, err, wire.ErrHeaderTooLarge)
		_, err = read(strings.Repeat("\r\n", 200), wire.HandshakeLimits{})
		assert.ErrorIs(t, err, wire.ErrHeaderTooLarge, "endless empty lines")
	})
	t.Run("a folded line is refused", func(t *testing.T) {
		raw := "HTTP/1.1 200 OK\r\nX-Alt: 1.2.3.4:6346,\r\n 5.6.7.8:6346\r\n\r\n"
		_, err := read(raw, wire.HandshakeLimits{})
		assert.ErrorIs(t, err, wire.ErrMalformed)
		h, err := readBlock(t, raw)
		require.NoError(t, err, "a handshake folds it")
		assert.Equal(t, hdrs("X-Alt", "1.2.3.4:6346, 5.6.7.8:6346"), h.Headers)
	})
	t.Run("whitespace before the colon is refused", func(t *testing.T) {
		raw := "GET / HTTP/1.1\r\nHost : a\r\n\r\n"
		_, err := read(raw, wire.HandshakeLimits{})
		assert.ErrorIs(t, err, wire.ErrMalformed)
		h, err := readBlock(t, raw)
		require.NoError(t, err, "a handshake forgives it")
		assert.Equal(t, hdrs("Host", "a"), h.Headers)
	})
	t.Run("the stream ends", func(t *testing.T) {
		_, err := read("", wire.HandshakeLimits{})
		assert.ErrorIs(t, err, io.EOF)
		_, err = read("\r\n", wire.HandshakeLimits{})
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.ErrorIs(t, err, wire.ErrTruncated)
	})
}

// ParseHandshake finds in bytes at hand the block ReadHandshake reads from
// a stream, and steps over a malformed one instead of stopping in it.
func TestParseHandshake(t *testing.T) {
	raw := "GNUTELLA/0.6 200 OK\r\nX-Try: 1.2.3.4:1,\r\n 5.6.7.8:2\r\nContent-Encoding: deflate\r\n\r\n\x78\x9c"
	h, n, err := wire.ParseHandshake([]byte(raw), wire.HandshakeLimits{})
	require.NoError(t, err)
	assert.Equal(t, len(raw)-2, n)
	want, err := readBlock(t, raw)
	require.NoError(t, err)
	assert.Equal(t, want, h)

	t.Run("a malformed line", func(t *testing.T) {
		raw := "GNUTELLA/0.6 200 OK\r\nno colon\r\nContent-Encoding: deflate\r\n\nrest"
		h, n, err := wire.ParseHandshake([]byte(raw), wire.HandshakeLimits{})
		assert.ErrorIs(t, err, wire.ErrMalformed)
		assert.Equal(t, len(raw)-len("rest"), n, "the whole block")
		require.NotNil(t, h)
		assert.Equal(t, hdrs("Content-Encoding", "deflate"), h.Headers, "the lines that parse")
	})
	for _, c := range []struct {
		name, raw string
		lim       wire.HandshakeLimits
		want      error
	}{
		{"no empty line yet", "GNUTELLA/0.6 200 OK\r\nA: 1\r\n", wire.HandshakeLimits{}, wire.ErrTruncated},
		{"nothing", "", wire.HandshakeLimits{}, wire.ErrTruncated},
		{"one byte over", "AB\r\n\r\n", wire.HandshakeLimits{MaxBytes: 5}, wire.ErrHeaderTooLarge},
		{"one line over", "A\nB: 1\nC: 2\n\n", wire.HandshakeLimits{MaxLines: 2}, wire.ErrHeaderTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, n, err := wire.ParseHandshake([]byte(c.raw), c.lim)
			assert.ErrorIs(t, err, c.want)
			assert.Nil(t, h)
			assert.Zero(t, n)
		})
	}
	t.Run("exactly at the limits", func(t *testing.T) {
		_, n, err := wire.ParseHandshake([]byte("AB\r\n\r\n"), wire.HandshakeLimits{MaxBytes: 6, MaxLines: 1})
		require.NoError(t, err)
		assert.Equal(t, 6, n)
	})
}
