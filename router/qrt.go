package router

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"

	"github.com/govent/govent/wire"
)

// QRP errors. A receiving error means the peer's table can no longer be
// trusted: the caller ends the connection with a Bye 4xx (gtk-gnutella
// sends 413).
var (
	// ErrQRP marks every error of a received RESET/PATCH sequence.
	ErrQRP = errors.New("router: bad QRP table update")
	// ErrQRPTooLarge: a RESET asked for more slots than we hold. It wraps
	// ErrQRP.
	ErrQRPTooLarge = fmt.Errorf("%w: table over our size limit", ErrQRP)
	// ErrQRPEncode: a table cannot be sent with the asked entry size or
	// fragment size.
	ErrQRPEncode = errors.New("router: cannot encode QRP patch")
)

const (
	// DefaultMaxQRTSlots bounds a received table (gtk-gnutella's maximum,
	// 2^21 slots, 2 MiB here).
	DefaultMaxQRTSlots = 1 << 21
	// DefaultQRTInfinity is the infinity of the tables we build. A leaf's
	// files are one hop away, so 2 is enough, as gtk-gnutella uses: every
	// patch entry is then -1, 0 or +1 and fits any entry size.
	DefaultQRTInfinity = 2
	// MaxQRTBits bounds the tables we build (2^21 slots).
	MaxQRTBits = 21
	// MaxQueryHashes bounds the keyword hashes taken from one query, as
	// gtk-gnutella does; a query with more words is matched on its first
	// ones only, which can only let more through.
	MaxQueryHashes = 128
)

// QueryRouteTable is one peer's QRP table: 2^bits slots, each holding the
// distance to the nearest file with a keyword that hashes there, or
// infinity. A slot is present when its value is below infinity.
//
// Tables from QRTReceiver are never modified after they are returned, so
// any number of goroutines may match against them. Tables from BuildQRT,
// NewQueryRouteTable, Clone and UnionQRT belong to the caller, who may
// Merge into them until sharing them.
type QueryRouteTable struct {
	bits     uint8
	infinity uint8
	present  int
	values   []uint8 // 1 << bits entries
}

// NewQueryRouteTable returns an empty table (every slot infinity) of
// 2^bits slots, bits at most MaxQRTBits, infinity at least 1.
func NewQueryRouteTable(bits, infinity uint8) (*QueryRouteTable, error) {
	if bits > MaxQRTBits {
		return nil, fmt.Errorf("%w: %d-bit table over %d bits", ErrQRPEncode, bits, MaxQRTBits)
	}
	if infinity == 0 {
		return nil, fmt.Errorf("%w: infinity 0", ErrQRPEncode)
	}
	return newQRT(bits, infinity), nil
}

func newQRT(bits, infinity uint8) *QueryRouteTable {
	t := &QueryRouteTable{bits: bits, infinity: infinity, values: make([]uint8, 1<<bits)}
	for i := range t.values {
		t.values[i] = infinity
	}
	return t
}

// Slots returns the table length.
func (t *QueryRouteTable) Slots() int { return len(t.values) }

// Bits returns log2 of the table length: the hash width.
func (t *QueryRouteTable) Bits() uint8 { return t.bits }

// Infinity returns the table's "nothing here" value.
func (t *QueryRouteTable) Infinity() uint8 { return t.infinity }

// Present returns how many slots are present; with Slots it gives the fill
// ratio (a table that is mostly full matches everything).
func (t *QueryRouteTable) Present() int { return t.present }

// IsPresent reports whether slot is present. Slots out of range are not.
func (t *QueryRouteTable) IsPresent(slot uint32) bool {
	return slot < uint32(len(t.values)) && t.values[slot] < t.infinity
}

// Clone returns a private copy of t.
func (t *QueryRouteTable) Clone() *QueryRouteTable {
	c := *t
	c.values = bytes.Clone(t.values)
	return &c
}

// presentValue is what a slot holds once something is known to be there:
// one hop, or 0 in a table whose infinity is 1.
func (t *QueryRouteTable) presentValue() uint8 { return min(1, t.infinity-1) }

