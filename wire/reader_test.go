package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Buffered and Offset count what ReadMessage has returned, though the
// Reader hands descriptors out of its buffer without telling bufio each time.
func TestReaderBufferedAndOffset(t *testing.T) {
	ping := rawHeader(TypePing, 1, 0, 0)
	pong := append(rawHeader(TypePong, 1, 0, 14), make([]byte, 14)...)
	stream := cat(ping, pong, ping)
	r := NewReader(bytes.NewReader(stream), 0)
	for i, want := range []int{len(ping), len(pong), len(ping)} {
		before := r.Offset()
		_, err := r.ReadMessage()
		require.NoError(t, err, "descriptor %d", i)
		assert.EqualValues(t, want, r.Offset()-before, "descriptor %d", i)
		assert.Equal(t, len(stream)-int(r.Offset()), r.Buffered(), "after descriptor %d", i)
	}
	_, err := r.ReadMessage()
	assert.ErrorIs(t, err, io.EOF)
	assert.Zero(t, r.Buffered())
}

// header builds a header by hand: GUID, type, TTL, hops, LE length.
func rawHeader(t PayloadType, ttl, hops uint8, length uint32) []byte {
	b := make([]byte, HeaderLen)
	for i := range GUIDLen {
		b[i] = byte(i + 1)
	}
	b[16], b[17], b[18] = byte(t), ttl, hops
	binary.LittleEndian.PutUint32(b[19:], length)
	return b
}

// countingReader records how many bytes were read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReaderErrors(t *testing.T) {
	t.Run("over the limit fails before the payload is read", func(t *testing.T) {
		in := append(rawHeader(TypeQuery, 3, 0, 1<<30), make([]byte, 100)...)
		cr := &countingReader{r: iotest.OneByteReader(bytes.NewReader(in))}
		r := NewReader(cr, 1024)
		m, err := r.ReadMessage()
		assert.Nil(t, m)
		assert.ErrorIs(t, err, ErrTooLarge)
		assert.ErrorIs(t, err, ErrFrame, "over-limit is connection-fatal")
		assert.NotErrorIs(t, err, ErrMalformed)
		assert.Equal(t, HeaderLen, cr.n, "nothing past the header was read")
	})
	t.Run("limit is inclusive", func(t *testing.T) {
		in := append(rawHeader(TypeVendor, 1, 0, 8), []byte("GTKG\x01\x00\x01\x00")...)
		_, err := NewReader(bytes.NewReader(in), 8).ReadMessage()
		assert.NoError(t, err)
	})
	t.Run("stream ends inside a header", func(t *testing.T) {
		_, err := NewReader(bytes.NewReader(rawHeader(TypePing, 1, 0, 0)[:10]), 0).ReadMessage()
		assert.ErrorIs(t, err, ErrTruncated)
		assert.ErrorIs(t, err, ErrFrame)
	})
	for _, bufSize := range []int{DefaultReadBuffer, HeaderLen} {
		t.Run("stream ends inside a payload", func(t *testing.T) {
			in := append(rawHeader(TypePong, 1, 0, 14), 1, 2, 3)
			_, err := NewReaderSize(bytes.NewReader(in), 0, bufSize).ReadMessage()
			assert.ErrorIs(t, err, ErrTruncated)
			assert.ErrorIs(t, err, ErrFrame)
		})
	}
	t.Run("malformed payload is a message error and the stream goes on", func(t *testing.T) {
		var in []byte
		in = append(in, rawHeader(TypePong, 1, 0, 3)...) // a Pong needs 14 bytes
		in = append(in, 1, 2, 3)
		in = append(in, rawHeader(TypePing, 1, 0, 0)...)
		r := NewReader(bytes.NewReader(in), 0)
		m, err := r.ReadMessage()
		require.NotNil(t, m, "the header and raw payload come back")
		assert.ErrorIs(t, err, ErrMalformed)
		assert.NotErrorIs(t, err, ErrFrame)
		assert.Equal(t, TypePong, m.Header.Type)
		assert.Equal(t, []byte{1, 2, 3}, m.Payload)
		m, err = r.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, TypePing, m.Header.Type)
	})
	t.Run("unknown types are raw messages", func(t *testing.T) {
		in := append(rawHeader(TypeHSEP, 1, 0, 4), 9, 8, 7, 6)
		in = append(in, rawHeader(0x77, 1, 0, 0)...)
		r := NewReader(bytes.NewReader(in), 0)
		m, err := r.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, []byte{9, 8, 7, 6}, m.Payload)
		m, err = r.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, PayloadType(0x77), m.Header.Type)
	})
	t.Run("clean end between descriptors", func(t *testing.T) {
		_, err := NewReader(bytes.NewReader(nil), 0).ReadMessage()
		assert.Equal(t, io.EOF, err)
	})
	t.Run("read error is passed through", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := NewReader(iotest.ErrReader(boom), 0).ReadMessage()
		assert.ErrorIs(t, err, boom)
		assert.NotErrorIs(t, err, ErrFrame)
	})
}

