package wire

import (
	"fmt"
	"strconv"
)

// Message is one descriptor: its header, its payload bytes and the typed
// reading of them. The framed reader decodes into one Message again and
// again; every typed field keeps its slices, so that steady-state decoding
// allocates nothing. Only the field named by Header.Type is meaningful.
type Message struct {
	Header  Header
	Payload []byte // view of the payload bytes, valid as long as they are

	Ping     Ping
	Pong     Pong
	Query    Query
	QueryHit QueryHit
	Push     Push
	Bye      Bye
	Vendor   Vendor // types 0x31 and 0x32
	QRP      QRP
}

// payloadCodec is the contract every payload type follows.
type payloadCodec interface {
	Decode(payload []byte) error
	Append(b []byte) ([]byte, error)
	Len() int
}

// codec returns the typed payload for the header's type, or nil for types
// read as raw bytes (HSEP and anything unknown).
func (m *Message) codec() payloadCodec {
	switch m.Header.Type {
	case TypePing:
		return &m.Ping
	case TypePong:
		return &m.Pong
	case TypeBye:
		return &m.Bye
	case TypeQRP:
		return &m.QRP
	case TypeVendor, TypeStdVendor:
		return &m.Vendor
	case TypePush:
		return &m.Push
	case TypeQuery:
		return &m.Query
	case TypeQueryHit:
		return &m.QueryHit
	}
	return nil
}

// Decode sets the header and payload and decodes the payload by h.Type.
// Types without a codec (HSEP 0xCD, anything unknown) are no error: Payload
// is set and nothing else, so the caller can skip or count them. Errors
// wrap ErrMalformed.
func (m *Message) Decode(h Header, payload []byte) error {
	m.Header = h
	return m.decodePayload(payload)
}

// decodePayload sets Payload and decodes it by m.Header.Type; the framed
// reader calls it after decoding the header in place.
func (m *Message) decodePayload(payload []byte) error {
	m.Payload = payload
	// A switch on concrete types rather than codec(): the reader calls this
	// for every descriptor, and direct calls spare the interface dispatch.
	var err error
	switch m.Header.Type {
	case TypePing:
		err = m.Ping.Decode(payload)
	case TypePong:
		err = m.Pong.Decode(payload)
	case TypeBye:
		err = m.Bye.Decode(payload)
	case TypeQRP:
		err = m.QRP.Decode(payload)
	case TypeVendor, TypeStdVendor:
		err = m.Vendor.Decode(payload)
	case TypePush:
		err = m.Push.Decode(payload)
	case TypeQuery:
		err = m.Query.Decode(payload)
	case TypeQueryHit:
		err = m.QueryHit.Decode(payload)
	}
	if err != nil {
		return fmt.Errorf("%v %v: %w", m.Header.Type, m.Header.GUID, err)
	}
	return nil
}

// Len returns the payload length Append writes.
func (m *Message) Len() int {
	if c := m.codec(); c != nil {
		return c.Len()
	}
	return len(m.Payload)
}

// Append appends the header, with Length recomputed from the typed payload,
// and the payload (typed, or Payload itself for types without a codec).
func (m *Message) Append(b []byte) ([]byte, error) {
	h := m.Header
	h.Length = uint32(m.Len())
	b = h.Append(b)
	c := m.codec()
	if c == nil {
		return append(b, m.Payload...), nil
	}
	b, err := c.Append(b)
	if err != nil {
		return b, fmt.Errorf("%v: %w", h.Type, err)
	}
	return b, nil
}

// field is one named value of a message, in display order. Values are
// string, []byte (wire text), uint64, bool, []string or []fieldList.
type field struct {
	key string
	val any
}

type fieldList []field