// setPresent marks slot present unless it already is.
func (t *QueryRouteTable) setPresent(slot uint32) {
	if t.values[slot] >= t.infinity {
		t.values[slot] = t.presentValue()
		t.present++
	}
}

// addKeyword marks the slot of a keyword.
func (t *QueryRouteTable) addKeyword(w []byte) {
	t.setPresent(wire.QRPHash(w, t.bits))
}

// BuildQRT builds the table a leaf sends for its shared files, as
// gtk-gnutella does: every keyword of every name (wire.QRPKeywords) and the
// keyword's cut prefixes (wire.QRPPrefixes), plus "urn:sha1:<base32>" of
// every file, each marked one hop away. bits is the table's hash width:
// gtk-gnutella starts at 14, LimeWire uses 16.
func BuildQRT(names []string, urns []wire.SHA1, bits uint8) (*QueryRouteTable, error) {
	t, err := NewQueryRouteTable(bits, DefaultQRTInfinity)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		for w := range wire.QRPKeywords([]byte(name)) {
			t.addKeyword(w)
			for p := range wire.QRPPrefixes(w) {
				t.addKeyword(p)
			}
		}
	}
	for _, u := range urns {
		t.setPresent(wire.QRPSlot(qrpURNHashCode(u), t.bits))
	}
	return t, nil
}

// qrpURNHashCode hashes a urn as LimeWire puts it in its table: the text
// "urn:sha1:<base32>" (the hash lower-cases it).
func qrpURNHashCode(s wire.SHA1) uint32 {
	var buf [len(wire.URNPrefix) + 32]byte
	return wire.QRPHashCode(s.AppendURN(buf[:0]))
}

// Merge marks present in t every slot present in other: the OR of the two
// key sets. Tables of different sizes line up because a QRP hash of b+k bits
// begins with the hash of b bits: a smaller table's slot covers 2^k slots
// of a larger one, and a larger table's 2^k slots fold into one. t must not
// be shared yet.
func (t *QueryRouteTable) Merge(other *QueryRouteTable) {
	if other.bits >= t.bits {
		k := other.bits - t.bits
		for i, v := range other.values {
			if v < other.infinity {
				t.setPresent(uint32(i) >> k)
			}
		}
		return
	}
	k := t.bits - other.bits
	for j := range t.values {
		if other.values[j>>k] < other.infinity {
			t.setPresent(uint32(j))
		}
	}
}

// UnionQRT returns a new table of 2^bits slots holding the union of tables
// (nil ones skipped): what an ultrapeer advertises for itself and its
// leaves to another ultrapeer.
func UnionQRT(bits uint8, tables ...*QueryRouteTable) (*QueryRouteTable, error) {
	u, err := NewQueryRouteTable(bits, DefaultQRTInfinity)
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		if t != nil {
			u.Merge(t)
		}
	}
	return u, nil
}

// QueryHashes holds a query's keyword and urn hash codes, computed once and
// then tested against every leaf's table whatever its size. The zero value
// is empty; it lives happily on the stack.
type QueryHashes struct {
	words  [MaxQueryHashes]uint32
	nwords int
	urns   [8]uint32
	nurns  int
}

// Reset empties q for another query.
func (q *QueryHashes) Reset() { q.nwords, q.nurns = 0, 0 }

// AddKeyword adds one query keyword. Words shorter than
// wire.QRPMinWordLen bytes are skipped as gtk-gnutella skips them: other
// servents may leave them out of their tables.
func (q *QueryHashes) AddKeyword(w []byte) {
	if len(w) < wire.QRPMinWordLen || q.nwords == len(q.words) {
		return
	}
	q.words[q.nwords] = wire.QRPHashCode(w)
	q.nwords++
}

// AddText adds every keyword of a query's search text.
func (q *QueryHashes) AddText(text []byte) {
	for w := range wire.QRPKeywords(text) {
		q.AddKeyword(w)
	}
}

// AddURN adds a urn:sha1 the query asks for.
func (q *QueryHashes) AddURN(s wire.SHA1) {
	if q.nurns == len(q.urns) {
		return
	}
	q.urns[q.nurns] = qrpURNHashCode(s)
	q.nurns++
}

