package fuzz

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// readEvent is what one ReadMessage call gave: the error class and, for a
// descriptor, its header and payload (copied: the Reader's views die at the
// next call).
type readEvent struct {
	Class   string
	Header  wire.Header
	Payload []byte
	Offset  int64
}

func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, wire.ErrTooLarge):
		return "too large"
	case errors.Is(err, wire.ErrTruncated):
		return "truncated"
	case errors.Is(err, wire.ErrMalformed):
		return "malformed"
	}
	return "other: " + err.Error()
}

// readAll reads descriptors until the stream ends or breaks. On the way it
// checks each against data, the whole stream: a descriptor that decoded
// appends back to exactly its bytes, a malformed one keeps its header and
// raw payload, and a frame error is what the bytes say.
func readAll(t *testing.T, r *wire.Reader, data []byte, limit uint32) []readEvent {
	var events []readEvent
	for range len(data)/wire.HeaderLen + 2 {
		off := r.Offset()
		m, err := r.ReadMessage()
		ev := readEvent{Class: errClass(err), Offset: r.Offset()}
		switch ev.Class {
		case "ok", "malformed":
			require.NotNil(t, m)
			raw := data[off:ev.Offset]
			require.Equal(t, int64(wire.HeaderLen)+int64(m.Header.Length), ev.Offset-off)
			requireBytes(t, raw[:wire.HeaderLen], m.Header.Append(nil))
			requireBytes(t, raw[wire.HeaderLen:], m.Payload)
			ev.Header, ev.Payload = m.Header, bytes.Clone(m.Payload)
			if err == nil {
				out, err := m.Append(nil)
				require.NoError(t, err, "a decoded message must encode")
				requireBytes(t, raw, out, "descriptor at offset %d does not re-encode to its bytes", off)
			}
			events = append(events, ev)
			continue
		case "eof":
			require.Equal(t, int64(len(data)), off, "io.EOF before the end of the stream")
		case "too large":
			require.ErrorIs(t, err, wire.ErrFrame)
			h, perr := wire.ParseHeader(data[off:])
			require.NoError(t, perr)
			require.Greater(t, h.Length, limit)
			require.Equal(t, off, ev.Offset, "nothing of an over-limit descriptor is consumed")
		case "truncated":
			require.ErrorIs(t, err, wire.ErrFrame)
			// How much of a cut descriptor was consumed depends on the
			// buffer (a large payload is read, a small one only peeked);
			// the stream is dead either way. Compare where it started.
			ev.Offset = off
			rest := data[off:]
			if len(rest) >= wire.HeaderLen {
				h, _ := wire.ParseHeader(rest)
				require.Less(t, len(rest), wire.HeaderLen+int(h.Length), "truncated, but the descriptor is all there")
			}
		default:
			t.Fatalf("ReadMessage at offset %d: unexpected error %v", off, err)
		}
		require.Nil(t, m, "%s comes without a message", ev.Class)
		return append(events, ev)
	}
	t.Fatalf("ReadMessage did not stop after %d calls on %d bytes", len(data)/wire.HeaderLen+2, len(data))
	return nil
}

// FuzzReader reads a descriptor stream in one piece and cut at points
// derived from seed, through a small and a default buffer: every way must
// give the same descriptors and the same error at the same place.
func FuzzReader(f *testing.F) {
	var all []byte
	for _, name := range []string{"ping-empty", "pong", "query", "queryhit", "bye"} {
		all = append(all, golden(f, name)...)
	}
	f.Add(all, uint64(1), uint32(0))
	f.Add(all, uint64(99), uint32(40))            // the QueryHit is over the limit
	f.Add(all[:len(all)-3], uint64(5), uint32(0)) // ends inside the Bye
	f.Add(append(golden(f, "ping-empty"), 1, 2, 3), uint64(3), uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, limit uint32) {
		limit %= 1 << 17 // the payload limit sizes the Reader's second buffer
		want := readAll(t, wire.NewReader(bytes.NewReader(data), limit), data, limit)
		effective := limit
		if effective == 0 {
			effective = wire.DefaultMaxPayload
		}
		small := wire.HeaderLen + int(seed>>32)%64
		for _, c := range []struct {
			name string
			r    *wire.Reader
		}{
			{"one byte at a time, header-sized buffer", wire.NewReaderSize(iotest.OneByteReader(bytes.NewReader(data)), limit, wire.HeaderLen)},
			{"chunks, small buffer", wire.NewReaderSize(newChunkReader(data, seed, 1+int(seed%97)), limit, small)},
			{"chunks, default buffer", wire.NewReader(newChunkReader(data, ^seed, 1+int(seed%3001)), limit)},
			{"halves, small buffer", wire.NewReaderSize(iotest.HalfReader(bytes.NewReader(data)), limit, small)},
		} {
			got := readAll(t, c.r, data, effective)
			requireSame(t, want, got, c.name)
		}
	})
}

