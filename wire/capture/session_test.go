package capture

import (
	"bytes"
	"compress/zlib"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

func TestSplitBlocks(t *testing.T) {
	// splitBlocks cuts n blocks as splitFlow does, one after the other.
	splitBlocks := func(b []byte, n, limit int) (blocks [][]byte, rest []byte, err error) {
		rest = b
		for range n {
			var block []byte
			if block, rest, _, err = splitBlock(rest, limit); block == nil {
				return blocks, nil, err
			}
			blocks = append(blocks, block)
		}
		return blocks, rest, nil
	}
	tests := []struct {
		name     string
		in       string
		n, limit int
		blocks   []string
		rest     string
		restNil  bool
		wantErr  error
	}{
		{name: "CRLF block", in: "GNUTELLA/0.6 200 OK\r\nA: b\r\n\r\nrest", n: 1, limit: 100,
			blocks: []string{"GNUTELLA/0.6 200 OK\r\nA: b\r\n\r\n"}, rest: "rest"},
		{name: "LF LF block", in: "GNUTELLA CONNECT/0.4\n\n\x01\x02", n: 1, limit: 100,
			blocks: []string{"GNUTELLA CONNECT/0.4\n\n"}, rest: "\x01\x02"},
		{name: "bare status line", in: "GNUTELLA/0.6 200 OK\r\n\r\n", n: 1, limit: 100,
			blocks: []string{"GNUTELLA/0.6 200 OK\r\n\r\n"}, rest: ""},
		{name: "two blocks", in: "A\r\n\r\nB\n\nC", n: 2, limit: 100, blocks: []string{"A\r\n\r\n", "B\n\n"}, rest: "C"},
		{name: "CR inside a line is not an empty line", in: "A\r\nB\r\r\n\r\nx", n: 1, limit: 100, blocks: []string{"A\r\nB\r\r\n\r\n"}, rest: "x"},
		{name: "block exactly at the limit", in: "AB\n\nx", n: 1, limit: 4, blocks: []string{"AB\n\n"}, rest: "x"},
		{name: "block one over the limit", in: "ABC\n\nx", n: 1, limit: 4, restNil: true, wantErr: wire.ErrHeaderTooLarge},
		{name: "no empty line yet", in: "GNUTELLA CONNECT/0.6\r\nA: b\r\n", n: 1, limit: 100, restNil: true, wantErr: wire.ErrTruncated},
		{name: "no newline at all, long", in: strings.Repeat("x", 200), n: 1, limit: 100, restNil: true, wantErr: wire.ErrHeaderTooLarge},
		{name: "second block missing", in: "A\n\nB\r\n", n: 2, limit: 100, blocks: []string{"A\n\n"}, restNil: true, wantErr: wire.ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocks, rest, err := splitBlocks([]byte(tt.in), tt.n, tt.limit)
			var got []string
			for _, b := range blocks {
				got = append(got, string(b))
			}
			assert.Equal(t, tt.blocks, got)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			} else {
				assert.NoError(t, err)
			}
			if tt.restNil {
				assert.Nil(t, rest)
			} else {
				assert.Equal(t, tt.rest, string(rest))
			}
		})
	}
}

func TestAnnouncesDeflate(t *testing.T) {
	tests := []struct {
		block string
		want  bool
	}{
		{"GNUTELLA/0.6 200 OK\r\nContent-Encoding: deflate\r\n\r\n", true},
		{"GNUTELLA/0.6 200 OK\r\ncontent-encoding:DEFLATE\r\n\r\n", true},
		{"GNUTELLA/0.6 200 OK\r\nContent-Encoding: gzip, deflate\r\n\r\n", true},
		{"GNUTELLA/0.6 200 OK\nContent-Encoding: deflate\n\n", true},
		{"GNUTELLA/0.6 200 OK\r\nAccept-Encoding: deflate\r\n\r\n", false},
		{"GNUTELLA/0.6 200 OK\r\nContent-Encoding: deflated\r\n\r\n", false},
		{"GNUTELLA/0.6 200 OK\r\nX-Content-Encoding: deflate\r\n\r\n", false},
		{"Content-Encoding: deflate\r\n\r\n", false},                                        // a status line, not a header
		{"GNUTELLA/0.6 200 OK\r\nno colon here\r\nContent-Encoding: deflate\r\n\r\n", true}, // a bad line does not hide the rest
	}
	for _, tt := range tests {
		_, _, h, err := splitBlock([]byte(tt.block), 1<<10)
		require.NoError(t, err)
		assert.Equal(t, tt.want, announcesDeflate(h), "%q", tt.block)
	}
}

