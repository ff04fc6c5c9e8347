package httpxfer

import (
	"bufio"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

var gtkGUID = wire.GUID{0x48, 0xc8, 0x31, 0x02, 0x0b, 0x29, 0xcc, 0x9f, 0x54, 0xca, 0x85, 0xf8, 0x1b, 0x70, 0xfe, 0xf8}

func TestParseGIVFromCapture(t *testing.T) {
	// push-giv.pcap connection 2: gtk-gnutella 54247 -> probe 7000 sends
	// the GIV, then its HTTP reply on the same connection.
	stream := tcpStreams(t, "testdata/push-giv.pcap")[[2]uint16{54247, 7000}]
	require.True(t, strings.HasPrefix(string(stream), "GIV 2:48c831020b29cc9f54ca85f81b70fef8/file\n\nHTTP/1.1 200 OK\r\n"))
	g, n, err := ParseGIV(stream)
	require.NoError(t, err)
	assert.Equal(t, 45, n)
	assert.Equal(t, GIV{Index: 2, ServentGUID: gtkGUID, Name: "file"}, g)
}

func TestParseGIV(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want GIV
		n    int
	}{
		{"CRLF line ends", "GIV 2:48C831020B29CC9F54CA85F81B70FEF8/penny lane.mp3\r\n\r\nGET", GIV{2, gtkGUID, "penny lane.mp3"}, 57},
		{"mixed line ends", "GIV 0:48c831020b29cc9f54ca85f81b70fef8/a\r\n\n", GIV{0, gtkGUID, "a"}, 43},
		{"empty name", "GIV 4294967295:48c831020b29cc9f54ca85f81b70fef8/\n\n", GIV{4294967295, gtkGUID, ""}, 50},
		{"name with slashes is kept verbatim", "GIV 1:48c831020b29cc9f54ca85f81b70fef8/../x\n\n", GIV{1, gtkGUID, "../x"}, 45},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, n, err := ParseGIV([]byte(tc.in))
			require.NoError(t, err)
			assert.Equal(t, tc.want, g)
			assert.Equal(t, tc.n, n)
		})
	}
}

func TestParseGIVGarbled(t *testing.T) {
	guid := "48c831020b29cc9f54ca85f81b70fef8"
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"not a GIV", "GET / HTTP/1.1\r\n\r\n", ErrMalformed},
		{"lower-case keyword", "giv 2:" + guid + "/file\n\n", ErrMalformed},
		{"no index", "GIV :" + guid + "/file\n\n", ErrMalformed},
		{"index not decimal", "GIV 2a:" + guid + "/file\n\n", ErrMalformed},
		{"negative index", "GIV -2:" + guid + "/file\n\n", ErrMalformed},
		{"index over 32 bits", "GIV 4294967296:" + guid + "/file\n\n", ErrMalformed},
		{"no colon", "GIV 2 " + guid + "/file\n\n", ErrMalformed},
		{"short GUID", "GIV 2:" + guid[:30] + "/file\n\n", ErrMalformed},
		{"GUID not hex", "GIV 2:" + strings.Repeat("z", 32) + "/file\n\n", ErrMalformed},
		{"no slash after GUID", "GIV 2:" + guid + "file\n\n", ErrMalformed},
		{"second line not empty", "GIV 2:" + guid + "/file\nX: y\n\n", ErrMalformed},
		{"line too long", "GIV 2:" + guid + "/" + strings.Repeat("a", 2000) + "\n\n", ErrMalformed},
		{"line too long without end", "GIV 2:" + guid + "/" + strings.Repeat("a", 2000), ErrMalformed},
		{"cut in the line", "GIV 2:" + guid + "/fi", ErrTruncated},
		{"cut before the empty line", "GIV 2:" + guid + "/file\n", ErrTruncated},
		{"empty", "", ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseGIV([]byte(tc.in))
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

func TestReadGIV(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("GIV 2:48c831020b29cc9f54ca85f81b70fef8/file\n\nGET /get/2/x HTTP/1.1\r\n"))
	g, err := ReadGIV(br)
	require.NoError(t, err)
	assert.Equal(t, GIV{2, gtkGUID, "file"}, g)
	rest, _ := br.ReadString('\n')
	assert.Equal(t, "GET /get/2/x HTTP/1.1\r\n", rest, "nothing past the GIV is consumed")

	_, err = ReadGIV(bufio.NewReader(strings.NewReader("GIV 2:48c8")))
	assert.ErrorIs(t, err, ErrTruncated)
	_, err = ReadGIV(bufio.NewReader(strings.NewReader(strings.Repeat("G", 5000))))
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = ReadGIV(bufio.NewReader(strings.NewReader("HELLO\n\n")))
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestAppendGIV(t *testing.T) {
	b, err := AppendGIV([]byte("x"), GIV{Index: 2, ServentGUID: gtkGUID, Name: "penny lane.mp3"})
	require.NoError(t, err)
	assert.Equal(t, "xGIV 2:48c831020b29cc9f54ca85f81b70fef8/penny lane.mp3\n\n", string(b))

	g, n, err := ParseGIV(b[1:])
	require.NoError(t, err)
	assert.Equal(t, len(b)-1, n)
	assert.Equal(t, GIV{2, gtkGUID, "penny lane.mp3"}, g)

	for _, name := range []string{"a\nb", "a\rb", "a\x00b", strings.Repeat("n", MaxGIVLen)} {
		_, err := AppendGIV(nil, GIV{Name: name})
		assert.ErrorIs(t, err, ErrMalformed, "%q", name)
	}
}

// A line of MaxGIVLen+1 bytes ending in a bare LF is over the limit too
// (found by FuzzGIV): the limit counts the line without its end.
func TestGIVLineLimitIsExact(t *testing.T) {
	prefix := "GIV 1:48c831020b29cc9f54ca85f81b70fef8/"
	at := prefix + strings.Repeat("a", MaxGIVLen-len(prefix))
	_, _, err := ParseGIV([]byte(at + "\n\n"))
	require.NoError(t, err, "exactly MaxGIVLen bytes is allowed")
	_, _, err = ParseGIV([]byte(at + "a\n\n"))
	require.ErrorIs(t, err, ErrMalformed)
	_, _, err = ParseGIV([]byte(at + "a\r\n\r\n"))
	require.ErrorIs(t, err, ErrMalformed)
}