// Match reports whether a query with hashes q should go to the peer that
// sent t. As in gtk-gnutella: a query carrying urns passes when any of its
// urns is present (urns are OR-ed, and name one file exactly); otherwise
// every keyword must be present (keywords are AND-ed). A query with
// neither passes nothing: there is nothing to route on.
func (t *QueryRouteTable) Match(q *QueryHashes) bool {
	if q.nurns > 0 {
		for _, c := range q.urns[:q.nurns] {
			if t.IsPresent(wire.QRPSlot(c, t.bits)) {
				return true
			}
		}
		return false
	}
	if q.nwords == 0 {
		return false
	}
	for _, c := range q.words[:q.nwords] {
		if !t.IsPresent(wire.QRPSlot(c, t.bits)) {
			return false
		}
	}
	return true
}

// MatchKeywords reports whether every keyword in words (those of at least
// wire.QRPMinWordLen bytes) is present; false when none is long enough.
func (t *QueryRouteTable) MatchKeywords(words [][]byte) bool {
	n := 0
	for _, w := range words {
		if len(w) < wire.QRPMinWordLen {
			continue
		}
		if !t.IsPresent(wire.QRPHash(w, t.bits)) {
			return false
		}
		n++
	}
	return n > 0
}

// MatchText splits a query's search text with wire.QRPKeywords and
// matches its keywords as MatchKeywords does.
func (t *QueryRouteTable) MatchText(text []byte) bool {
	n := 0
	for w := range wire.QRPKeywords(text) {
		if len(w) < wire.QRPMinWordLen {
			continue
		}
		if !t.IsPresent(wire.QRPHash(w, t.bits)) {
			return false
		}
		n++
	}
	return n > 0
}

// MatchURN reports whether the slot of "urn:sha1:<base32>" is present.
func (t *QueryRouteTable) MatchURN(s wire.SHA1) bool {
	return t.IsPresent(wire.QRPSlot(qrpURNHashCode(s), t.bits))
}

// MatchQuery applies Match to a decoded Query: its search text and the
// urn:sha1 blocks of its extension area.
func (t *QueryRouteTable) MatchQuery(q *wire.Query) bool {
	var h QueryHashes
	for i := range q.Ext.Blocks {
		if q.Ext.Blocks[i].Kind == wire.ExtSHA1 {
			h.AddURN(q.Ext.Blocks[i].SHA1)
		}
	}
	h.AddText(q.Criteria)
	return t.Match(&h)
}

// QRTReceiver follows the RESET/PATCH sequences one peer sends and keeps
// the last complete table. One goroutine (the connection's reader) calls
// Handle; the tables it returns are immutable and may be shared.
//
// A sequence is applied when its last PATCH arrives, so the published table
// never shows half a patch. Its fragments are concatenated; with zlib they
// form one stream, inflated against a bound of the table's exact patch size
// (slots × entry bits / 8), so a zlib bomb stops there.
type QRTReceiver struct {
	maxSlots int
	table    *QueryRouteTable // last complete table; nil until one is

	// From the last RESET. fresh: no sequence has completed since it, so
	// the next applies to an empty table.
	haveReset bool
	fresh     bool
	bits      uint8
	infinity  uint8

	// The sequence being received; seqSize 0 when none.
	seqSize    uint8
	nextSeq    uint8
	compressor uint8
	entryBits  uint8
	data       []byte
}

// NewQRTReceiver returns a receiver that refuses tables over maxSlots
// slots (0 means DefaultMaxQRTSlots).
func NewQRTReceiver(maxSlots int) *QRTReceiver {
	if maxSlots <= 0 {
		maxSlots = DefaultMaxQRTSlots
	}
	return &QRTReceiver{maxSlots: maxSlots}
}

// Table returns the last complete table: nil before the first sequence
// completes and from a RESET until the sequence after it completes (the
// spec's advice is to not route on a table being replaced).
func (r *QRTReceiver) Table() *QueryRouteTable { return r.table }