// fields lists what the message says, in the order a summary prints it.
func (m *Message) fields() fieldList {
	h := &m.Header
	f := fieldList{
		{"type", h.Type.String()},
		{"guid", h.GUID.String()},
		{"ttl", uint64(h.TTL)},
		{"hops", uint64(h.Hops)},
		{"len", uint64(len(m.Payload))},
	}
	switch h.Type {
	case TypePing:
		f = appendGGEPFields(f, "ggep", &m.Ping.GGEP)
		f = appendRawField(f, "trailer", m.Ping.Trailer)
	case TypePong:
		p := &m.Pong
		f = append(f, field{"addr", p.AddrPort().String()}, field{"files", uint64(p.Files)}, field{"kb", uint64(p.KB)})
		f = appendGGEPFields(f, "ggep", &p.GGEP)
		f = appendRawField(f, "trailer", p.Trailer)
	case TypeQuery:
		q := &m.Query
		if flags, ok := q.Flags(); ok {
			f = append(f, field{"flags", "0x" + strconv.FormatUint(uint64(flags), 16)})
		} else {
			f = append(f, field{"min_speed", uint64(q.MinSpeed())})
		}
		f = append(f, field{"text", q.Criteria})
		f = appendExtFields(f, &q.Ext)
		f = appendRawField(f, "trailer", q.Trailer)
	case TypeQueryHit:
		f = m.QueryHit.appendFields(f)
	case TypePush:
		p := &m.Push
		f = append(f, field{"servent", p.ServentGUID.String()}, field{"index", uint64(p.Index)}, field{"addr", p.AddrPort().String()})
		f = appendGGEPFields(f, "ggep", &p.GGEP)
		f = appendRawField(f, "trailer", p.Trailer)
	case TypeBye:
		p := &m.Bye
		f = append(f, field{"code", uint64(p.Code)}, field{"reason", p.Reason()})
		if hdr := p.Headers(); len(hdr) > 0 {
			f = append(f, field{"headers", hdr})
		}
	case TypeVendor, TypeStdVendor:
		v := &m.Vendor
		f = append(f, field{"vendor", vendorCode(v.Vendor)}, field{"selector", uint64(v.Selector)},
			field{"version", uint64(v.Version)}, field{"body_len", uint64(len(v.Body))})
		f = v.appendSupportedFields(f)
	case TypeQRP:
		q := &m.QRP
		if q.Variant == QRPReset {
			f = append(f, field{"variant", "RESET"}, field{"table_length", uint64(q.TableLength)}, field{"infinity", uint64(q.Infinity)})
		} else {
			f = append(f, field{"variant", "PATCH"}, field{"seq_no", uint64(q.SeqNo)}, field{"seq_size", uint64(q.SeqSize)},
				field{"compressor", uint64(q.Compressor)}, field{"entry_bits", uint64(q.EntryBits)}, field{"data_len", uint64(len(q.Data))})
		}
	}
	return f
}

func (q *QueryHit) appendFields(f fieldList) fieldList {
	f = append(f, field{"addr", q.AddrPort().String()}, field{"speed", uint64(q.Speed)})
	hits := make([]fieldList, 0, len(q.Results))
	for i := range q.Results {
		r := &q.Results[i]
		hit := fieldList{{"index", uint64(r.Index)}, {"size", uint64(r.Size)}, {"name", r.Name}}
		hits = append(hits, appendExtFields(hit, &r.Ext))
	}
	f = append(f, field{"hits", hits})
	if q.HasQHD {
		h := &q.QHD
		f = append(f, field{"qhd_vendor", vendorCode(h.Vendor)}, field{"open_data", fmt.Sprintf("%x", h.Open)})
		for _, fl := range []struct {
			name string
			get  func() (bool, bool)
		}{{"push", h.Push}, {"busy", h.Busy}, {"uploaded", h.Uploaded}, {"measured", h.Measured}, {"ggep_flag", h.GGEPFlag}} {
			if v, known := fl.get(); known {
				f = append(f, field{fl.name, v})
			}
		}
		f = appendGGEPFields(f, "qhd_ggep", &h.GGEP)
		f = appendRawField(f, "private", h.Private)
	} else {
		f = appendRawField(f, "trailer", q.Trailer)
	}
	return append(f, field{"servent", q.ServentGUID.String()})
}

func (v *Vendor) appendSupportedFields(f fieldList) fieldList {
	switch {
	case v.IsMessagesSupported():
		entries, err := AppendMessagesSupported(nil, v.Body)
		if err != nil {
			return f
		}
		s := make([]string, len(entries))
		for i, e := range entries {
			s[i] = vendorCode(e.Vendor) + "/" + strconv.Itoa(int(e.Selector)) + "v" + strconv.Itoa(int(e.Version))
		}
		f = append(f, field{"supported", s})
	case v.IsFeaturesSupported():
		entries, err := AppendFeaturesSupported(nil, v.Body)
		if err != nil {
			return f
		}
		s := make([]string, len(entries))
		for i, e := range entries {
			s[i] = vendorCode(e.Feature) + "v" + strconv.Itoa(int(e.Version))
		}
		f = append(f, field{"features", s})
	}
	return f
}

