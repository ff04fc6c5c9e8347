package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
)

const (
	queryHitFixedLen = 11 // hit count, port, IPv4, speed
	resultMinLen     = 10 // index, size, the name's NUL, the extension area's NUL
	qhdMinLen        = 5  // vendor code, open-data size
)

// QueryHit (0x81): hit count u8, port u16 LE, IPv4 (network order), speed
// u32 LE, the results, then an optional QHD trailer, then the servent GUID,
// which is always the last 16 bytes.
type QueryHit struct {
	Port    uint16
	Addr    netip.Addr
	Speed   uint32
	Results []Result // as many as the hit count byte says
	// HasQHD: the bytes between the results and the servent GUID parsed as a
	// QHD trailer (vendor code, open-data size, open data, private data).
	HasQHD bool
	QHD    QHD
	// Trailer: those bytes, raw, when they are not a QHD (fewer than 5
	// bytes, or an open-data size past the end). Empty when there are none.
	Trailer     []byte
	ServentGUID GUID
}

// Result is one hit: file index and size u32 LE, the name up to a NUL, then
// an extension area up to a NUL (urn:sha1, GGEP COBS-encoded when it holds
// NULs, 0x1C between).
type Result struct {
	Index uint32
	Size  uint32
	Name  []byte // view, without its NUL
	Ext   ExtArea
}

// QHD flag bits in the two open-data bytes. For busy, uploaded, measured
// and GGEP the first byte says the bit is meaningful and the second gives
// its value; for push it is the other way round (0.4 spec, as deployed).
const (
	QHDPush     byte = 0x01
	QHDBusy     byte = 0x04
	QHDUploaded byte = 0x08
	QHDMeasured byte = 0x10
	QHDGGEP     byte = 0x20
)

// QHD is the QueryHit trailer ("query hit descriptor").
type QHD struct {
	Vendor [4]byte // vendor code, 4 ASCII letters such as GTKG or LIME
	// Open is the open data, a view; its first two bytes carry the flags
	// (LimeWire adds two more for its XML size). The setters replace it with
	// a new slice, never writing into a decoded payload.
	Open []byte
	// GGEP is the private data's GGEP block, when the private data starts
	// with one that parses (gtk-gnutella: GTKGV, TLS, BH).
	GGEP GGEP
	// Private is the rest of the private data (all of it without a GGEP
	// block), raw: vendors put their own formats there.
	Private []byte
}

// Decode parses a QueryHit payload. Results are parsed one by one from the
// bytes; the hit count never sizes anything, and a count the bytes cannot
// hold is malformed.
func (q *QueryHit) Decode(payload []byte) error {
	q.Results = q.Results[:0]
	// A used QHD must not show through when this hit has none.
	q.QHD = QHD{GGEP: GGEP{Extensions: q.QHD.GGEP.Extensions[:0]}}
	q.HasQHD, q.Trailer = false, nil
	if len(payload) < queryHitFixedLen+GUIDLen {
		return fmt.Errorf("%w: queryhit: %d bytes, want at least %d", ErrMalformed, len(payload), queryHitFixedLen+GUIDLen)
	}
	count := int(payload[0])
	q.Port = le16(payload[1:])
	q.Addr = readIPv4(payload[3:])
	q.Speed = le32(payload[7:])
	end := len(payload) - GUIDLen
	q.ServentGUID = GUID(payload[end:])
	body := payload[:end]
	pos := queryHitFixedLen
	for i := range count {
		if len(body)-pos < resultMinLen {
			return fmt.Errorf("%w: queryhit: hit count %d, bytes end in result %d", ErrMalformed, count, i)
		}
		r := q.nextResult()
		r.Index = le32(body[pos:])
		r.Size = le32(body[pos+4:])
		pos += 8
		nul := bytes.IndexByte(body[pos:], 0)
		if nul < 0 {
			return fmt.Errorf("%w: queryhit: result %d: name has no NUL", ErrMalformed, i)
		}
		r.Name = body[pos : pos+nul : pos+nul]
		pos += nul + 1
		n, err := r.Ext.decode(body[pos:], true)
		if err != nil {
			return fmt.Errorf("queryhit: result %d: %w", i, err)
		}
		pos += n
	}
	if rest := body[pos:]; len(rest) > 0 {
		q.HasQHD = q.QHD.decode(rest)
		if !q.HasQHD {
			q.Trailer = rest
		}
	}
	return nil
}

