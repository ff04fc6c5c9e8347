package wire

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The 0.4 handshake is two fixed strings with bare LF line ends; old
// servents and tools still send it. gtk-gnutella answers CONNECT/0.4 by
// closing without a word.
const (
	Handshake04Connect = "GNUTELLA CONNECT/0.4\n\n"
	Handshake04OK      = "GNUTELLA OK\n\n"
)

// Start lines of the 0.6 handshake.
const (
	// ConnectLine06 opens a 0.6 handshake (step 1).
	ConnectLine06 = "GNUTELLA CONNECT/0.6"
	// HandshakeProto06 starts every 0.6 status line (steps 2 and 3).
	HandshakeProto06 = "GNUTELLA/0.6"

	connectPrefix = "GNUTELLA CONNECT/"
	okLine04      = "GNUTELLA OK"
	protoPrefix   = "GNUTELLA/"
)

// IsConnect reports whether the start line is a CONNECT and returns its
// protocol version ("0.6", "0.4").
func (h *Handshake) IsConnect() (version string, ok bool) {
	v, ok := strings.CutPrefix(h.StartLine, connectPrefix)
	if !ok || v == "" {
		return "", false
	}
	return v, true
}

// Is04OK reports whether the block is the 0.4 server's "GNUTELLA OK".
func (h *Handshake) Is04OK() bool {
	return h.StartLine == okLine04 && len(h.Headers) == 0
}

// ParseStatus splits a 0.6 status line such as "GNUTELLA/0.6 503 Full"
// into its protocol, three-digit code and reason (which may be empty), by
// ParseStatusLine's rules. Errors wrap ErrMalformed; ErrNotServent when
// the line is not Gnutella's at all (an HTTP server's answer).
func (h *Handshake) ParseStatus() (proto string, code int, reason string, err error) {
	if !strings.HasPrefix(h.StartLine, "GNUTELLA") {
		return "", 0, "", notServent(h.StartLine)
	}
	proto, code, reason, err = ParseStatusLine(h.StartLine, StatusGnutella)
	if err != nil {
		return "", 0, "", fmt.Errorf("handshake: %w", err)
	}
	return proto, code, reason, nil
}

// ErrRefused: a handshake was answered with a status other than 200.
// errors.Is(err, ErrRefused) holds for every *RefusedError.
var ErrRefused = errors.New("handshake refused")

// RefusedError is a handshake that the other side refused: its status
// code and reason as it sent them, so callers read the fields and never
// the text. It reads "handshake with 127.0.0.1:6346 refused: 503 Full"
// and is not wrapped in another "handshake with": it says that already.
type RefusedError struct {
	Addr   string // who refused, as the caller dialled it; "" when unknown
	Code   int    // the status code; 0 for a 0.4 answer other than GNUTELLA OK
	Reason string // the reason phrase; for Code 0, the whole start line
}

// Status is the refusal as the other side said it: "503 Full".
func (e *RefusedError) Status() string {
	if e.Code == 0 {
		return strconv.Quote(string(truncateForError([]byte(e.Reason))))
	}
	return strings.TrimSpace(strconv.Itoa(e.Code) + " " + string(truncateForError([]byte(e.Reason))))
}

func (e *RefusedError) Error() string {
	if e.Addr == "" {
		return "handshake refused: " + e.Status()
	}
	return "handshake with " + e.Addr + " refused: " + e.Status()
}

// Is makes errors.Is(err, ErrRefused) hold.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// StatusLine06 returns a 0.6 status line: "GNUTELLA/0.6 <code> <reason>".
func StatusLine06(code int, reason string) string {
	return HandshakeProto06 + " " + strconv.Itoa(code) + " " + reason
}

// ParseAddrList reads an address-list header value (X-Try,
// X-Try-Ultrapeers): comma-separated "ip:port" entries with optional
// spaces, IPv6 in brackets. Some servents follow an address with a space
// and a timestamp; that is skipped. Entries that do not parse, or have port
// 0, are skipped. At most max addresses are returned, so a hostile list
// costs nothing past that.
func ParseAddrList(value string, max int) []netip.AddrPort {
	var out []netip.AddrPort
	for entry := range strings.SplitSeq(value, ",") {
		if len(out) >= max {
			break
		}
		entry = strings.TrimSpace(entry)
		if i := strings.IndexAny(entry, " \t"); i >= 0 {
			entry = entry[:i]
		}
		ap, err := netip.ParseAddrPort(entry)
		if err != nil || ap.Port() == 0 {
			continue
		}
		out = append(out, ap)
	}
	return out
}

// FormatAddrList writes addresses as an X-Try-Ultrapeers value: "ip:port"
// joined by commas.
func FormatAddrList(addrs []netip.AddrPort) string {
	var b []byte
	for i, a := range addrs {
		if i > 0 {
			b = append(b, ',')
		}
		b = a.AppendTo(b)
	}
	return string(b)
}