func appendGGEPFields(f fieldList, key string, g *GGEP) fieldList {
	if len(g.Extensions) == 0 {
		return f
	}
	ids := make([]string, len(g.Extensions))
	for i := range g.Extensions {
		ids[i] = string(g.Extensions[i].ID)
	}
	return append(f, field{key, ids})
}

func appendRawField(f fieldList, key string, raw []byte) fieldList {
	if len(raw) == 0 {
		return f
	}
	return append(f, field{key + "_len", uint64(len(raw))})
}

// appendExtFields lists an extension area: urns (sha1 and other urn text),
// the GGEP IDs of all its GGEP blocks, and the other blocks as kind/length.
func appendExtFields(f fieldList, a *ExtArea) fieldList {
	var urns, ggep, other []string
	for i := range a.Blocks {
		blk := &a.Blocks[i]
		switch blk.Kind {
		case ExtSHA1:
			urns = append(urns, blk.SHA1.String())
		case ExtURN:
			urns = append(urns, string(blk.Data))
		case ExtGGEP:
			for j := range blk.GGEP.Extensions {
				ggep = append(ggep, string(blk.GGEP.Extensions[j].ID))
			}
		default:
			other = append(other, blk.Kind.String()+"/"+strconv.Itoa(len(blk.Data)))
		}
	}
	if urns != nil {
		f = append(f, field{"urns", urns})
	}
	if ggep != nil {
		f = append(f, field{"ggep", ggep})
	}
	if other != nil {
		f = append(f, field{"ext", other})
	}
	return f
}

// vendorCode prints a 4-byte vendor or feature code as text when it is
// printable ASCII, else as 8 hex digits (0000/0 is four NULs).
func vendorCode(c [4]byte) string {
	for _, b := range c {
		if b < 0x20 || b > 0x7E {
			return fmt.Sprintf("%x", c[:])
		}
	}
	return string(c[:])
}

// summaryTextMax keeps one summary line readable when a peer sends a huge
// text; Fields carries the whole text.
const summaryTextMax = 120

// AppendSummary appends one human-readable line (no newline) describing the
// message: type, guid, ttl, hops, payload length, then the decoded fields.
func (m *Message) AppendSummary(b []byte) []byte {
	f := m.fields()
	b = append(b, f[0].val.(string)...)
	b = append(b, ' ')
	b = append(b, f[1].val.(string)...)
	return appendSummaryFields(b, f[2:])
}

func appendSummaryFields(b []byte, f fieldList) []byte {
	for _, fl := range f {
		b = append(b, ' ')
		b = append(b, fl.key...)
		b = append(b, '=')
		b = appendSummaryValue(b, fl.val)
	}
	return b
}

func appendSummaryValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return append(b, v...)
	case []byte:
		return appendQuoted(b, v)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case bool:
		return strconv.AppendBool(b, v)
	case []string:
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, s...)
		}
		return b
	case []fieldList:
		b = append(b, '[')
		for i, l := range v {
			if i > 0 {
				b = append(b, ' ')
			}
			start := len(b)
			b = appendSummaryFields(b, l)
			b[start] = '{' // over the leading space
			b = append(b, '}')
		}
		return append(b, ']')
	}
	return fmt.Appendf(b, "%v", v)
}

// appendQuoted quotes wire text Go-style, cut at summaryTextMax bytes.
func appendQuoted(b, text []byte) []byte {
	cut := false
	if len(text) > summaryTextMax {
		text, cut = text[:summaryTextMax], true // a split rune prints as \x escapes
	}
	b = strconv.AppendQuote(b, string(text))
	if cut {
		b = append(b, "..."...)
	}
	return b
}

// Fields returns what AppendSummary prints as a map, for JSON lines. Wire
// text (query text, names, reasons) is a string; hits are a list of maps.
func (m *Message) Fields() map[string]any {
	return fieldMap(m.fields())
}

func fieldMap(f fieldList) map[string]any {
	out := make(map[string]any, len(f))
	for _, fl := range f {
		switch v := fl.val.(type) {
		case []byte:
			out[fl.key] = string(v)
		case []fieldList:
			hits := make([]map[string]any, len(v))
			for i, l := range v {
				hits[i] = fieldMap(l)
			}
			out[fl.key] = hits
		default:
			out[fl.key] = v
		}
	}
	return out
}
