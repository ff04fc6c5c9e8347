package wire

import (
	"encoding/binary"
	"fmt"
	"iter"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// QRP variants: the first payload byte of a type 0x30 message.
const (
	QRPReset uint8 = 0x00
	QRPPatch uint8 = 0x01
)

// QRP PATCH compressors.
const (
	QRPCompressNone uint8 = 0x00
	QRPCompressZlib uint8 = 0x01
)

// QRPMaxSeqSize is the longest PATCH sequence: SEQ_SIZE is one byte.
const QRPMaxSeqSize = 255

// Payload sizes: RESET is variant, table length (u32 LE), infinity; PATCH
// is variant, seq no, seq size, compressor, entry bits, then the data.
const (
	qrpResetLen       = 6
	qrpPatchHeaderLen = 5
)

// QRP is a ROUTE_TABLE_UPDATE payload (type 0x30), either variant. Fields of
// the other variant are zero.
type QRP struct {
	Variant     uint8  // QRPReset or QRPPatch
	TableLength uint32 // RESET: number of slots, a power of two
	Infinity    uint8  // RESET: the "absent" value, at least 1

	SeqNo      uint8 // PATCH: position in the sequence, 1..SeqSize
	SeqSize    uint8 // PATCH: messages in the sequence
	Compressor uint8 // PATCH: QRPCompressNone or QRPCompressZlib
	EntryBits  uint8 // PATCH: bits per patch entry: 1, 2, 4 or 8
	// Data is the PATCH's share of the (possibly compressed) patch. Decode
	// makes it a view of the payload it was given, valid as long as that is.
	Data []byte
}

// Decode parses a QRP payload into q. Data aliases payload; nothing is
// allocated. Errors wrap ErrMalformed.
func (q *QRP) Decode(payload []byte) error {
	if len(payload) == 0 {
		return fmt.Errorf("%w: QRP: empty payload", ErrMalformed)
	}
	switch payload[0] {
	case QRPReset:
		if len(payload) != qrpResetLen {
			return fmt.Errorf("%w: QRP RESET: want %d bytes, have %d", ErrMalformed, qrpResetLen, len(payload))
		}
		*q = QRP{
			Variant:     QRPReset,
			TableLength: binary.LittleEndian.Uint32(payload[1:5]),
			Infinity:    payload[5],
		}
	case QRPPatch:
		if len(payload) < qrpPatchHeaderLen {
			return fmt.Errorf("%w: QRP PATCH: want at least %d bytes, have %d", ErrMalformed, qrpPatchHeaderLen, len(payload))
		}
		*q = QRP{
			Variant:    QRPPatch,
			SeqNo:      payload[1],
			SeqSize:    payload[2],
			Compressor: payload[3],
			EntryBits:  payload[4],
			Data:       payload[qrpPatchHeaderLen:],
		}
	default:
		return fmt.Errorf("%w: QRP: unknown variant 0x%02x", ErrMalformed, payload[0])
	}
	return q.validate()
}

// validate applies the spec's rules to the fields of either variant.
func (q *QRP) validate() error {
	switch q.Variant {
	case QRPReset:
		if q.TableLength == 0 || q.TableLength&(q.TableLength-1) != 0 {
			return fmt.Errorf("%w: QRP RESET: table length %d is not a power of two", ErrMalformed, q.TableLength)
		}
		// Infinity is "the maximum distance plus one": 0 would make every
		// slot both present and absent.
		if q.Infinity == 0 {
			return fmt.Errorf("%w: QRP RESET: infinity 0", ErrMalformed)
		}
	case QRPPatch:
		if q.SeqNo == 0 || q.SeqNo > q.SeqSize {
			return fmt.Errorf("%w: QRP PATCH: sequence %d/%d", ErrMalformed, q.SeqNo, q.SeqSize)
		}
		if q.Compressor != QRPCompressNone && q.Compressor != QRPCompressZlib {
			return fmt.Errorf("%w: QRP PATCH: unknown compressor %d", ErrMalformed, q.Compressor)
		}
		switch q.EntryBits {
		case 1, 2, 4, 8:
		default:
			return fmt.Errorf("%w: QRP PATCH: entry bits %d not 1, 2, 4 or 8", ErrMalformed, q.EntryBits)
		}
	default:
		return fmt.Errorf("%w: QRP: unknown variant 0x%02x", ErrMalformed, q.Variant)
	}
	return nil
}

// Len returns the payload length Append writes.
func (q *QRP) Len() int {
	if q.Variant == QRPReset {
		return qrpResetLen
	}
	return qrpPatchHeaderLen + len(q.Data)
}

// Append appends the payload to b. It refuses the same field values Decode
// refuses, so nothing we send is something we would reject.
func (q *QRP) Append(b []byte) ([]byte, error) {
	if err := q.validate(); err != nil {
		return b, err
	}
	if q.Variant == QRPReset {
		b = append(b, QRPReset)
		b = binary.LittleEndian.AppendUint32(b, q.TableLength)
		return append(b, q.Infinity), nil
	}
	b = append(b, QRPPatch, q.SeqNo, q.SeqSize, q.Compressor, q.EntryBits)
	return append(b, q.Data...), nil
}

// qrpMultiplier is the 32-bit golden ratio (sqrt(5)-1)/2 that Knuth
// suggests for multiplicative hashing; the QRP spec fixes it.
const qrpMultiplier = 0x4F1BBCDC

// QRPHashCode returns the 32-bit QRP hash of keyword before it is cut down
// to a table size: QRPHash(k, bits) == QRPHashCode(k) >> (32 - bits).
// Computing it once per query keyword lets a router test tables of every
// size without hashing again.
//
// The keyword is lower-cased as it is hashed. The spec's reference is Java:
// each UTF-16 char is lower-cased and its low byte XORed in. gtk-gnutella
// does the same from UTF-8: it decodes each character, lower-cases it,
// XORs in the low byte (a character above U+FFFF counts as its two UTF-16
// surrogates, high first), and stops at the first invalid UTF-8 sequence.
// For ASCII all of this is the plain byte, lower-cased. No allocation.
func QRPHashCode(keyword []byte) uint32 {
	var h qrpHasher
	for i := 0; i < len(keyword); {
		if c := keyword[i]; c < utf8.RuneSelf {
			h.addASCII(c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(keyword[i:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		h.addRune(r)
		i += size
	}
	return h.x * qrpMultiplier
}

// QRPHashCodeString is QRPHashCode for a string.
func QRPHashCodeString(keyword string) uint32 {
	var h qrpHasher
	for i := 0; i < len(keyword); {
		if c := keyword[i]; c < utf8.RuneSelf {
			h.addASCII(c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(keyword[i:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		h.addRune(r)
		i += size
	}
	return h.x * qrpMultiplier
}

// QRPHash returns the QRP hash of keyword for a table of 2^bits slots: the
// top bits of QRPHashCode. bits over 32 count as 32.
func QRPHash(keyword []byte, bits uint8) uint32 {
	return qrpCut(QRPHashCode(keyword), bits)
}

// qrpHashString is QRPHash for a string.
func qrpHashString(keyword string, bits uint8) uint32 {
	return qrpCut(QRPHashCodeString(keyword), bits)
}

// QRPSlot cuts a QRPHashCode down to a table of 2^bits slots.
func QRPSlot(code uint32, bits uint8) uint32 { return qrpCut(code, bits) }

func qrpCut(code uint32, bits uint8) uint32 {
	if bits == 0 {
		return 0
	}
	if bits > 32 {
		bits = 32
	}
	return code >> (32 - bits)
}

// qrpHasher XORs the keyword in as little-endian 32-bit words, one
// character's low byte at a time.
type qrpHasher struct {
	x     uint32
	shift uint // 0, 8, 16, 24
}

func (h *qrpHasher) addByte(b byte) {
	h.x ^= uint32(b) << h.shift
	h.shift = (h.shift + 8) & 24
}

func (h *qrpHasher) addASCII(c byte) {
	if 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	h.addByte(c)
}

func (h *qrpHasher) addRune(r rune) {
	r = unicode.ToLower(r)
	if r > 0xFFFF {
		hi, lo := utf16.EncodeRune(r)
		h.addByte(byte(hi))
		h.addByte(byte(lo))
		return
	}
	h.addByte(byte(r))
}

// Keyword rules of gtk-gnutella, the live reference: query words shorter
// than QRPMinWordLen bytes are not looked up in a table, and a table holds
// every word plus the prefixes left by cutting up to QRPMaxCutChars
// characters off its end, as long as more than QRPMinWordLen bytes remain.
const (
	QRPMinWordLen  = 3
	QRPMaxCutChars = 5
)

// QRPKeywords yields the keywords of text: the maximal runs of letters,
// digits and combining marks. Everything else (spaces, punctuation, the dot
// before an extension, invalid UTF-8) separates words, as gtk-gnutella's
// canonical file names do: "penny lane.mp3" gives penny, lane, mp3. Case is
// kept; the hash lower-cases. The words are views of text; iterating
// allocates nothing.
func QRPKeywords(text []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		start := -1
		for i := 0; i < len(text); {
			size := 1
			inWord := false
			if c := text[i]; c < utf8.RuneSelf {
				inWord = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
			} else {
				var r rune
				r, size = utf8.DecodeRune(text[i:])
				inWord = !(r == utf8.RuneError && size <= 1) &&
					(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
			}
			switch {
			case inWord && start < 0:
				start = i
			case !inWord && start >= 0:
				if !yield(text[start:i]) {
					return
				}
				start = -1
			}
			i += size
		}
		if start >= 0 {
			yield(text[start:])
		}
	}
}

// QRPPrefixes yields the prefixes of word that go into a table besides the
// word itself: one character cut off at a time, at most QRPMaxCutChars
// times, while more than QRPMinWordLen bytes remain. "strawberry" gives
// strawberr, strawber, strawbe, strawb, straw; "penny" gives penn; "lane"
// gives nothing. The prefixes are views of word.
func QRPPrefixes(word []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		n := len(word)
		for cut := 0; cut < QRPMaxCutChars; cut++ {
			_, size := utf8.DecodeLastRune(word[:n])
			n -= size
			if n <= QRPMinWordLen {
				return
			}
			if !yield(word[:n]) {
				return
			}
		}
	}
}
