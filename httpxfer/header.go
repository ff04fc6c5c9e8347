package httpxfer

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"

	"github.com/govent/govent/wire"
)

// Limits on one request or response head (start line plus header fields).
// gtk-gnutella's heads are under 1 KiB; these leave room for X-Alt lists.
const (
	MaxHeaderBytes = 8 << 10
	MaxHeaderLines = 64
)

// headLimits are the limits above in the terms of wire's header block
// parser, which counts the start line but not the closing empty line.
var headLimits = wire.HandshakeLimits{MaxLines: MaxHeaderLines + 1, MaxBytes: MaxHeaderBytes}

// readHead reads a request or response head with wire's header block
// parser (RFC 9112's rules: CRLF or bare LF, empty lines before the start
// line skipped but counted against the limits, folded lines refused). It
// returns an error wrapping io.EOF only when the stream ended before any
// byte of a head, and this package's ErrMalformed and ErrHeaderTooLarge
// for what the upload side answers 400 and 431.
func readHead(br *bufio.Reader) (*wire.Handshake, error) {
	h, err := wire.ReadHTTPHead(br, headLimits)
	switch {
	case errors.Is(err, wire.ErrHeaderTooLarge):
		return nil, fmt.Errorf("%w: %w", ErrHeaderTooLarge, err)
	case errors.Is(err, wire.ErrMalformed):
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return h, err
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