// errTimeout is what a net.Conn read returns when its deadline passes.
type errTimeout struct{}

func (errTimeout) Error() string   { return "i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }

// stallingReader hands out its stream in the chunks given, and fails one
// read with a timeout for every nil chunk, as a conn whose read deadline
// passes while the peer is in the middle of a descriptor.
type stallingReader struct{ chunks [][]byte }

func (s *stallingReader) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	if s.chunks[0] == nil {
		s.chunks = s.chunks[1:]
		return 0, errTimeout{}
	}
	n := copy(p, s.chunks[0])
	if s.chunks[0] = s.chunks[0][n:]; len(s.chunks[0]) == 0 {
		s.chunks = s.chunks[1:]
	}
	return n, nil
}

// A read that times out in the middle of a descriptor loses nothing: the
// next read goes on where it stopped, for payloads read in place and for
// those over the buffer size, and for a timeout inside the header.
func TestReaderResumesAfterTimeout(t *testing.T) {
	query := func(n int) []byte {
		text := bytes.Repeat([]byte("q"), n)
		payload := append([]byte{0, 0}, append(text, 0)...)
		return append(rawHeader(TypeQuery, 2, 0, uint32(len(payload))), payload...)
	}
	ping := rawHeader(TypePing, 1, 0, 0)
	for _, tc := range []struct {
		name string
		desc []byte
		cut  int // where the stream stalls
	}{
		{"inside a payload read in place", query(1000), HeaderLen + 500},
		{"inside a payload over the buffer size", query(3 * DefaultReadBuffer), HeaderLen + DefaultReadBuffer + 100},
		{"right after the header of a big payload", query(3 * DefaultReadBuffer), HeaderLen},
		{"inside a header", query(10), 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := cat(ping, tc.desc, ping)
			cut := len(ping) + tc.cut
			sr := &stallingReader{chunks: [][]byte{bytes.Clone(stream[:cut]), nil, bytes.Clone(stream[cut:])}}
			r := NewReader(sr, 0)
			m, err := r.ReadMessage()
			require.NoError(t, err)
			require.Equal(t, TypePing, m.Header.Type)
			_, err = r.ReadMessage()
			require.Error(t, err, "the stall shows")
			var ne interface{ Timeout() bool }
			require.ErrorAs(t, err, &ne)
			assert.True(t, ne.Timeout())
			assert.NotErrorIs(t, err, ErrFrame, "a timeout is not a broken frame")
			m, err = r.ReadMessage()
			require.NoError(t, err, "the read resumes")
			assert.Equal(t, TypeQuery, m.Header.Type)
			assert.Equal(t, tc.desc[HeaderLen:], m.Payload)
			m, err = r.ReadMessage()
			require.NoError(t, err)
			assert.Equal(t, TypePing, m.Header.Type, "still in step")
			_, err = r.ReadMessage()
			assert.ErrorIs(t, err, io.EOF)
			assert.EqualValues(t, len(stream), r.Offset())
		})
	}
}

