package httpxfer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits on one request or response head (start line plus header fields).
// gtk-gnutella's heads are under 1 KiB; these leave room for X-Alt lists.
const (
	MaxHeaderBytes = 8 << 10
	MaxHeaderLines = 64
)

// field is one header line, name as sent, value trimmed.
type field struct{ name, value string }

type fields []field

// get returns the value of the first field called name (case-insensitive).
func (h fields) get(name string) (string, bool) {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return f.value, true
		}
	}
	return "", false
}

// count returns how many fields are called name.
func (h fields) count(name string) int {
	n := 0
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			n++
		}
	}
	return n
}

// hasToken reports whether the comma-separated field name lists token, as
// in "Connection: keep-alive, TE".
func (h fields) hasToken(name, token string) bool {
	for _, f := range h {
		if !strings.EqualFold(f.name, name) {
			continue
		}
		for t := range strings.SplitSeq(f.value, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// readHead reads a start line and the header fields up to the empty line
// that ends them. Lines may end in CRLF or bare LF. Empty lines before the
// start line are skipped (RFC 7230 3.5) but count against the limits.
// It returns io.EOF only when the stream ended before any byte of a head.
func readHead(br *bufio.Reader) (start string, h fields, err error) {
	total, lines := 0, 0
	for {
		line, err := readLine(br, &total, &lines)
		if err != nil {
			if errors.Is(err, io.EOF) && total == 0 {
				return "", nil, io.EOF
			}
			return "", nil, err
		}
		if len(line) > 0 {
			start = string(line)
			break
		}
	}
	for {
		line, err := readLine(br, &total, &lines)
		if err != nil {
			return "", nil, err
		}
		if len(line) == 0 {
			return start, h, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			// Obsolete line folding: RFC 7230 3.2.4 lets us reject it.
			return "", nil, fmt.Errorf("%w: folded header line", ErrMalformed)
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			return "", nil, fmt.Errorf("%w: header line %q", ErrMalformed, clip(line))
		}
		h = append(h, field{string(name), string(bytes.TrimSpace(value))})
	}
}

// readLine reads one line without its CRLF or LF, counting bytes and lines
// against the head limits. The returned slice is valid until the next read.
func readLine(br *bufio.Reader, total, lines *int) ([]byte, error) {
	*lines++
	if *lines > MaxHeaderLines+2 { // the start line and the empty line
		return nil, fmt.Errorf("%w: more than %d lines", ErrHeaderTooLarge, MaxHeaderLines)
	}
	var long []byte // only for a line longer than br's buffer
	for {
		frag, err := br.ReadSlice('\n')
		*total += len(frag)
		if *total > MaxHeaderBytes {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrHeaderTooLarge, MaxHeaderBytes)
		}
		switch {
		case err == nil:
			if long != nil {
				frag = append(long, frag...)
			}
			frag = frag[:len(frag)-1]
			return bytes.TrimSuffix(frag, []byte{'\r'}), nil
		case errors.Is(err, bufio.ErrBufferFull):
			long = append(long, frag...)
		case errors.Is(err, io.EOF) && *total > 0:
			return nil, fmt.Errorf("%w: head ends mid-line", io.ErrUnexpectedEOF)
		default:
			return nil, err
		}
	}
}

// parseDigits parses a non-negative decimal of at most 18 digits, so it
// cannot overflow an int64. No sign, no spaces.
func parseDigits(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// clip keeps error messages short when the input is hostile.
func clip(b []byte) []byte {
	const max = 64
	if len(b) > max {
		return b[:max]
	}
	return b
}
