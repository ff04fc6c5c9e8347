package fuzz

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// FuzzHTTPHead reads one HTTP head (the header-block parser's HTTP rules:
// empty lines before the start line skipped, no folding) under limits
// taken from the input: the same head whole or a byte at a time, errors
// only of wire's classes, never far past the byte limit, nothing read past
// the head's empty line, and the head read back from its Append the same.
func FuzzHTTPHead(f *testing.F) {
	f.Add([]byte("GET /get/1/a.mp3 HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-\r\n\r\nbody"), uint16(0), uint16(0))
	f.Add([]byte("\r\n\nHTTP/1.1 206 Partial Content\nContent-Range: bytes 0-9/10\n\n0123456789"), uint16(0), uint16(0))
	f.Add([]byte("HTTP/1.0 503 Busy\r\nX-Queued: position=2, length=5\r\n folded\r\n\r\n"), uint16(0), uint16(0))
	f.Add([]byte("GET / HTTP/1.1\r\nBad : space\r\n\r\n"), uint16(0), uint16(0))
	f.Add([]byte("HEAD /uri-res/N2R?urn:sha1:X HTTP/1.1\r\nA: b\r\n\r\n"), uint16(1), uint16(30))
	f.Fuzz(func(t *testing.T, data []byte, maxLines, maxBytes uint16) {
		lim := wire.HandshakeLimits{MaxLines: int(maxLines % 256), MaxBytes: int(maxBytes)}
		eff := lim
		if eff.MaxBytes == 0 {
			eff.MaxBytes = wire.DefaultHandshakeMaxBytes
		}
		h, consumed, br, err := readBlockTwice(t, wire.ReadHTTPHead, data, lim)
		if err != nil {
			require.Nil(t, h)
			switch {
			case errors.Is(err, wire.ErrHeaderTooLarge):
				require.LessOrEqual(t, consumed, eff.MaxBytes+blockBufSize, "read far past the byte limit")
			case errors.Is(err, wire.ErrTruncated):
				require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			case errors.Is(err, io.EOF):
				require.Empty(t, data)
			default:
				require.ErrorIs(t, err, wire.ErrMalformed)
			}
			return
		}
		require.LessOrEqual(t, consumed, eff.MaxBytes, "accepted a head over the byte limit")
		require.NotEmpty(t, h.StartLine)
		head := data[:consumed]
		require.True(t, bytes.HasSuffix(head, []byte("\n\n")) || bytes.HasSuffix(head, []byte("\n\r\n")),
			"a head ends with its empty line: %q", head)
		rest, err := io.ReadAll(br)
		require.NoError(t, err)
		requireBytes(t, data[consumed:], rest, "bytes after the head must stay unread")

		requireStatusLine(t, h, wire.StatusHTTP1)

		requireAppendReadsBack(t, wire.ReadHTTPHead, h)
	})
}

// requireStatusLine parses the block's start line as a status line of
// proto (wire.ParseStatusLine, which ParseStatus and httpxfer use): an
// error of wire's class, or a line of proto with a three-digit code and a
// clipped reason the line holds.
func requireStatusLine(t *testing.T, h *wire.Handshake, proto string) {
	t.Helper()
	p, code, reason, err := wire.ParseStatusLine(h.StartLine, proto)
	if proto == wire.StatusGnutella {
		p6, code6, reason6, err6 := h.ParseStatus()
		require.Equal(t, err == nil, err6 == nil, "ParseStatus: %v, ParseStatusLine: %v", err6, err)
		require.Equal(t, []any{p, code, reason}, []any{p6, code6, reason6}, "ParseStatus")
	}
	if err != nil {
		require.ErrorIs(t, err, wire.ErrMalformed)
		return
	}
	require.LessOrEqual(t, len(h.StartLine), wire.MaxStatusLine)
	require.True(t, strings.HasPrefix(p, proto) && len(p) > len(proto), "protocol %q", p)
	require.True(t, strings.HasPrefix(h.StartLine, fmt.Sprintf("%s %d", p, code)), "code %d of %q", code, h.StartLine)
	require.GreaterOrEqual(t, code, 100)
	require.LessOrEqual(t, code, 999)
	require.LessOrEqual(t, len(reason), wire.MaxStatusReason)
	require.Contains(t, h.StartLine, reason)
}
