package httpxfer

import (
	"bufio"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

func TestReadHead(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		start string
		h     []wire.HandshakeHeader
		err   error
	}{
		{name: "CRLF", in: "GET / HTTP/1.1\r\nHost: a\r\nRange:bytes=0-1 \r\n\r\nrest", start: "GET / HTTP/1.1",
			h: []wire.HandshakeHeader{{Name: "Host", Value: "a"}, {Name: "Range", Value: "bytes=0-1"}}},
		{name: "bare LF as gtk-gnutella's GIV uses", in: "HTTP/1.1 200 OK\nA: 1\n\n", start: "HTTP/1.1 200 OK", h: []wire.HandshakeHeader{{Name: "A", Value: "1"}}},
		{name: "empty lines before the start line", in: "\r\n\r\nGET / HTTP/1.1\r\n\r\n", start: "GET / HTTP/1.1"},
		{name: "long line over the bufio buffer", in: "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 6000) + "\r\n\r\n", start: "GET / HTTP/1.1",
			h: []wire.HandshakeHeader{{Name: "X", Value: strings.Repeat("a", 6000)}}},
		{name: "nothing at all", in: "", err: io.EOF},
		{name: "ends mid-head", in: "GET / HTTP/1.1\r\nHost: a\r\n", err: io.ErrUnexpectedEOF},
		{name: "ends mid-line", in: "GET / HT", err: io.ErrUnexpectedEOF},
		{name: "space in field name", in: "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", err: ErrMalformed},
		{name: "empty field name", in: "GET / HTTP/1.1\r\n: x\r\n\r\n", err: ErrMalformed},
		{name: "folded line", in: "GET / HTTP/1.1\r\nA: 1\r\n 2\r\n\r\n", err: ErrMalformed},
		{name: "space before the colon", in: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", err: ErrMalformed},
		{name: "65 header lines", in: "GET / HTTP/1.1\r\n" + strings.Repeat("A: 1\r\n", 65) + "\r\n", err: ErrHeaderTooLarge},
		{name: "endless empty lines", in: strings.Repeat("\r\n", 100), err: ErrHeaderTooLarge},
		{name: "over 8 KiB", in: "GET / HTTP/1.1\r\n" + strings.Repeat("A: 0123456789\r\n", 60) + "B: " + strings.Repeat("b", 8000) + "\r\n\r\n", err: ErrHeaderTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := readHead(bufio.NewReaderSize(strings.NewReader(tc.in), 4096))
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.start, h.StartLine)
			assert.Equal(t, tc.h, h.Headers)
		})
	}
	// 64 lines is still fine.
	h, err := readHead(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\n" + strings.Repeat("A: 1\r\n", 64) + "\r\n")))
	require.NoError(t, err)
	assert.Len(t, h.Headers, 64)
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in    string
		r     byteRange
		total int64
		ok    bool
	}{
		{"bytes 0-99/102400", byteRange{0, 99}, 102400, true},
		{"bytes 102399-102399/102400", byteRange{102399, 102399}, 102400, true},
		{"bytes 0-524287/1073741824", byteRange{0, 524287}, 1073741824, true},
		{"BYTES 5-9/*", byteRange{5, 9}, -1, true},
		{"bytes */102400", byteRange{}, 0, false},
		{"bytes 9-5/100", byteRange{}, 0, false},
		{"bytes 0-100/100", byteRange{}, 0, false},
		{"bytes 0-99", byteRange{}, 0, false},
		{"bytes=0-99/100", byteRange{}, 0, false},
		{"bytes -1-99/100", byteRange{}, 0, false},
		{"bytes 0-99/99999999999999999999", byteRange{}, 0, false},
		{"pages 0-1/2", byteRange{}, 0, false},
	}
	for _, tc := range tests {
		r, total, err := parseContentRange(tc.in)
		if !tc.ok {
			assert.ErrorIs(t, err, ErrMalformed, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.r, r, tc.in)
		assert.Equal(t, tc.total, total, tc.in)
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name   string
		start  string
		h      []wire.HandshakeHeader
		status int
		keep   bool
		length int64
		bad    bool
	}{
		{name: "gtk-gnutella 206", start: "HTTP/1.1 206 Partial Content", h: []wire.HandshakeHeader{{Name: "Content-Length", Value: "100"}}, status: 206, keep: true, length: 100},
		{name: "gtk-gnutella 400 without length", start: "HTTP/1.1 400 Malformed Range request", h: []wire.HandshakeHeader{{Name: "Connection", Value: "close"}}, status: 400, length: -1},
		{name: "no reason phrase", start: "HTTP/1.1 200", status: 200, keep: true, length: -1},
		{name: "HTTP/1.0 closes", start: "HTTP/1.0 200 OK", status: 200, length: -1},
		{name: "HTTP/1.0 keep-alive", start: "HTTP/1.0 200 OK", h: []wire.HandshakeHeader{{Name: "Connection", Value: "Keep-Alive"}}, status: 200, keep: true, length: -1},
		{name: "not HTTP", start: "GNUTELLA/0.6 200 OK", bad: true},
		{name: "short status", start: "HTTP/1.1 20 OK", bad: true},
		{name: "status not digits", start: "HTTP/1.1 2x0 OK", bad: true},
		{name: "version not digits", start: "HTTP/1.x 200 OK", bad: true},
		{name: "no version", start: "HTTP/1. 200 OK", bad: true},
		{name: "huge status line", start: "HTTP/1.1 200 " + strings.Repeat("x", 2000), bad: true},
		{name: "two lengths", start: "HTTP/1.1 200 OK", h: []wire.HandshakeHeader{{Name: "Content-Length", Value: "1"}, {Name: "Content-Length", Value: "2"}}, bad: true},
		{name: "negative length", start: "HTTP/1.1 200 OK", h: []wire.HandshakeHeader{{Name: "Content-Length", Value: "-1"}}, bad: true},
		{name: "chunked", start: "HTTP/1.1 200 OK", h: []wire.HandshakeHeader{{Name: "Transfer-Encoding", Value: "chunked"}}, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseResponse(&wire.Handshake{StartLine: tc.start, Headers: tc.h})
			if tc.bad {
				assert.ErrorIs(t, err, ErrMalformed)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.status, r.status)
			assert.Equal(t, tc.keep, r.keep)
			assert.Equal(t, tc.length, r.length)
		})
	}
}
