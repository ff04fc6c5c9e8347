package fuzz

import (
	"bytes"
	"errors"
	"io"
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

		requireAppendReadsBack(t, wire.ReadHTTPHead, h)
	})
}
