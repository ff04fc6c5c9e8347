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
