package router

import (
	"fmt"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/linkzip"
)

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
	if next.Slots()*int(entryBits) < 8 {
		return nil, fmt.Errorf("%w: %d slots at %d bits are less than a byte", ErrQRPEncode, next.Slots(), entryBits)
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
		z, err := linkzip.Deflate(nil, raw)
		if err != nil {
			return nil, fmt.Errorf("%w: zlib: %w", ErrQRPEncode, err)
		}
		raw, compressor = z, wire.QRPCompressZlib
	}
	n := (len(raw) + maxFragment - 1) / maxFragment
	if n > wire.QRPMaxSeqSize {
		return nil, fmt.Errorf("%w: %d-byte patch needs %d fragments of %d bytes, at most %d allowed",
			ErrQRPEncode, len(raw), n, maxFragment, wire.QRPMaxSeqSize)
	}
	msgs := make([]wire.QRP, 0, n+1)
	if reset {
		msgs = append(msgs, wire.QRP{Variant: wire.QRPReset, TableLength: uint32(next.Slots()), Infinity: next.infinity})
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
	raw = make([]byte, next.Slots()*int(bits)/8)
	lo, hi := -(1 << (bits - 1)), 1<<(bits-1)-1
	for i := range next.Slots() {
		v, old := next.at(uint32(i)), next.infinity
		if prev != nil {
			old = prev.at(uint32(i))
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