// zlibFlushed compresses each write followed by a sync flush, as a servent
// does, and never closes the stream.
func zlibFlushed(t *testing.T, writes ...[]byte) ([]byte, []int) {
	t.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	var ends []int
	for _, w := range writes {
		_, err := zw.Write(w)
		require.NoError(t, err)
		require.NoError(t, zw.Flush())
		ends = append(ends, buf.Len())
	}
	return buf.Bytes(), ends
}

func TestInflate(t *testing.T) {
	d1 := descriptor(1, 0x00, 1, 0, 0, nil)
	d2 := descriptor(2, 0x80, 1, 0, 8, []byte("\x80\x00penny\x00"))
	z, ends := zlibFlushed(t, d1, d2)
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	wireTL := Timeline{{0, t0}, {ends[0], t0.Add(time.Second)}}

	t.Run("unfinished stream inflates to what was flushed", func(t *testing.T) {
		out, tl, err := inflate(z, wireTL, 1<<20)
		require.NoError(t, err)
		assert.Equal(t, append(append([]byte{}, d1...), d2...), out)
		assert.Equal(t, t0, tl.At(0))
		assert.Equal(t, t0.Add(time.Second), tl.At(len(d1)), "second flush's bytes carry the second segment's time")
	})
	t.Run("cut inside the second flush keeps what was inflated", func(t *testing.T) {
		out, _, err := inflate(z[:ends[0]+3], wireTL, 1<<20)
		require.NoError(t, err)
		// flate hands out the part of a block it decoded before the input
		// ran out: all of d1, maybe the start of d2, never more.
		whole := append(append([]byte{}, d1...), d2...)
		require.GreaterOrEqual(t, len(out), len(d1))
		require.Less(t, len(out), len(whole))
		assert.Equal(t, whole[:len(out)], out)
	})
	t.Run("finished stream", func(t *testing.T) {
		var buf bytes.Buffer
		zw := zlib.NewWriter(&buf)
		_, err := zw.Write(d2)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		out, _, err := inflate(buf.Bytes(), nil, 1<<20)
		require.NoError(t, err)
		assert.Equal(t, d2, out)
	})
	t.Run("bomb over the limit", func(t *testing.T) {
		bomb, _ := zlibFlushed(t, make([]byte, 1<<20))
		require.Less(t, len(bomb), 4096)
		out, _, err := inflate(bomb, nil, 64<<10)
		assert.ErrorIs(t, err, ErrInflateTooLarge)
		assert.LessOrEqual(t, len(out), 64<<10)
	})
	t.Run("not zlib", func(t *testing.T) {
		_, _, err := inflate(d2, nil, 1<<20)
		assert.ErrorIs(t, err, ErrInflate)
	})
	t.Run("corrupt deflate data", func(t *testing.T) {
		bad := append([]byte{}, z...)
		bad[2] = 0xff // block type 3 is reserved
		_, _, err := inflate(bad, nil, 1<<20)
		assert.ErrorIs(t, err, ErrInflate)
	})
	t.Run("only one byte of header", func(t *testing.T) {
		out, _, err := inflate(z[:1], nil, 1<<20)
		assert.NoError(t, err)
		assert.Empty(t, out)
	})
}

// TestDeflateStartsAfterFinalBlocks builds a 0.6 session in which both sides
// compress, and checks the 0.6 rule: the client's stream starts after its
// third-step block, the server's after its 200.
func TestDeflateStartsAfterFinalBlocks(t *testing.T) {
	connect := "GNUTELLA CONNECT/0.6\r\nAccept-Encoding: deflate\r\n\r\n"
	ok200 := "GNUTELLA/0.6 200 OK\r\nAccept-Encoding: deflate\r\nContent-Encoding: deflate\r\n\r\n"
	final := "GNUTELLA/0.6 200 OK\r\nContent-Encoding: deflate\r\n\r\n"
	ping := descriptor(7, 0x00, 1, 0, 0, nil)
	pong := descriptor(7, 0x01, 1, 0, 14, make([]byte, 14))
	bye := descriptor(8, 0x02, 1, 0, 3, []byte{200, 0, 0})
	zc, _ := zlibFlushed(t, ping, bye)
	zs, _ := zlibFlushed(t, pong)

	var buf bytes.Buffer
	require.NoError(t, WriteConn(&buf, 40010, []Chunk{
		{ClientToServer, []byte(connect)},
		{ServerToClient, []byte(ok200)},
		{ClientToServer, append([]byte(final), zc[:5]...)}, // compressed bytes ride with the block
		{ServerToClient, zs},
		{ClientToServer, zc[5:]},
	}))
	sessions := decodeBytes(t, buf.Bytes())
	require.Len(t, sessions, 1)
	s := sessions[0]

	require.NoError(t, s.FromClient.Err)
	assert.Equal(t, []string{connect, final}, blockStrings(s.FromClient.Blocks))
	assert.True(t, s.FromClient.Deflate)
	assert.Equal(t, zc, s.FromClient.Wire)
	assert.Equal(t, append(append([]byte{}, ping...), bye...), s.FromClient.Descriptors)

	require.NoError(t, s.FromServer.Err)
	assert.Equal(t, []string{ok200}, blockStrings(s.FromServer.Blocks))
	assert.True(t, s.FromServer.Deflate)
	assert.Equal(t, pong, s.FromServer.Descriptors)
}

