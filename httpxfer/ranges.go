package httpxfer

import (
	"errors"
	"fmt"
	"strings"
)

// byteRange is an inclusive byte range [start, end] of a file.
type byteRange struct{ start, end int64 }

func (r byteRange) length() int64 { return r.end - r.start + 1 }

// Errors of a Range request header; the uploader maps them to a status.
var (
	errRangeSyntax        = errors.New("malformed Range")               // 400
	errRangeMultiple      = errors.New("multiple ranges not supported") // 400
	errRangeUnsatisfiable = errors.New("range not satisfiable")         // 416
)

// parseRange parses a Range request header value for a file of size bytes.
// Only one byte range is served: we never answer multipart/byteranges.
// ok is false when the header must be ignored (a unit other than bytes, as
// RFC 7233 3.1 requires) and the whole file served.
//
// Following RFC 7233, an inverted range (last < first, "invalid") and a
// range starting at or past the end are answered 416; gtk-gnutella answers
// the first with 400 and clamps the second to the last byte.
func parseRange(v string, size int64) (r byteRange, ok bool, err error) {
	unit, set, found := strings.Cut(strings.TrimSpace(v), "=")
	if !found {
		return r, false, errRangeSyntax
	}
	if !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return r, false, nil
	}
	var spec string
	n := 0
	for s := range strings.SplitSeq(set, ",") {
		if s = strings.TrimSpace(s); s != "" {
			spec = s
			n++
		}
	}
	switch {
	case n == 0:
		return r, false, errRangeSyntax
	case n > 1:
		return r, false, errRangeMultiple
	}
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return r, false, errRangeSyntax
	}
	if first == "" { // suffix range: the last n bytes
		n, good := parseDigits(last)
		if !good {
			return r, false, errRangeSyntax
		}
		if n == 0 || size == 0 {
			return r, false, errRangeUnsatisfiable
		}
		return byteRange{max(0, size-n), size - 1}, true, nil
	}
	a, good := parseDigits(first)
	if !good {
		return r, false, errRangeSyntax
	}
	b := size - 1
	if last != "" {
		if b, good = parseDigits(last); !good {
			return r, false, errRangeSyntax
		}
		if b < a {
			return r, false, errRangeUnsatisfiable
		}
	}
	if a >= size {
		return r, false, errRangeUnsatisfiable
	}
	return byteRange{a, min(b, size-1)}, true, nil
}

// parseContentRange parses "bytes a-b/total" from a 206. total is -1 when
// the source sent "*".
func parseContentRange(v string) (r byteRange, total int64, err error) {
	unit, rest, found := strings.Cut(strings.TrimSpace(v), " ")
	if !found || !strings.EqualFold(unit, "bytes") {
		return r, 0, fmt.Errorf("%w: Content-Range %q", ErrMalformed, v)
	}
	span, tot, found := strings.Cut(strings.TrimSpace(rest), "/")
	if !found {
		return r, 0, fmt.Errorf("%w: Content-Range %q", ErrMalformed, v)
	}
	total = -1
	if tot != "*" {
		var good bool
		if total, good = parseDigits(tot); !good {
			return r, 0, fmt.Errorf("%w: Content-Range %q", ErrMalformed, v)
		}
	}
	first, last, found := strings.Cut(span, "-")
	a, goodA := parseDigits(first)
	b, goodB := parseDigits(last)
	if !found || !goodA || !goodB || b < a || (total >= 0 && b >= total) {
		return r, 0, fmt.Errorf("%w: Content-Range %q", ErrMalformed, v)
	}
	return byteRange{a, b}, total, nil
}
