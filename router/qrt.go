package router

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/govent/govent/wire"
)

// QRP errors. A receiving error means the peer's table can no longer be
// trusted: the caller ends the connection with a Bye 4xx (gtk-gnutella
// sends 413).
var (
	// ErrQRP marks every error of a received RESET/PATCH sequence.
	ErrQRP = errors.New("bad QRP table update")
	// ErrQRPTooLarge: a RESET asked for more slots than we hold. It wraps
	// ErrQRP.
	ErrQRPTooLarge = fmt.Errorf("%w: table over our size limit", ErrQRP)
	// ErrQRPUnjustified: a table over MaxUnjustifiedQRTSlots slots fills
	// less than 1/QRTMinFill of them. gtk-gnutella grows its table past
	// 2^14 slots only while the half-size table would be over 1% full, so
	// its tables of 2^b slots always hold more than 2^b/200; LimeWire's
	// tables are 2^16, and ultrapeers exchange at most 2^17. A bigger,
	// emptier table is a peer making us inflate and hold more than it
	// needs. It wraps ErrQRP.
	ErrQRPUnjustified = fmt.Errorf("%w: table larger than its contents justify", ErrQRP)
	// ErrQRPEncode: a table cannot be sent with the asked entry size or
	// fragment size.
	ErrQRPEncode = errors.New("cannot encode QRP patch")
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
	// MaxUnjustifiedQRTSlots is the largest table taken whatever its fill;
	// bigger ones must have at least one slot in QRTMinFill present.
	MaxUnjustifiedQRTSlots = 1 << 17
	QRTMinFill             = 256
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
//
// The slots are held in pages of qrtPageSlots, so that a receiver can make
// the next table from the last one by copying only the pages a patch
// changes (tables from a receiver share their other pages, read-only).
// Beside them, a flat bitmap of the present slots is what every match
// reads: matching a Query's hashes against thirty leaves then costs one
// load per hash and table, where the pages cost two and a compare.
type QueryRouteTable struct {
	bits     uint8
	infinity uint8
	present  int
	pages    []*qrtPage // the first min(1<<bits, qrtPageSlots) slots of each are used
	bitmap   []uint64   // bit slot%64 of word slot/64: the slot is present
}

// qrtPageBits sizes a page: 4096 slots, 512 pages for a 2^21-slot table.
const (
	qrtPageBits  = 12
	qrtPageSlots = 1 << qrtPageBits
)

type qrtPage [qrtPageSlots]uint8

// pageSlots is how many slots each page of a 2^bits-slot table holds.
func pageSlots(bits uint8) int { return 1 << min(bits, qrtPageBits) }

// filledPage is a page of v.
func filledPage(v uint8) *qrtPage {
	p := new(qrtPage)
	for i := range p {
		p[i] = v
	}
	return p
}

// at is the value of slot, which must be in range.
func (t *QueryRouteTable) at(slot uint32) uint8 {
	return t.pages[slot>>qrtPageBits][slot&(qrtPageSlots-1)]
}

// has reports whether slot, which must be in range, is present.
func (t *QueryRouteTable) has(slot uint32) bool {
	return t.bitmap[slot>>6]&(1<<(slot&63)) != 0
}

// emptyBitmap is the bitmap of a table of 2^bits slots none present.
func emptyBitmap(bits uint8) []uint64 { return make([]uint64, max(1, (1<<bits)/64)) }

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

// newQRT returns an empty table whose pages are its own.
func newQRT(bits, infinity uint8) *QueryRouteTable {
	t := &QueryRouteTable{bits: bits, infinity: infinity, pages: make([]*qrtPage, (1<<bits)/pageSlots(bits)), bitmap: emptyBitmap(bits)}
	for i := range t.pages {
		t.pages[i] = filledPage(infinity)
	}
	return t
}

// Slots returns the table length.
func (t *QueryRouteTable) Slots() int { return 1 << t.bits }

// Bits returns log2 of the table length: the hash width.
func (t *QueryRouteTable) Bits() uint8 { return t.bits }

// Infinity returns the table's "nothing here" value.
func (t *QueryRouteTable) Infinity() uint8 { return t.infinity }

// Present returns how many slots are present; with Slots it gives the fill
// ratio (a table that is mostly full matches everything).
func (t *QueryRouteTable) Present() int { return t.present }

// IsPresent reports whether slot is present. Slots out of range are not.
func (t *QueryRouteTable) IsPresent(slot uint32) bool {
	return slot < uint32(1)<<t.bits && t.has(slot)
}

// Clone returns a private copy of t.
func (t *QueryRouteTable) Clone() *QueryRouteTable {
	c := *t
	c.bitmap = slices.Clone(t.bitmap)
	c.pages = make([]*qrtPage, len(t.pages))
	for i, p := range t.pages {
		cp := *p
		c.pages[i] = &cp
	}
	return &c
}

// presentValue is what a slot holds once something is known to be there:
// one hop, or 0 in a table whose infinity is 1.
func (t *QueryRouteTable) presentValue() uint8 { return min(1, t.infinity-1) }

// setPresent marks slot present unless it already is.
func (t *QueryRouteTable) setPresent(slot uint32) {
	v := &t.pages[slot>>qrtPageBits][slot&(qrtPageSlots-1)]
	if *v >= t.infinity {
		*v = t.presentValue()
		t.bitmap[slot>>6] |= 1 << (slot & 63)
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
		for w, word := range other.bitmap {
			for ; word != 0; word &= word - 1 {
				t.setPresent(uint32(w<<6|bits.TrailingZeros64(word)) >> k)
			}
		}
		return
	}
	k := t.bits - other.bits
	for j := range uint32(1) << t.bits {
		if other.has(j >> k) {
			t.setPresent(j)
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
// sent t: the one matcher of every table, a leaf's in routing as a test's.
// As in gtk-gnutella: a query carrying urns passes when any of its urns is
// present (urns are OR-ed, and name one file exactly); otherwise every
// keyword must be present (keywords are AND-ed). A query with neither
// passes nothing: there is nothing to route on.
func (t *QueryRouteTable) Match(q *QueryHashes) bool {
	if q.nurns > 0 {
		for _, c := range q.urns[:q.nurns] {
			if t.has(wire.QRPSlot(c, t.bits)) {
				return true
			}
		}
		return false
	}
	if q.nwords == 0 {
		return false
	}
	for _, c := range q.words[:q.nwords] {
		if !t.has(wire.QRPSlot(c, t.bits)) {
			return false
		}
	}
	return true
}

// MatchText is Match for a query's search text alone: its keywords, split
// with wire.QRPKeywords.
func (t *QueryRouteTable) MatchText(text []byte) bool {
	var q QueryHashes
	q.AddText(text)
	return t.Match(&q)
}

// MatchQuery is Match for a decoded Query: its search text and the
// urn:sha1 blocks of its extension area.
func (t *QueryRouteTable) MatchQuery(q *wire.Query) bool {
	var h QueryHashes
	h.SetQuery(q)
	return t.Match(&h)
}