// ReadHeader hands out each header before its payload: a payload skipped by
// asking for the next header is never decoded (a malformed one raises no
// error), whether it sits in the buffer or is larger than it, and a
// ReadPayload after ReadHeader decodes the one asked for.
func TestReaderHeaderFirst(t *testing.T) {
	badPong := append(rawHeader(TypePong, 1, 0, 3), 1, 2, 3) // a Pong needs 14 bytes
	big := append(rawHeader(TypeQuery, 1, 0, 3*DefaultReadBuffer), make([]byte, 3*DefaultReadBuffer)...)
	pong := append(rawHeader(TypePong, 2, 0, 14), make([]byte, 14)...)
	stream := cat(badPong, big, pong, badPong)
	for name, mk := range map[string]func() io.Reader{
		"plain":    func() io.Reader { return bytes.NewReader(stream) },
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
	} {
		t.Run(name, func(t *testing.T) {
			r := NewReader(mk(), 0)
			h, err := r.ReadHeader()
			require.NoError(t, err)
			assert.Equal(t, TypePong, h.Type)
			h, err = r.ReadHeader()
			require.NoError(t, err, "the malformed Pong was skipped, not decoded")
			assert.Equal(t, TypeQuery, h.Type)
			assert.EqualValues(t, 3*DefaultReadBuffer, h.Length)
			h, err = r.ReadHeader()
			require.NoError(t, err, "the big Query was skipped")
			assert.Equal(t, TypePong, h.Type)
			assert.EqualValues(t, 2, h.TTL)
			m, err := r.ReadPayload()
			require.NoError(t, err)
			assert.Equal(t, TypePong, m.Header.Type)
			_, err = r.ReadPayload()
			assert.Error(t, err, "one payload per header")
			m, err = r.ReadMessage()
			assert.ErrorIs(t, err, ErrMalformed, "ReadMessage decodes")
			assert.Equal(t, []byte{1, 2, 3}, m.Payload)
			_, err = r.ReadHeader()
			assert.ErrorIs(t, err, io.EOF)
			assert.EqualValues(t, len(stream), r.Offset())
		})
	}
}

// A skip that a timeout interrupts goes on at the next ReadHeader.
func TestReaderSkipResumesAfterTimeout(t *testing.T) {
	big := append(rawHeader(TypeQuery, 1, 0, 3*DefaultReadBuffer), make([]byte, 3*DefaultReadBuffer)...)
	small := append(rawHeader(TypeQuery, 1, 0, 100), make([]byte, 100)...)
	ping := rawHeader(TypePing, 1, 0, 0)
	for _, tc := range []struct {
		name string
		desc []byte
		cut  int
	}{
		{"a payload over the buffer size", big, HeaderLen + DefaultReadBuffer + 7},
		{"a payload read in place", small, HeaderLen + 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := cat(tc.desc, ping)
			sr := &stallingReader{chunks: [][]byte{bytes.Clone(stream[:tc.cut]), nil, bytes.Clone(stream[tc.cut:])}}
			r := NewReader(sr, 0)
			h, err := r.ReadHeader()
			require.NoError(t, err)
			require.Equal(t, TypeQuery, h.Type)
			_, err = r.ReadHeader()
			require.Error(t, err)
			assert.NotErrorIs(t, err, ErrFrame)
			h, err = r.ReadHeader()
			require.NoError(t, err)
			assert.Equal(t, TypePing, h.Type, "the skip went on where it stopped")
			_, err = r.ReadHeader()
			assert.ErrorIs(t, err, io.EOF)
		})
	}
}

// A length one byte over the limit is ErrTooLarge with nothing read past
// the header, and the Reader stays failed.
func TestReaderOneOverLimit(t *testing.T) {
	const limit = 1000
	in := append(rawHeader(TypeQuery, 3, 0, limit+1), make([]byte, limit+1)...)
	cr := &countingReader{r: iotest.OneByteReader(bytes.NewReader(in))}
	r := NewReader(cr, limit)
	_, err := r.ReadHeader()
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.ErrorIs(t, err, ErrFrame)
	assert.Equal(t, HeaderLen, cr.n, "nothing past the header was read")
	_, err = r.ReadMessage()
	assert.ErrorIs(t, err, ErrTooLarge, "for good")
	assert.Equal(t, HeaderLen, cr.n)
}

// A frame error says its class and its kind once each, with no package
// name, alone or wrapped by another error.
func TestFrameErrorSaysEachOnce(t *testing.T) {
	_, err := NewReader(bytes.NewReader(rawHeader(TypePing, 1, 0, 0)[:10]), 0).ReadMessage()
	assert.EqualError(t, err, "broken descriptor frame: truncated input: stream ends 10 bytes into a header at offset 0")
	in := rawHeader(TypeQuery, 1, 0, 2048)
	_, err = NewReader(bytes.NewReader(in), 1024).ReadMessage()
	assert.EqualError(t, err, "broken descriptor frame: payload length over limit: QUERY payload of 2048 bytes at offset 0, limit 1024")
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.ErrorIs(t, err, ErrFrame)
	assert.EqualError(t, ErrTruncated, "truncated input")
	_, err = ParseHeader(make([]byte, 3))
	assert.EqualError(t, err, "truncated input: header needs 23 bytes, have 3")
}
