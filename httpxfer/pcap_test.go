package httpxfer

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire/capture"
)

// tcpStreams returns the TCP payload of a capture per direction, keyed by
// {source port, destination port}, as wire/capture reassembles it.
func tcpStreams(t *testing.T, path string) map[[2]uint16][]byte {
	t.Helper()
	c, err := capture.ReadFile(path, capture.Options{})
	require.NoError(t, err)
	streams := make(map[[2]uint16][]byte)
	for _, conn := range c.Conns {
		for _, s := range []*capture.Stream{&conn.FromClient, &conn.FromServer} {
			require.NoError(t, s.Err())
			if len(s.Data) > 0 {
				k := [2]uint16{s.From.Port(), s.To.Port()}
				streams[k] = append(streams[k], s.Data...)
			}
		}
	}
	require.NotEmpty(t, streams)
	return streams
}

// splitHead splits an HTTP response into head (with its CRLF CRLF) and body.
func splitHead(t *testing.T, b []byte) (head, body []byte) {
	t.Helper()
	i := bytes.Index(b, []byte("\r\n\r\n"))
	require.Positive(t, i)
	return b[:i+4], b[i+4:]
}