func (q *QueryHit) nextResult() *Result {
	n := len(q.Results)
	if n < cap(q.Results) {
		q.Results = q.Results[:n+1]
	} else {
		q.Results = append(q.Results, Result{})
	}
	r := &q.Results[n]
	blocks := r.Ext.Blocks[:0]
	*r = Result{}
	r.Ext.Blocks = blocks
	return r
}

// decode parses a QHD and reports whether b is one.
func (h *QHD) decode(b []byte) bool {
	h.GGEP.Extensions = h.GGEP.Extensions[:0]
	if len(b) < qhdMinLen {
		return false
	}
	openLen := int(b[4])
	if openLen > len(b)-qhdMinLen {
		return false
	}
	h.Vendor = [4]byte(b[:4])
	h.Open = b[qhdMinLen : qhdMinLen+openLen : qhdMinLen+openLen]
	h.Private = b[qhdMinLen+openLen:]
	if len(h.Private) > 0 && h.Private[0] == GGEPMagic {
		// The GGEP spec has readers look for the magic; vendors that put
		// something else first (BearShare) are kept raw in Private.
		if n, err := h.GGEP.Decode(h.Private); err == nil {
			h.Private = h.Private[n:]
		} else {
			h.GGEP.Extensions = h.GGEP.Extensions[:0]
		}
	}
	if len(h.Private) == 0 {
		h.Private = nil
	}
	return true
}

func (h *QHD) append(b []byte) ([]byte, error) {
	if len(h.Open) > 0xFF {
		return b, fmt.Errorf("%w: qhd: %d bytes of open data, at most 255", ErrMalformed, len(h.Open))
	}
	if len(h.GGEP.Extensions) == 0 && len(h.Private) > 0 && h.Private[0] == GGEPMagic {
		if _, err := (&GGEP{}).Decode(h.Private); err == nil {
			return b, fmt.Errorf("%w: qhd: raw private data starts with a GGEP block", ErrMalformed)
		}
	}
	b = append(b, h.Vendor[:]...)
	b = append(b, byte(len(h.Open)))
	b = append(b, h.Open...)
	b, err := h.GGEP.Append(b)
	if err != nil {
		return b, fmt.Errorf("qhd: %w", err)
	}
	return append(b, h.Private...), nil
}

func (h *QHD) len() int { return qhdMinLen + len(h.Open) + h.GGEP.Len() + len(h.Private) }

// flag returns a flag bit's value and whether the sender marked it as
// meaningful. valueByte is 0 for push, 1 for the others.
func (h *QHD) flag(bit byte, valueByte int) (value, known bool) {
	if len(h.Open) < 2 {
		return false, false
	}
	return h.Open[valueByte]&bit != 0, h.Open[1-valueByte]&bit != 0
}

// setFlag sets a flag's value and marks it meaningful, on a new open-data
// slice of at least two bytes.
func (h *QHD) setFlag(bit byte, valueByte int, v bool) {
	open := make([]byte, max(2, len(h.Open)))
	copy(open, h.Open)
	open[1-valueByte] |= bit
	if v {
		open[valueByte] |= bit
	} else {
		open[valueByte] &^= bit
	}
	h.Open = open
}

// Push: the servent is firewalled, ask for a Push (value in byte 0).
func (h *QHD) Push() (value, known bool) { return h.flag(QHDPush, 0) }

// Busy: all upload slots are taken.
func (h *QHD) Busy() (value, known bool) { return h.flag(QHDBusy, 1) }

// Uploaded: the servent has completed an upload.
func (h *QHD) Uploaded() (value, known bool) { return h.flag(QHDUploaded, 1) }