func decodeBytes(t *testing.T, b []byte) []Session {
	t.Helper()
	c := readBytes(t, b, Options{})
	var out []Session
	for _, conn := range c.Conns {
		out = append(out, Split(conn, Options{}))
	}
	return out
}

func blockStrings(bs [][]byte) []string {
	var out []string
	for _, b := range bs {
		out = append(out, string(b))
	}
	return out
}

func TestSplitKinds(t *testing.T) {
	tests := []struct {
		name       string
		chunks     []Chunk
		fromClient Kind
		fromServer Kind
		clientErr  error
	}{
		{"refused 0.6 handshake", []Chunk{
			{ClientToServer, []byte("GNUTELLA CONNECT/0.6\r\nX-Ultrapeer: False\r\n\r\n")},
			{ServerToClient, []byte("GNUTELLA/0.6 503 Full\r\nX-Try-Ultrapeers: 1.2.3.4:6346\r\n\r\n")},
		}, KindGnutella06, KindGnutella06, nil},
		{"0.4 accepted", []Chunk{
			{ClientToServer, []byte("GNUTELLA CONNECT/0.4\n\n")},
			{ServerToClient, []byte("GNUTELLA OK\n\n")},
			{ClientToServer, descriptor(1, 0, 7, 0, 0, nil)},
		}, KindGnutella04, KindGnutella04, nil},
		{"HTTP HEAD", []Chunk{
			{ClientToServer, []byte("HEAD /uri-res/N2R?urn:sha1:X HTTP/1.1\r\n\r\n")},
			{ServerToClient, []byte("HTTP/1.1 404 Not Found\r\n\r\n")},
		}, KindHTTP, KindHTTP, nil},
		{"something else", []Chunk{{ClientToServer, []byte("SSH-2.0-OpenSSH\r\n")}}, KindUnknown, KindNone, nil},
		{"CONNECT never finished", []Chunk{{ClientToServer, []byte("GNUTELLA CONNECT/0.6\r\nUser-Agent: x\r\n")}},
			KindGnutella06, KindNone, wire.ErrTruncated},
		{"final block never finished", []Chunk{
			{ClientToServer, []byte("GNUTELLA CONNECT/0.6\r\n\r\n")},
			{ServerToClient, []byte("GNUTELLA/0.6 200 OK\r\n\r\n")},
			{ClientToServer, []byte("GNUTELLA/0.6 200 OK\r\n")},
		}, KindGnutella06, KindGnutella06, wire.ErrTruncated},
		{"deflate announced but garbage follows", []Chunk{
			{ClientToServer, []byte("GNUTELLA CONNECT/0.6\r\n\r\n")},
			{ServerToClient, []byte("GNUTELLA/0.6 200 OK\r\n\r\n")},
			{ClientToServer, []byte("GNUTELLA/0.6 200 OK\r\nContent-Encoding: deflate\r\n\r\nnot zlib at all")},
		}, KindGnutella06, KindGnutella06, ErrInflate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, WriteConn(&buf, 40020, tt.chunks))
			sessions := decodeBytes(t, buf.Bytes())
			require.Len(t, sessions, 1)
			s := sessions[0]
			assert.Equal(t, tt.fromClient, s.FromClient.Kind)
			assert.Equal(t, tt.fromServer, s.FromServer.Kind)
			assert.NoError(t, s.FromServer.Err)
			if tt.clientErr != nil {
				assert.ErrorIs(t, s.FromClient.Err, tt.clientErr)
			} else {
				assert.NoError(t, s.FromClient.Err)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	assert.Equal(t, "gnutella/0.6", KindGnutella06.String())
	assert.Equal(t, "giv", KindGIV.String())
	assert.Equal(t, "Kind(99)", Kind(99).String())
}