// Handle applies one decoded QRP message. When it completes a PATCH
// sequence it returns the new table (also what Table returns from then
// on); otherwise nil. Errors wrap ErrQRP, and the receiver forgets the
// sequence in progress: the caller should close the connection.
func (r *QRTReceiver) Handle(m *wire.QRP) (*QueryRouteTable, error) {
	switch m.Variant {
	case wire.QRPReset:
		return nil, r.reset(m)
	case wire.QRPPatch:
		t, err := r.patch(m)
		if err != nil {
			r.seqSize = 0
			r.data = nil
		}
		return t, err
	default:
		return nil, fmt.Errorf("%w: unknown variant %d", ErrQRP, m.Variant)
	}
}

func (r *QRTReceiver) reset(m *wire.QRP) error {
	n := m.TableLength
	if n == 0 || n&(n-1) != 0 {
		return fmt.Errorf("%w: RESET table length %d is not a power of two", ErrQRP, n)
	}
	if n > uint32(r.maxSlots) {
		return fmt.Errorf("%w: RESET asks for %d slots, limit %d", ErrQRPTooLarge, n, r.maxSlots)
	}
	if m.Infinity == 0 {
		return fmt.Errorf("%w: RESET infinity 0", ErrQRP)
	}
	bits := uint8(0)
	for uint32(1)<<bits < n {
		bits++
	}
	// Nothing is allocated until a sequence completes: a peer sending
	// RESETs costs nothing.
	*r = QRTReceiver{maxSlots: r.maxSlots, haveReset: true, fresh: true, bits: bits, infinity: m.Infinity}
	return nil
}

// patchLen is the exact size of an uncompressed patch.
func (r *QRTReceiver) patchLen() int {
	return ((1 << r.bits) * int(r.entryBits)) / 8
}

// compressedBound caps what we hold of a compressed sequence before
// inflating it: the raw size plus zlib's worst-case growth (stored blocks,
// one sync flush per fragment), generously.
func (r *QRTReceiver) compressedBound() int {
	raw := r.patchLen()
	return raw + raw/64 + 16*wire.QRPMaxSeqSize + 64
}

func (r *QRTReceiver) patch(m *wire.QRP) (*QueryRouteTable, error) {
	if !r.haveReset {
		return nil, fmt.Errorf("%w: PATCH before any RESET", ErrQRP)
	}
	if m.SeqNo == 0 || m.SeqNo > m.SeqSize {
		return nil, fmt.Errorf("%w: PATCH %d/%d", ErrQRP, m.SeqNo, m.SeqSize)
	}
	switch m.EntryBits {
	case 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("%w: PATCH entry bits %d", ErrQRP, m.EntryBits)
	}
	if m.Compressor != wire.QRPCompressNone && m.Compressor != wire.QRPCompressZlib {
		return nil, fmt.Errorf("%w: PATCH compressor %d", ErrQRP, m.Compressor)
	}
	if r.seqSize == 0 {
		if m.SeqNo != 1 {
			return nil, fmt.Errorf("%w: PATCH %d/%d starts no sequence", ErrQRP, m.SeqNo, m.SeqSize)
		}
		r.seqSize, r.nextSeq = m.SeqSize, 1
		r.compressor, r.entryBits = m.Compressor, m.EntryBits
		r.data = r.data[:0]
	}
	switch {
	case m.SeqNo != r.nextSeq:
		return nil, fmt.Errorf("%w: PATCH %d/%d, expected number %d", ErrQRP, m.SeqNo, m.SeqSize, r.nextSeq)
	case m.SeqSize != r.seqSize:
		return nil, fmt.Errorf("%w: PATCH sequence size changed from %d to %d", ErrQRP, r.seqSize, m.SeqSize)
	case m.Compressor != r.compressor:
		return nil, fmt.Errorf("%w: PATCH compressor changed from %d to %d", ErrQRP, r.compressor, m.Compressor)
	case m.EntryBits != r.entryBits:
		return nil, fmt.Errorf("%w: PATCH entry bits changed from %d to %d", ErrQRP, r.entryBits, m.EntryBits)
	}
	if (1<<r.bits)*int(r.entryBits) < 8 {
		// A patch is whole bytes; tables this small have no byte-exact
		// patch at this entry size.
		return nil, fmt.Errorf("%w: %d-bit entries for %d slots are less than a byte", ErrQRP, r.entryBits, 1<<r.bits)
	}
	limit := r.patchLen()
	if r.compressor == wire.QRPCompressZlib {
		limit = r.compressedBound()
	}
	if len(r.data)+len(m.Data) > limit {
		return nil, fmt.Errorf("%w: PATCH %d/%d: more data than a %d-slot table takes", ErrQRP, m.SeqNo, m.SeqSize, 1<<r.bits)
	}
	r.data = append(r.data, m.Data...)
	if m.SeqNo < m.SeqSize {
		r.nextSeq++
		return nil, nil
	}

	deltas := r.data
	if r.compressor == wire.QRPCompressZlib {
		var err error
		if deltas, err = inflateQRPPatch(r.data, r.patchLen()); err != nil {
			return nil, err
		}
	}
	if len(deltas) != r.patchLen() {
		return nil, fmt.Errorf("%w: patch of %d bytes, a %d-slot table at %d bits takes %d",
			ErrQRP, len(deltas), 1<<r.bits, r.entryBits, r.patchLen())
	}
	var t *QueryRouteTable
	if r.fresh {
		t = newQRT(r.bits, r.infinity)
	} else {
		t = r.table.Clone()
	}
	t.applyPatch(deltas, r.entryBits)
	r.table, r.fresh = t, false
	r.seqSize, r.data = 0, nil
	return t, nil
}

