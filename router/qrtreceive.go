package router

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/linkzip"
)

// QRTReceiver follows the RESET/PATCH sequences one peer sends and keeps
// the last complete table. One goroutine (the connection's reader) calls
// Handle; the tables it returns are immutable and may be shared.
//
// A sequence is applied when its last PATCH arrives, so the published table
// never shows half a patch. Its fragments are concatenated; with zlib they
// form one stream, inflated by wire/linkzip against a bound of the table's
// exact patch size (slots × entry bits / 8), so a zlib bomb stops there. The patch is
// inflated and applied a page at a time into a new table that shares the
// last one's unchanged pages: a patch that changes little costs little
// memory, and one that changes nothing (the usual flood) allocates nothing
// but its inflater's buffers.
//
// A table over MaxUnjustifiedQRTSlots must fill what it asks for (see
// ErrQRPUnjustified). The work a sequence costs is Work's to tell, so a
// caller can budget a peer before each Handle.
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

	// empty is the all-infinity page a fresh table shares until patched.
	empty *qrtPage
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

	base := r.table
	if r.fresh {
		if r.empty == nil {
			r.empty = filledPage(r.infinity)
		}
		base = &QueryRouteTable{bits: r.bits, infinity: r.infinity, pages: make([]*qrtPage, (1<<r.bits)/pageSlots(r.bits)), bitmap: emptyBitmap(r.bits)}
		for i := range base.pages {
			base.pages[i] = r.empty
		}
	}
	var t *QueryRouteTable
	if r.compressor == wire.QRPCompressZlib {
		zr := getInflater(r.data, r.patchLen())
		var err error
		t, err = r.apply(zr, base)
		qrpInflaters.Put(zr)
		if err != nil {
			return nil, err
		}
	} else {
		if len(r.data) != r.patchLen() {
			return nil, fmt.Errorf("%w: patch of %d bytes, a %d-slot table at %d bits takes %d",
				ErrQRP, len(r.data), 1<<r.bits, r.entryBits, r.patchLen())
		}
		var err error
		if t, err = r.apply(bytes.NewReader(r.data), base); err != nil {
			return nil, err
		}
	}
	if t.Slots() > MaxUnjustifiedQRTSlots && t.present < t.Slots()/QRTMinFill {
		return nil, fmt.Errorf("%w: %d of %d slots present, under 1/%d", ErrQRPUnjustified, t.present, t.Slots(), QRTMinFill)
	}
	r.table, r.fresh = t, false
	r.seqSize, r.data = 0, nil
	return t, nil
}

// Work is how many patch bytes Handle(m) would inflate and apply: the
// table's whole patch when m is the last PATCH of a sequence after a RESET,
// else 0. A caller that budgets a peer's QRP work asks before Handle.
func (r *QRTReceiver) Work(m *wire.QRP) int {
	if m.Variant != wire.QRPPatch || !r.haveReset || m.SeqNo == 0 || m.SeqNo != m.SeqSize {
		return 0
	}
	switch m.EntryBits {
	case 1, 2, 4, 8:
		return (1 << r.bits) * int(m.EntryBits) / 8
	}
	return 0
}

// apply reads a whole patch from src a page at a time and returns the
// table it makes of base: a new table sharing base's pages but those the
// patch changes, with a bitmap of its own, or base itself when it changes
// nothing. A stream that holds more than the patch is refused.
func (r *QRTReceiver) apply(src io.Reader, base *QueryRouteTable) (*QueryRouteTable, error) {
	want := r.patchLen()
	chunk := make([]byte, pageSlots(r.bits)*int(r.entryBits)/8)
	var next *QueryRouteTable
	for p := range base.pages {
		if n, err := io.ReadFull(src, chunk); err != nil {
			return nil, fmt.Errorf("%w: patch gave %d bytes of %d: %w", ErrQRP, p*len(chunk)+n, want, err)
		}
		if allZero(chunk) {
			continue
		}
		if next == nil {
			next = &QueryRouteTable{bits: base.bits, infinity: base.infinity, present: base.present,
				pages: slices.Clone(base.pages), bitmap: slices.Clone(base.bitmap)}
		}
		page := new(qrtPage)
		*page = *base.pages[p]
		next.present += applyDeltas(page, next.bitmap, p*pageSlots(r.bits), chunk, r.entryBits, base.infinity)
		next.pages[p] = page
	}
	var extra [1]byte
	switch n, err := src.Read(extra[:]); {
	case n > 0, errors.Is(err, linkzip.ErrTooLarge):
		return nil, fmt.Errorf("%w: zlib patch holds more than the table's %d bytes", ErrQRP, want)
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: zlib: %w", ErrQRP, err)
	}
	if next == nil {
		return base, nil
	}
	return next, nil
}

// applyDeltas adds the signed deltas of bits bits to the page's slots, in
// slot order, most significant bits of each byte first, keeps the table's
// bitmap (where the page's first slot is first) up to date, and returns
// the change in present slots. 1-bit patches are the exception
// gtk-gnutella defines: a 1 flips the slot between present and absent.
func applyDeltas(page *qrtPage, bitmap []uint64, first int, deltas []byte, bits, infinity uint8) (presentChange int) {
	perByte := 8 / int(bits)
	slot := 0
	for _, b := range deltas {
		if b == 0 {
			slot += perByte
			continue
		}
		for k := range perByte {
			raw := (b >> (8 - int(bits)*(k+1))) & (1<<bits - 1)
			old, v := page[slot], page[slot]
			switch {
			case raw == 0:
			case bits == 1 && old < infinity:
				v = infinity
			case bits == 1:
				v = min(1, infinity-1) // presentValue
			default:
				// Sign-extend: move the entry to the top of an int8,
				// shift back arithmetically.
				d := int(int8(raw<<(8-bits)) >> (8 - bits))
				v = uint8(min(max(int(old)+d, 0), 255))
			}
			page[slot] = v
			at := first + slot
			switch wasPresent, isPresent := old < infinity, v < infinity; {
			case !wasPresent && isPresent:
				bitmap[at>>6] |= 1 << (at & 63)
				presentChange++
			case wasPresent && !isPresent:
				bitmap[at>>6] &^= 1 << (at & 63)
				presentChange--
			}
			slot++
		}
	}
	return presentChange
}

// allZero reports whether b holds only zeros, a word at a time: most of a
// patch is zeros, and a flood of patches is nothing else.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// qrpInflaters keeps inflaters for reuse: each holds a 32 KiB window and
// tables we would otherwise allocate for every sequence.
var qrpInflaters sync.Pool

// getInflater returns an inflater of compressed bounded to a patch of want
// bytes; Put it back in qrpInflaters when done. The bound is the whole
// bomb guard here: a patch that changes nothing is all zeros and deflates
// a thousandfold, so no ratio applies, and the servent's QRP budget (Work)
// bounds how many patches a peer makes us inflate.
func getInflater(compressed []byte, want int) *linkzip.Reader {
	src := bytes.NewReader(compressed)
	cfg := linkzip.ReaderConfig{MaxRatio: linkzip.MaxDeflateRatio, MaxOutput: int64(want)}
	if zr, ok := qrpInflaters.Get().(*linkzip.Reader); ok {
		zr.Reset(src, cfg)
		return zr
	}
	return linkzip.NewReader(src, cfg)
}
