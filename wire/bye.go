package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Bye codes from gtk-gnutella's doc/gnutella/bye: 2xx the peer did nothing
// wrong, 4xx it misbehaved, 5xx local trouble.
const (
	ByeNormal         uint16 = 200
	ByeUserClosed     uint16 = 201
	ByeMakingRoom     uint16 = 202 // gtk-gnutella's, to a leaf that routes nothing, for a newcomer
	ByeTooBig         uint16 = 400 // a descriptor too big, or one that cannot be read
	ByeDuplicates     uint16 = 401
	ByeBadQueries     uint16 = 402
	ByeTTLTooHigh     uint16 = 403
	ByeUnknownTypes   uint16 = 404
	ByeTimeout        uint16 = 405
	ByeNoPingReply    uint16 = 406
	ByeNotSharing     uint16 = 407
	ByeBadQRP         uint16 = 413 // gtk-gnutella's code for a QRP table it cannot apply
	ByeInternalError  uint16 = 500
	ByeDesync         uint16 = 501
	ByeSendQueueFull  uint16 = 502
	byeHeaderSplitter        = "\r\n"
)

// Bye (0x02): code u16 LE, then a NUL-terminated string: the reason, and
// optionally, after a CRLF, HTTP-like header lines ending with an empty
// line ("Server: ...\r\n\r\n").
type Bye struct {
	Code uint16
	// Text is everything between the code and the NUL: the reason line and
	// any header lines, raw. Reason and Headers split it.
	Text []byte
	// Unterminated: the payload ended without the NUL. gtk-gnutella
	// tolerates that, so Decode keeps it rather than rejecting the Bye.
	Unterminated bool
	// Trailer: bytes after the NUL, kept raw.
	Trailer []byte
}

// NewBye builds a Bye. With header lines (such as "Server: govent/0.1") the
// text takes the spec's long form: reason CRLF, each line CRLF, CRLF.
func NewBye(code uint16, reason string, headerLines ...string) Bye {
	text := []byte(reason)
	if len(headerLines) > 0 {
		text = append(text, byeHeaderSplitter...)
		for _, l := range headerLines {
			text = append(text, l...)
			text = append(text, byeHeaderSplitter...)
		}
		text = append(text, byeHeaderSplitter...)
	}
	return Bye{Code: code, Text: text}
}

// Decode parses a Bye payload.
func (p *Bye) Decode(payload []byte) error {
	if len(payload) < 2 {
		return fmt.Errorf("%w: bye: %d bytes, want at least 2", ErrMalformed, len(payload))
	}
	p.Code = le16(payload)
	rest := payload[2:]
	p.Trailer = nil
	if i := bytes.IndexByte(rest, 0); i >= 0 {
		p.Text, p.Unterminated = rest[:i:i], false
		if i+1 < len(rest) {
			p.Trailer = rest[i+1:]
		}
		return nil
	}
	p.Text, p.Unterminated = rest, true
	return nil
}

// Append appends the payload to b.
func (p *Bye) Append(b []byte) ([]byte, error) {
	if bytes.IndexByte(p.Text, 0) >= 0 {
		return b, fmt.Errorf("%w: bye: text holds a NUL", ErrMalformed)
	}
	if p.Unterminated && len(p.Trailer) > 0 {
		return b, fmt.Errorf("%w: bye: a trailer needs the NUL before it", ErrMalformed)
	}
	b = binary.LittleEndian.AppendUint16(b, p.Code)
	b = append(b, p.Text...)
	if !p.Unterminated {
		b = append(b, 0)
	}
	return append(b, p.Trailer...), nil
}

// Len returns the payload length Append writes.
func (p *Bye) Len() int {
	n := 2 + len(p.Text) + len(p.Trailer)
	if !p.Unterminated {
		n++
	}
	return n
}

// Reason returns the first line of the text.
func (p *Bye) Reason() []byte {
	if i := bytes.Index(p.Text, []byte(byeHeaderSplitter)); i >= 0 {
		return p.Text[:i:i]
	}
	return p.Text
}

// Headers returns the raw header lines after the reason line (nil in the
// short form).
func (p *Bye) Headers() []byte {
	if i := bytes.Index(p.Text, []byte(byeHeaderSplitter)); i >= 0 {
		return p.Text[i+len(byeHeaderSplitter):]
	}
	return nil
}