// inflateQRPPatch inflates a whole sequence's zlib stream into at most want
// bytes. A stream the sender never finished is fine once it has given the
// whole patch (senders sync-flush); one that holds more is refused.
func inflateQRPPatch(compressed []byte, want int) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, fmt.Errorf("%w: zlib: %w", ErrQRP, err)
	}
	out := make([]byte, want)
	n, err := io.ReadFull(zr, out)
	if err != nil {
		return nil, fmt.Errorf("%w: zlib patch gave %d bytes of %d: %w", ErrQRP, n, want, err)
	}
	var extra [1]byte
	switch n, err := zr.Read(extra[:]); {
	case n > 0:
		return nil, fmt.Errorf("%w: zlib patch holds more than the table's %d bytes", ErrQRP, want)
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: zlib: %w", ErrQRP, err)
	}
	return out, nil
}

// applyPatch adds signed deltas of bits bits to every slot, in slot order,
// most significant bits of each byte first. 1-bit patches are the
// exception gtk-gnutella defines: a 1 flips the slot between present and
// absent.
func (t *QueryRouteTable) applyPatch(deltas []byte, bits uint8) {
	perByte := 8 / int(bits)
	slot := 0
	for _, b := range deltas {
		for k := range perByte {
			shift := 8 - int(bits)*(k+1)
			raw := (b >> shift) & (1<<bits - 1)
			if bits == 1 {
				if raw == 1 {
					t.flip(slot)
				}
			} else {
				// Sign-extend: move the entry to the top of an int8, shift
				// back arithmetically.
				d := int(int8(raw<<(8-bits)) >> (8 - bits))
				t.add(slot, d)
			}
			slot++
		}
	}
}

// add adds d to a slot's value, clamped to a byte, keeping the count of
// present slots.
func (t *QueryRouteTable) add(slot, d int) {
	if d == 0 {
		return
	}
	old := t.values[slot]
	v := min(max(int(old)+d, 0), 255)
	t.values[slot] = uint8(v)
	t.recount(old, uint8(v))
}

func (t *QueryRouteTable) flip(slot int) {
	old := t.values[slot]
	if old < t.infinity {
		t.values[slot] = t.infinity
	} else {
		t.values[slot] = t.presentValue()
	}
	t.recount(old, t.values[slot])
}

func (t *QueryRouteTable) recount(old, v uint8) {
	switch wasPresent, isPresent := old < t.infinity, v < t.infinity; {
	case !wasPresent && isPresent:
		t.present++
	case wasPresent && !isPresent:
		t.present--
	}
}

