package wire_test

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

func TestParseStatusLine(t *testing.T) {
	both := []string{wire.StatusGnutella, wire.StatusHTTP1}
	cases := []struct {
		name, line    string
		protos        []string
		proto, reason string
		code          int
		bad           bool
	}{
		{name: "Gnutella 200", line: "GNUTELLA/0.6 200 OK", protos: both, proto: "GNUTELLA/0.6", code: 200, reason: "OK"},
		{name: "HTTP/1.1 no reason", line: "HTTP/1.1 200", protos: both, proto: "HTTP/1.1", code: 200},
		{name: "Gnutella no reason", line: "GNUTELLA/0.6 200", protos: both, proto: "GNUTELLA/0.6", code: 200},
		{name: "HTTP/1.0 keeps its version", line: "HTTP/1.0 404 Not Found", protos: both, proto: "HTTP/1.0", code: 404, reason: "Not Found"},
		{name: "reason trimmed", line: "HTTP/1.1 503  Busy ", protos: both, proto: "HTTP/1.1", code: 503, reason: "Busy"},
		{name: "999 is a code", line: "HTTP/1.1 999 x", protos: both, proto: "HTTP/1.1", code: 999, reason: "x"},
		{name: "HTTP where only Gnutella goes", line: "HTTP/1.1 200", protos: []string{wire.StatusGnutella}, bad: true},
		{name: "Gnutella where only HTTP goes", line: "GNUTELLA/0.6 200", protos: []string{wire.StatusHTTP1}, bad: true},
		{name: "no protocols", line: "HTTP/1.1 200 OK", bad: true},
		{name: "HTTP/2 is not 1.x", line: "HTTP/2 200 OK", protos: both, bad: true},
		{name: "empty version", line: "HTTP/1. 200 OK", protos: both, bad: true},
		{name: "version not digits", line: "GNUTELLA/0.6x 200 OK", protos: both, bad: true},
		{name: "two-digit code", line: "HTTP/1.1 20 OK", protos: both, bad: true},
		{name: "four-digit code", line: "HTTP/1.1 2000 OK", protos: both, bad: true},
		{name: "code runs into reason", line: "HTTP/1.1 200OK", protos: both, bad: true},
		{name: "non-digit in code", line: "GNUTELLA/0.6 2x0 OK", protos: both, bad: true},
		{name: "signed code", line: "HTTP/1.1 +20 OK", protos: both, bad: true},
		{name: "code under 100", line: "HTTP/1.1 099 OK", protos: both, bad: true},
		{name: "tab for space", line: "HTTP/1.1\t200 OK", protos: both, bad: true},
		{name: "two spaces before the code", line: "HTTP/1.1  200 OK", protos: both, bad: true},
		{name: "empty", line: "", protos: both, bad: true},
		{name: "huge line", line: "HTTP/1.1 200 " + strings.Repeat("x", wire.MaxStatusLine), protos: both, bad: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			proto, code, reason, err := wire.ParseStatusLine(c.line, c.protos...)
			if c.bad {
				assert.ErrorIs(t, err, wire.ErrMalformed)
				assert.Less(t, len(err.Error()), 200, "the error quotes the peer's line clipped")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.proto, proto)
			assert.Equal(t, c.code, code)
			assert.Equal(t, c.reason, reason)
		})
	}
}

// A long reason under the line bound is kept, clipped, and not cut inside
// a rune.
func TestParseStatusLineClipsReason(t *testing.T) {
	long := strings.Repeat("é", wire.MaxStatusLine/2-20) // two bytes each
	_, code, reason, err := wire.ParseStatusLine("GNUTELLA/0.6 503 "+long, wire.StatusGnutella)
	require.NoError(t, err)
	assert.Equal(t, 503, code)
	assert.LessOrEqual(t, len(reason), wire.MaxStatusReason)
	assert.Greater(t, len(reason), wire.MaxStatusReason-utf8.UTFMax)
	assert.True(t, utf8.ValidString(reason), "clipped at a rune boundary")
	assert.True(t, strings.HasPrefix(long, reason))

	h := &wire.Handshake{StartLine: "GNUTELLA/0.6 503 " + long}
	_, _, reason06, err := h.ParseStatus()
	require.NoError(t, err)
	assert.Equal(t, reason, reason06, "ParseStatus is ParseStatusLine for Gnutella")
}

func TestReadLine(t *testing.T) {
	// A 16-byte buffer, so that long lines come in pieces.
	newReader := func(s string) *bufio.Reader { return bufio.NewReaderSize(strings.NewReader(s), 16) }

	br := newReader("HTTP/1.1 200 OK\r\nbare LF\n" + strings.Repeat("y", 40) + "\nrest")
	line, n, err := wire.ReadLine(br, nil, 64)
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.1 200 OK", string(line))
	assert.Equal(t, 17, n, "line end counted")
	line, _, err = wire.ReadLine(br, line[:0], 64)
	require.NoError(t, err)
	assert.Equal(t, "bare LF", string(line))
	line, n, err = wire.ReadLine(br, nil, 41)
	require.NoError(t, err, "a line of exactly max bytes, LF included")
	assert.Equal(t, strings.Repeat("y", 40), string(line))
	assert.Equal(t, 41, n)
	_, _, err = wire.ReadLine(br, nil, 64)
	assert.ErrorIs(t, err, wire.ErrTruncated, "the stream ends inside a line")
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_, n, err = wire.ReadLine(br, nil, 64)
	assert.Equal(t, io.EOF, err, "nothing left: io.EOF itself")
	assert.Zero(t, n)

	huge := newReader(strings.Repeat("z", 1<<20) + "\n")
	_, n, err = wire.ReadLine(huge, nil, 100)
	assert.ErrorIs(t, err, wire.ErrHeaderTooLarge)
	assert.LessOrEqual(t, n, 100+16, "stops within a buffer of the bound")
	assert.False(t, errors.Is(err, wire.ErrTruncated))
}
