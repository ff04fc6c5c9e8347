package capture

import (
	"encoding/binary"
	"fmt"
	"io"
)

// pcapng block types and option codes the guard looks into.
const (
	ngBlockSection     = 0x0a0d0d0a
	ngBlockInterface   = 0x00000001
	ngBlockPacket      = 0x00000002 // obsolete Packet Block
	ngBlockSimple      = 0x00000003
	ngBlockStatistics  = 0x00000005
	ngBlockEnhanced    = 0x00000006
	ngByteOrderMagic   = 0x1a2b3c4d
	ngOptionEnd        = 0
	ngOptionTSResol    = 9
	ngMaxBlockBytes    = maxPacketBytes + 64<<10
	ngMinBlockBytes    = 12
	ngSectionFixedLen  = 24 // type, length, byte-order magic, version, section length
	ngInterfaceFixed   = 16 // type, length, link type, reserved, snaplen
	ngStatisticsFixed  = 20 // type, length, interface, timestamp
	ngEnhancedFixedLen = 32 // type, length, interface, timestamp, captured and original length, trailer
	ngSimpleFixedLen   = 16 // type, length, original length, trailer
)

// ngGuard sits between a pcapng file and pcapgo's NgReader and passes on only
// blocks that NgReader can digest safely. NgReader trusts the file: it
// allocates a packet's captured length before checking it against the block
// (4 GiB from a 40-byte block), and divides by a timestamp resolution that
// overflows to zero. The guard reads whole blocks (bounded), checks their
// lengths and those fields, and fails with ErrFormat otherwise.
type ngGuard struct {
	r       io.Reader
	block   []byte // current block, handed out from pending
	pending []byte
	order   binary.ByteOrder
	err     error
}

func newNgGuard(r io.Reader) *ngGuard { return &ngGuard{r: r} }

func (g *ngGuard) Read(p []byte) (int, error) {
	for len(g.pending) == 0 {
		if g.err != nil {
			return 0, g.err
		}
		g.err = g.nextBlock()
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// nextBlock reads and checks one block into g.pending.
func (g *ngGuard) nextBlock() error {
	var head [12]byte
	if n, err := io.ReadFull(g.r, head[:8]); err != nil {
		if n == 0 && err == io.EOF {
			return io.EOF
		}
		return fmt.Errorf("%w: pcapng block header cut short", ErrFormat)
	}
	typ := binary.LittleEndian.Uint32(head[0:4]) // the section type reads the same both ways
	hlen := 8
	if typ == ngBlockSection {
		if _, err := io.ReadFull(g.r, head[8:12]); err != nil {
			return fmt.Errorf("%w: pcapng section header cut short", ErrFormat)
		}
		hlen = 12
		switch {
		case binary.LittleEndian.Uint32(head[8:12]) == ngByteOrderMagic:
			g.order = binary.LittleEndian
		case binary.BigEndian.Uint32(head[8:12]) == ngByteOrderMagic:
			g.order = binary.BigEndian
		default:
			return fmt.Errorf("%w: pcapng byte-order magic %x", ErrFormat, head[8:12])
		}
	}
	if g.order == nil {
		return fmt.Errorf("%w: pcapng block before the section header", ErrFormat)
	}
	typ = g.order.Uint32(head[0:4])
	total := g.order.Uint32(head[4:8])
	if total < ngMinBlockBytes || total%4 != 0 || total > ngMaxBlockBytes || int(total) < hlen {
		return fmt.Errorf("%w: pcapng block length %d", ErrFormat, total)
	}
	if cap(g.block) < int(total) {
		g.block = make([]byte, total)
	}
	b := g.block[:total]
	copy(b, head[:hlen])
	if _, err := io.ReadFull(g.r, b[hlen:]); err != nil {
		return fmt.Errorf("%w: pcapng block of %d bytes cut short", ErrFormat, total)
	}
	if trailer := g.order.Uint32(b[total-4:]); trailer != total {
		return fmt.Errorf("%w: pcapng block length %d, trailer says %d", ErrFormat, total, trailer)
	}
	if err := g.check(typ, b); err != nil {
		return err
	}
	g.pending = b
	return nil
}

// check validates the fields of one block that NgReader relies on.
func (g *ngGuard) check(typ uint32, b []byte) error {
	n := len(b)
	switch typ {
	case ngBlockSection:
		if n < ngSectionFixedLen+4 {
			return fmt.Errorf("%w: pcapng section header of %d bytes", ErrFormat, n)
		}
		return g.checkOptions(b[ngSectionFixedLen:n-4], false)
	case ngBlockInterface:
		if n < ngInterfaceFixed+4 {
			return fmt.Errorf("%w: pcapng interface block of %d bytes", ErrFormat, n)
		}
		return g.checkOptions(b[ngInterfaceFixed:n-4], true)
	case ngBlockStatistics:
		if n < ngStatisticsFixed+4 {
			return fmt.Errorf("%w: pcapng statistics block of %d bytes", ErrFormat, n)
		}
		return g.checkOptions(b[ngStatisticsFixed:n-4], false)
	case ngBlockEnhanced, ngBlockPacket:
		if n < ngEnhancedFixedLen {
			return fmt.Errorf("%w: pcapng packet block of %d bytes", ErrFormat, n)
		}
		if caplen := g.order.Uint32(b[20:24]); caplen > uint32(n-ngEnhancedFixedLen) {
			return fmt.Errorf("%w: pcapng packet of %d bytes in a %d-byte block", ErrFormat, caplen, n)
		}
	case ngBlockSimple:
		if n < ngSimpleFixedLen {
			return fmt.Errorf("%w: pcapng simple packet block of %d bytes", ErrFormat, n)
		}
		// NgReader takes the original length as the captured length; a
		// snaplen-cut simple packet block is refused here.
		if orig := g.order.Uint32(b[8:12]); orig > uint32(n-ngSimpleFixedLen) {
			return fmt.Errorf("%w: pcapng simple packet of %d bytes in a %d-byte block", ErrFormat, orig, n)
		}
	}
	return nil
}

// checkOptions walks an option list: every option must fit in the block, and
// an interface's timestamp resolution must be one byte giving a divisor that
// fits in 64 bits (10^19 and 2^63 are the largest).
func (g *ngGuard) checkOptions(opts []byte, iface bool) error {
	for len(opts) >= 4 {
		code := g.order.Uint16(opts[0:2])
		olen := int(g.order.Uint16(opts[2:4]))
		if code == ngOptionEnd {
			return nil
		}
		padded := (olen + 3) &^ 3
		if padded > len(opts)-4 {
			return fmt.Errorf("%w: pcapng option %d of %d bytes overruns its block", ErrFormat, code, olen)
		}
		value := opts[4 : 4+olen]
		if iface && code == ngOptionTSResol {
			// NgReader reads value[0] even from an empty option, where it
			// holds the previous option's bytes.
			if olen != 1 {
				return fmt.Errorf("%w: pcapng timestamp resolution option of %d bytes", ErrFormat, olen)
			}
			exp, binaryBase := value[0]&0x7f, value[0]&0x80 != 0
			if (binaryBase && exp > 63) || (!binaryBase && exp > 19) {
				return fmt.Errorf("%w: pcapng timestamp resolution %#x", ErrFormat, value[0])
			}
		}
		opts = opts[4+padded:]
	}
	return nil
}
