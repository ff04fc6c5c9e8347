package httpxfer

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"

	"github.com/govent/govent/wire"
)

// MaxGIVLen bounds a GIV line (without its line end). Names are at most a
// few hundred bytes; anything longer is garbage.
const MaxGIVLen = 1024

// GIV is what a firewalled servent sends first on the connection it opens
// in answer to a Push: "GIV <index>:<servent GUID as 32 hex>/<name>\n\n".
// Only ServentGUID identifies anything: the receiver must not trust Index or
// Name (gtk-gnutella sends the literal name "file").
type GIV struct {
	Index       uint32
	ServentGUID wire.GUID
	Name        string
}

// ParseGIV parses a complete GIV (its line and the empty line after it,
// each ending in LF or CRLF) from the start of b and returns the number of
// bytes it used. If b holds only part of a GIV it returns ErrTruncated;
// read more and call again.
func ParseGIV(b []byte) (GIV, int, error) {
	line, n, err := cutLine(b)
	if err != nil {
		return GIV{}, 0, err
	}
	g, err := parseGIVLine(line)
	if err != nil {
		return GIV{}, 0, err
	}
	blank, m, err := cutLine(b[n:])
	if err != nil {
		return GIV{}, 0, err
	}
	if len(blank) != 0 {
		return GIV{}, 0, fmt.Errorf("%w: GIV not followed by an empty line", ErrMalformed)
	}
	return g, n + m, nil
}

// cutLine returns the line at the start of b without its LF or CRLF and the
// number of bytes including the line end.
func cutLine(b []byte) ([]byte, int, error) {
	i := bytes.IndexByte(b[:min(len(b), MaxGIVLen+2)], '\n')
	switch {
	case i >= 0:
		line := bytes.TrimSuffix(b[:i], []byte{'\r'})
		if len(line) > MaxGIVLen {
			// The search window leaves room for a CR; a bare LF
			// after MaxGIVLen+1 bytes must not sneak a longer line in.
			return nil, 0, fmt.Errorf("%w: GIV line longer than %d bytes", ErrMalformed, MaxGIVLen)
		}
		return line, i + 1, nil
	case len(b) >= MaxGIVLen+2:
		return nil, 0, fmt.Errorf("%w: GIV line longer than %d bytes", ErrMalformed, MaxGIVLen)
	default:
		return nil, 0, fmt.Errorf("%w: GIV", ErrTruncated)
	}
}

// ReadGIV reads a GIV from br, for the servent that sniffed "GIV " on an
// incoming connection. It reads nothing past the GIV's empty line.
func ReadGIV(br *bufio.Reader) (GIV, error) {
	var buf [MaxGIVLen + 4]byte
	b := buf[:0]
	lines := 0
	for lines < 2 {
		c, err := br.ReadByte()
		if err != nil {
			return GIV{}, fmt.Errorf("%w: GIV: %w", ErrTruncated, err)
		}
		if len(b) == len(buf) {
			return GIV{}, fmt.Errorf("%w: GIV line longer than %d bytes", ErrMalformed, MaxGIVLen)
		}
		b = append(b, c)
		if c == '\n' {
			lines++
		}
	}
	g, _, err := ParseGIV(b)
	return g, err
}

func parseGIVLine(line []byte) (GIV, error) {
	var g GIV
	rest, ok := bytes.CutPrefix(line, []byte("GIV "))
	if !ok {
		return g, fmt.Errorf("%w: GIV line %q", ErrMalformed, clip(line))
	}
	idx, rest, ok := bytes.Cut(rest, []byte{':'})
	if !ok || len(idx) == 0 || len(idx) > 10 {
		return g, fmt.Errorf("%w: GIV index in %q", ErrMalformed, clip(line))
	}
	for _, c := range idx {
		if c < '0' || c > '9' {
			return g, fmt.Errorf("%w: GIV index in %q", ErrMalformed, clip(line))
		}
	}
	i, err := strconv.ParseUint(string(idx), 10, 32)
	if err != nil {
		return g, fmt.Errorf("%w: GIV index in %q", ErrMalformed, clip(line))
	}
	if len(rest) < 2*wire.GUIDLen+1 || rest[2*wire.GUIDLen] != '/' {
		return g, fmt.Errorf("%w: GIV servent GUID in %q", ErrMalformed, clip(line))
	}
	guid, err := wire.ParseGUID(string(rest[:2*wire.GUIDLen]))
	if err != nil {
		return g, fmt.Errorf("%w: GIV servent GUID: %w", ErrMalformed, err)
	}
	g.Index = uint32(i)
	g.ServentGUID = guid
	g.Name = string(rest[2*wire.GUIDLen+1:])
	return g, nil
}

// AppendGIV appends the GIV line and the empty line after it (LF LF, as
// gtk-gnutella and LimeWire send it). A name that would break the line
// (CR, LF, NUL) or exceed MaxGIVLen is refused.
func AppendGIV(b []byte, g GIV) ([]byte, error) {
	const fixed = len("GIV :/") + 10 + 2*wire.GUIDLen
	if bytes.ContainsAny([]byte(g.Name), "\r\n\x00") || len(g.Name)+fixed > MaxGIVLen {
		return b, fmt.Errorf("%w: GIV name %q", ErrMalformed, clip([]byte(g.Name)))
	}
	b = append(b, "GIV "...)
	b = strconv.AppendUint(b, uint64(g.Index), 10)
	b = append(b, ':')
	b = g.ServentGUID.AppendHex(b)
	b = append(b, '/')
	b = append(b, g.Name...)
	return append(b, '\n', '\n'), nil
}