// PatchMessages returns the QRP messages that bring a peer holding prev to
// next: a RESET first when prev is nil or differs in size or infinity (the
// patch is then against an empty table), then PATCH fragments 1..n of at
// most maxFragment data bytes each, n at most 255. Entries are entryBits
// (1, 2, 4 or 8) wide: signed deltas next - prev, or for 1 bit a flip of
// presence. With compress the whole patch is one zlib stream cut into the
// fragments. When prev and next are equal nothing needs sending and the
// result is empty. The PATCH Data share one buffer.
func PatchMessages(prev, next *QueryRouteTable, entryBits uint8, compress bool, maxFragment int) ([]wire.QRP, error) {
	if next == nil {
		return nil, fmt.Errorf("%w: no table", ErrQRPEncode)
	}
	switch entryBits {
	case 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("%w: entry bits %d not 1, 2, 4 or 8", ErrQRPEncode, entryBits)
	}
	if maxFragment < 1 {
		return nil, fmt.Errorf("%w: fragment size %d", ErrQRPEncode, maxFragment)
	}
	if len(next.values)*int(entryBits) < 8 {
		return nil, fmt.Errorf("%w: %d slots at %d bits are less than a byte", ErrQRPEncode, len(next.values), entryBits)
	}
	reset := prev == nil || prev.bits != next.bits || prev.infinity != next.infinity
	if reset {
		prev = nil
	}
	raw, changed, err := encodeQRPPatch(prev, next, entryBits)
	if err != nil {
		return nil, err
	}
	if !reset && !changed {
		return nil, nil
	}
	compressor := wire.QRPCompressNone
	if compress {
		var buf bytes.Buffer
		zw := zlib.NewWriter(&buf)
		if _, err := zw.Write(raw); err != nil {
			return nil, fmt.Errorf("%w: zlib: %w", ErrQRPEncode, err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("%w: zlib: %w", ErrQRPEncode, err)
		}
		raw, compressor = buf.Bytes(), wire.QRPCompressZlib
	}
	n := (len(raw) + maxFragment - 1) / maxFragment
	if n > wire.QRPMaxSeqSize {
		return nil, fmt.Errorf("%w: %d-byte patch needs %d fragments of %d bytes, at most %d allowed",
			ErrQRPEncode, len(raw), n, maxFragment, wire.QRPMaxSeqSize)
	}
	msgs := make([]wire.QRP, 0, n+1)
	if reset {
		msgs = append(msgs, wire.QRP{Variant: wire.QRPReset, TableLength: uint32(len(next.values)), Infinity: next.infinity})
	}
	for i := range n {
		end := min((i+1)*maxFragment, len(raw))
		msgs = append(msgs, wire.QRP{
			Variant:    wire.QRPPatch,
			SeqNo:      uint8(i + 1),
			SeqSize:    uint8(n),
			Compressor: compressor,
			EntryBits:  entryBits,
			Data:       raw[i*maxFragment : end : end],
		})
	}
	return msgs, nil
}

// encodeQRPPatch packs the entries taking prev (nil: an empty table) to next.
func encodeQRPPatch(prev, next *QueryRouteTable, bits uint8) (raw []byte, changed bool, err error) {
	raw = make([]byte, len(next.values)*int(bits)/8)
	lo, hi := -(1 << (bits - 1)), 1<<(bits-1)-1
	for i, v := range next.values {
		old := next.infinity
		if prev != nil {
			old = prev.values[i]
		}
		var e uint8
		if bits == 1 {
			if (old < next.infinity) != (v < next.infinity) {
				e = 1
			}
		} else {
			d := int(v) - int(old)
			if d < lo || d > hi {
				return nil, false, fmt.Errorf("%w: slot %d changes by %d, over %d-bit entries", ErrQRPEncode, i, d, bits)
			}
			e = uint8(d) & (1<<bits - 1)
		}
		if e != 0 {
			changed = true
			bit := i * int(bits)
			raw[bit/8] |= e << (8 - int(bits) - bit%8)
		}
	}
	return raw, changed, nil
}