// Measured: the speed field was measured, not set by the user.
func (h *QHD) Measured() (value, known bool) { return h.flag(QHDMeasured, 1) }

// GGEPFlag: the private data holds a GGEP block.
func (h *QHD) GGEPFlag() (value, known bool) { return h.flag(QHDGGEP, 1) }

// SetPush sets the push (firewalled) flag and marks it meaningful.
func (h *QHD) SetPush(v bool) { h.setFlag(QHDPush, 0, v) }

// SetBusy sets the busy flag and marks it meaningful.
func (h *QHD) SetBusy(v bool) { h.setFlag(QHDBusy, 1, v) }

// SetUploaded sets the has-uploaded flag and marks it meaningful.
func (h *QHD) SetUploaded(v bool) { h.setFlag(QHDUploaded, 1, v) }

// SetMeasured sets the speed-measured flag and marks it meaningful.
func (h *QHD) SetMeasured(v bool) { h.setFlag(QHDMeasured, 1, v) }

// SetGGEPFlag sets the GGEP-present flag and marks it meaningful.
func (h *QHD) SetGGEPFlag(v bool) { h.setFlag(QHDGGEP, 1, v) }

// Append appends the payload to b.
func (q *QueryHit) Append(b []byte) ([]byte, error) {
	if len(q.Results) > 0xFF {
		return b, fmt.Errorf("%w: queryhit: %d results, at most 255", ErrMalformed, len(q.Results))
	}
	b = append(b, byte(len(q.Results)))
	b = binary.LittleEndian.AppendUint16(b, q.Port)
	b, err := appendIPv4(b, q.Addr)
	if err != nil {
		return b, fmt.Errorf("queryhit: %w", err)
	}
	b = binary.LittleEndian.AppendUint32(b, q.Speed)
	for i := range q.Results {
		r := &q.Results[i]
		if bytes.IndexByte(r.Name, 0) >= 0 {
			return b, fmt.Errorf("%w: queryhit: result %d: name holds a NUL", ErrMalformed, i)
		}
		b = binary.LittleEndian.AppendUint32(b, r.Index)
		b = binary.LittleEndian.AppendUint32(b, r.Size)
		b = append(b, r.Name...)
		b = append(b, 0)
		if b, err = r.Ext.appendArea(b, true); err != nil {
			return b, fmt.Errorf("queryhit: result %d: %w", i, err)
		}
	}
	if q.HasQHD {
		if b, err = q.QHD.append(b); err != nil {
			return b, fmt.Errorf("queryhit: %w", err)
		}
	} else {
		b = append(b, q.Trailer...)
	}
	return append(b, q.ServentGUID[:]...), nil
}

// Len returns the payload length Append writes.
func (q *QueryHit) Len() int {
	n := queryHitFixedLen + GUIDLen
	for i := range q.Results {
		r := &q.Results[i]
		n += 8 + len(r.Name) + 1 + r.Ext.areaLen(true)
	}
	if q.HasQHD {
		n += q.QHD.len()
	} else {
		n += len(q.Trailer)
	}
	return n
}

// AddrPort returns the address and port the hits can be downloaded from.
func (q *QueryHit) AddrPort() netip.AddrPort { return netip.AddrPortFrom(q.Addr, q.Port) }

// QueryHitServent returns the servent GUID that ends a QueryHit payload,
// without decoding the rest: the router learns a Push route from every
// QueryHit it routes this way. ok is false for a payload shorter than a
// GUID.
func QueryHitServent(payload []byte) (g GUID, ok bool) {
	if len(payload) < GUIDLen {
		return g, false
	}
	return GUID(payload[len(payload)-GUIDLen:]), true
}

// QueryHitCount returns a QueryHit payload's hit count, its first byte,
// without decoding the rest (0 for an empty payload): dynamic querying
// counts the results routed back this way.
func QueryHitCount(payload []byte) int {
	if len(payload) == 0 {
		return 0
	}
	return int(payload[0])
}
