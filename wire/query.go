package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// QueryFlags is the 0.6 reading of a Query's first word (gtk-gnutella's
// doc/gnutella/min_speed): big-endian, meaningful when QueryFlagMarker is set.
type QueryFlags uint16

const (
	QueryFlagMarker     QueryFlags = 0x8000 // the word holds flags, not a 0.4 minimum speed
	QueryFlagFirewalled QueryFlags = 0x4000 // the querier is firewalled
	QueryFlagXML        QueryFlags = 0x2000 // the querier wants XML metadata
	QueryFlagLeafGuided QueryFlags = 0x1000 // leaf-guided dynamic querying
	QueryFlagGGEPH      QueryFlags = 0x0800 // the querier understands GGEP "H"
	QueryFlagOOB        QueryFlags = 0x0400 // out-of-band replies accepted
	QueryFlagF2F        QueryFlags = 0x0200 // firewall-to-firewall transfers possible
	QueryMaxHitsMask    QueryFlags = 0x00FF // how many hits the querier wants (0: no limit)
)

// Has reports whether every bit of mask is set in f.
func (f QueryFlags) Has(mask QueryFlags) bool { return f&mask == mask }

// MaxHits returns the querier's hit limit (0 means none given).
func (f QueryFlags) MaxHits() int { return int(f & QueryMaxHitsMask) }

// Query (0x80): the flags / minimum-speed word, the search criteria up to a
// NUL, then the extension area (urn:sha1, GGEP, XML, separated by 0x1C) up to
// the payload end or a NUL.
type Query struct {
	// Word is the first two payload bytes read big-endian, kept as sent so
	// that Append is exact whichever reading the sender meant. Flags and
	// MinSpeed give both readings.
	Word     uint16
	Criteria []byte // the search text, a view, without its NUL
	Ext      ExtArea
	// Trailer: bytes after the extension area's NUL, kept raw.
	Trailer []byte
}

// Flags returns the 0.6 flags and whether the word holds flags at all
// (QueryFlagMarker set). Without the marker the word is a 0.4 minimum speed.
func (q *Query) Flags() (QueryFlags, bool) {
	f := QueryFlags(q.Word)
	return f, f&QueryFlagMarker != 0
}

// MinSpeed returns the 0.4 reading of the word: a little-endian minimum
// speed in kb/s.
func (q *Query) MinSpeed() uint16 { return bits.ReverseBytes16(q.Word) }

// SetFlags sets the 0.6 flags (a query from us), marker included.
func (q *Query) SetFlags(f QueryFlags) { q.Word = uint16(f | QueryFlagMarker) }

// SetMinSpeed writes a 0.4 minimum speed, little-endian.
func (q *Query) SetMinSpeed(kbps uint16) { q.Word = bits.ReverseBytes16(kbps) }

// PutQueryWord writes word as the first word of an encoded Query payload,
// so that a Query's flags change in the bytes a servent relays without
// encoding it again (an ultrapeer clearing the OOB flag of its leaf's
// Query). A payload too short to hold the word is left alone.
func PutQueryWord(payload []byte, word uint16) {
	if len(payload) >= 2 {
		binary.BigEndian.PutUint16(payload, word)
	}
}

// Decode parses a Query payload. A payload without the criteria's NUL is
// malformed.
func (q *Query) Decode(payload []byte) error {
	q.Ext.Blocks = q.Ext.Blocks[:0]
	q.Ext.Terminated = false
	if len(payload) < 3 {
		return fmt.Errorf("%w: query: %d bytes, want at least 3", ErrMalformed, len(payload))
	}
	q.Word = binary.BigEndian.Uint16(payload)
	rest := payload[2:]
	nul := bytes.IndexByte(rest, 0)
	if nul < 0 {
		return fmt.Errorf("%w: query: search criteria has no NUL", ErrMalformed)
	}
	q.Criteria = rest[:nul:nul]
	rest = rest[nul+1:]
	n, err := q.Ext.decode(rest, false)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	q.Trailer = nil
	if n < len(rest) {
		q.Trailer = rest[n:]
	}
	return nil
}

// Append appends the payload to b.
func (q *Query) Append(b []byte) ([]byte, error) {
	if bytes.IndexByte(q.Criteria, 0) >= 0 {
		return b, fmt.Errorf("%w: query: criteria holds a NUL", ErrMalformed)
	}
	if len(q.Trailer) > 0 && !q.Ext.Terminated {
		return b, fmt.Errorf("%w: query: a trailer needs the extension area's NUL", ErrMalformed)
	}
	b = binary.BigEndian.AppendUint16(b, q.Word)
	b = append(b, q.Criteria...)
	b = append(b, 0)
	b, err := q.Ext.appendArea(b, q.Ext.Terminated)
	if err != nil {
		return b, fmt.Errorf("query: %w", err)
	}
	return append(b, q.Trailer...), nil
}

// Len returns the payload length Append writes.
func (q *Query) Len() int {
	return 2 + len(q.Criteria) + 1 + q.Ext.areaLen(q.Ext.Terminated) + len(q.Trailer)
}