// FuzzHandshake reads one handshake block under limits taken from the
// input, checks the limits held and nothing past the block was consumed,
// that ParseHandshake finds the same block in the same bytes, and that the
// block read back from its Append is the same block.
func FuzzHandshake(f *testing.F) {
	f.Add([]byte("GNUTELLA CONNECT/0.6\r\nUser-Agent: gtk-gnutella/1.2\r\nX-Ultrapeer: False\r\n\r\n\x00\x01"), uint16(0), uint16(0))
	f.Add([]byte("GNUTELLA/0.6 200 OK\nX-Try: a,\n b\n\n"), uint16(2), uint16(0))
	f.Add([]byte("GNUTELLA/0.6 200 OK\r\nA: b\r\n\r\n"), uint16(0), uint16(20))
	f.Add([]byte(wire.Handshake04Connect), uint16(0), uint16(0))
	f.Add([]byte("GNUTELLA CONNECT/0.6\r\n no header to continue\r\n\r\n"), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, maxLines, maxBytes uint16) {
		lim := wire.HandshakeLimits{MaxLines: int(maxLines % 256), MaxBytes: int(maxBytes)}
		eff := lim
		if eff.MaxLines == 0 {
			eff.MaxLines = wire.DefaultHandshakeMaxLines
		}
		if eff.MaxBytes == 0 {
			eff.MaxBytes = wire.DefaultHandshakeMaxBytes
		}
		hs, consumed, br, err := readBlockTwice(t, wire.ReadHandshake, data, lim)
		end, lines := blockEnd(data)
		within := end >= 0 && end <= eff.MaxBytes && lines <= eff.MaxLines

		// The same bytes at once give ParseHandshake the same block.
		ph, pn, perr := wire.ParseHandshake(data, lim)
		require.Equal(t, err == nil, perr == nil, "ParseHandshake: %v, ReadHandshake: %v", perr, err)
		if err == nil {
			requireSame(t, hs, ph, "ParseHandshake")
			require.Equal(t, consumed, pn, "ParseHandshake's block length")
		}

		if err != nil {
			require.Nil(t, hs)
			switch {
			case errors.Is(err, wire.ErrHeaderTooLarge):
				require.False(t, within, "block of %d bytes, %d lines refused under %+v", end, lines, eff)
				require.LessOrEqual(t, consumed, eff.MaxBytes+blockBufSize, "read far past the byte limit")
			case errors.Is(err, wire.ErrTruncated):
				require.ErrorIs(t, err, io.ErrUnexpectedEOF)
				require.Negative(t, end, "truncated, but the block has its empty line")
			case errors.Is(err, io.EOF):
				require.Empty(t, data)
			default:
				require.ErrorIs(t, err, wire.ErrMalformed)
			}
			return
		}
		require.True(t, within, "accepted a block of %d bytes, %d lines under %+v", end, lines, eff)
		require.Equal(t, end, consumed, "ReadHandshake must stop right after the empty line")
		rest, err := io.ReadAll(br)
		require.NoError(t, err)
		requireBytes(t, data[end:], rest, "bytes after the block must stay unread")
		require.NotEmpty(t, hs.StartLine)
		requireStatusLine(t, hs, wire.StatusGnutella)

		requireAppendReadsBack(t, wire.ReadHandshake, hs)
	})
}

// blockReader is wire.ReadHandshake or wire.ReadHTTPHead.
type blockReader func(*bufio.Reader, wire.HandshakeLimits) (*wire.Handshake, error)

// blockBufSize is bufio's smallest buffer, so that long lines come in many
// pieces.
const blockBufSize = 16

// readBlockTwice reads one block from data through a blockBufSize buffer,
// and again fed one byte at a time through a default one, which must read
// the same. It returns the first read, the bytes it consumed and its
// reader, positioned after them.
func readBlockTwice(t *testing.T, read blockReader, data []byte, lim wire.HandshakeLimits) (*wire.Handshake, int, *bufio.Reader, error) {
	t.Helper()
	src := bytes.NewReader(data)
	br := bufio.NewReaderSize(src, blockBufSize)
	h, err := read(br, lim)
	consumed := len(data) - br.Buffered() - src.Len()
	h2, err2 := read(bufio.NewReader(iotest.OneByteReader(bytes.NewReader(data))), lim)
	require.Equal(t, errClass(err), errClass(err2), "split input")
	requireSame(t, h, h2, "split input")
	return h, consumed, br, err
}

// requireAppendReadsBack: the block h, appended, reads back as one block,
// the same, and appends to the same bytes again. Append writes CRLF and
// "Name: value": it may be longer than the input, so it is read back
// without limits.
func requireAppendReadsBack(t *testing.T, read blockReader, h *wire.Handshake) {
	t.Helper()
	out := h.Append(nil)
	huge := wire.HandshakeLimits{MaxLines: 1 << 20, MaxBytes: 1 << 30}
	br := bufio.NewReader(bytes.NewReader(out))
	again, err := read(br, huge)
	require.NoError(t, err, "an appended block must read back: %q", out)
	require.Zero(t, br.Buffered(), "an appended block is one block")
	requireSame(t, h, again, "read(append(read(x))) differs from read(x)")
	requireBytes(t, out, again.Append(nil))
}

// blockEnd returns the length of the first handshake block, through its
// empty line (bare LF or CRLF), and the lines before that empty line; -1
// when there is none.
func blockEnd(s []byte) (end, lines int) {
	for i := 0; i < len(s); {
		j := bytes.IndexByte(s[i:], '\n')
		if j < 0 {
			return -1, lines
		}
		line := s[i : i+j]
		i += j + 1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return i, lines
		}
		lines++
	}
	return -1, lines
}
