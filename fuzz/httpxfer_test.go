package fuzz

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer"
)

// FuzzGIV parses GIV lines: ParseGIV and ReadGIV agree, neither uses a
// byte past the empty line, a line over MaxGIVLen is refused, and what
// parses reads back the same from AppendGIV (index digits and GUID case
// are not kept, so the round trip is by value).
func FuzzGIV(f *testing.F) {
	f.Add([]byte("GIV 0:0123456789abcdef0123456789abcdef/file\n\n"))
	f.Add([]byte("GIV 4294967295:0123456789ABCDEF0123456789ABCDEF/penny lane.mp3\r\n\r\nGET / HTTP/1.1\r\n"))
	f.Add([]byte("GIV 4294967296:0123456789abcdef0123456789abcdef/x\n\n"))
	f.Add([]byte("GIV 1:0123456789abcdef0123456789abcdef/x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, n, err := httpxfer.ParseGIV(data)
		br := bufio.NewReader(iotest.OneByteReader(bytes.NewReader(data)))
		rg, rerr := httpxfer.ReadGIV(br)
		if err != nil {
			require.Zero(t, n)
			switch {
			case errors.Is(err, httpxfer.ErrTruncated):
				require.Less(t, bytes.Count(data, []byte("\n")), 2, "truncated, but two lines are there")
			default:
				require.ErrorIs(t, err, httpxfer.ErrMalformed)
			}
			require.Error(t, rerr, "ReadGIV accepts what ParseGIV refuses")
			return
		}
		require.NoError(t, rerr, "ReadGIV refuses what ParseGIV accepts")
		require.Equal(t, g, rg)
		require.Positive(t, n)
		require.LessOrEqual(t, n, len(data))
		require.Equal(t, byte('\n'), data[n-1])
		rest := make([]byte, len(data))
		m, _ := br.Read(rest)
		for m < len(data)-n {
			k, err := br.Read(rest[m:])
			if err != nil {
				break
			}
			m += k
		}
		requireBytes(t, data[n:], rest[:m], "ReadGIV read past the empty line")
		line := bytes.TrimSuffix(data[:bytes.IndexByte(data, '\n')], []byte("\r"))
		// MaxGIVLen bounds the line without its end (seed gen-giv-1025
		// once slipped a bare-LF line one byte over it).
		require.LessOrEqual(t, len(line), httpxfer.MaxGIVLen, "a GIV line over MaxGIVLen was accepted")

		out, err := httpxfer.AppendGIV(nil, g)
		if err != nil {
			// The parser takes any name; the encoder refuses the ones that
			// would break the line.
			require.ErrorIs(t, err, httpxfer.ErrMalformed)
			// AppendGIV budgets for a ten-digit index.
			const longestFixed = len("GIV :/") + 10 + 32
			require.True(t, bytes.ContainsAny([]byte(g.Name), "\r\n\x00") || len(g.Name)+longestFixed > httpxfer.MaxGIVLen,
				"AppendGIV refused a name ParseGIV took: %q", g.Name)
			return
		}
		again, n2, err := httpxfer.ParseGIV(out)
		require.NoError(t, err, "an appended GIV must parse: %q", out)
		require.Equal(t, len(out), n2)
		require.Equal(t, g, again)
	})
}

// FuzzAltLocs parses X-Alt, X-NAlt and X-Falt values: never more than the
// read bound, never an address that cannot be dialled, and what we write
// of the result reads back the same.
func FuzzAltLocs(f *testing.F) {
	f.Add("1.2.3.4:6346, 5.6.7.8:12345")
	f.Add("tls=8, [2001:db8::1]:6348, 1.2.3.4")
	f.Add("9DBC52EEEBCA2C8A79036D626B959900;fwt/1;26252:85.182.49.3;pptls=E;69.12.88.95:1085;64.53.20.48:804")
	f.Fuzz(func(t *testing.T, v string) {
		good := httpxfer.ParseAltLocs([]string{v})
		require.LessOrEqual(t, len(good), 64)
		for _, ap := range good {
			require.NotZero(t, ap.Port())
			require.False(t, ap.Addr().IsUnspecified() || ap.Addr().IsMulticast())
		}
		var parts []string
		for _, ap := range good {
			parts = append(parts, ap.String())
		}
		require.Equal(t, good, httpxfer.ParseAltLocs([]string{strings.Join(parts, ", ")}))
		fw := httpxfer.ParseFalt([]string{v})
		require.LessOrEqual(t, len(fw), 64)
		for _, l := range fw {
			require.False(t, l.GUID.IsZero())
			require.LessOrEqual(t, len(l.Proxies), 8)
		}
	})
}
