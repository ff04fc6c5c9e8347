package wire

// GGEP "H" carries a result's or a query's hash in binary instead of
// urn:sha1 text (gtk-gnutella's ggep_type.c, qhit.c; doc/gnutella/GGEP):
// a type byte and the digest. gtk-gnutella sends it, and then no urn text,
// to a querier whose flags say it reads it (QueryFlagGGEPH).
const (
	GGEPHashSHA1     = 0x01 // the SHA-1, 20 bytes
	GGEPHashBitprint = 0x02 // the SHA-1 and the Tiger tree root, 20+24 bytes
)

// GGEPHashID is the GGEP ID of the binary hash; GGEPTigerID is LimeWire's
// binary Tiger tree root ("TT", 24 bytes).
const (
	GGEPHashID  = "H"
	GGEPTigerID = "TT"
)

// URN returns the content digests the area names, the first of each kind
// winning: urn:sha1 text, other urn text (urn:bitprint, urn:tree:tiger,
// urn:ttroot), GGEP "H" (SHA-1 or bitprint) and GGEP "TT". A GGEP "H" of
// another type (MD5, UUID, MD4) or of the wrong length is passed over, as
// gtk-gnutella does.
func (a *ExtArea) URN() URN {
	var u URN
	merge := func(v URN) {
		if v.HasSHA1 && !u.HasSHA1 {
			u.SHA1, u.HasSHA1 = v.SHA1, true
		}
		if v.HasTTH && !u.HasTTH {
			u.TTH, u.HasTTH = v.TTH, true
		}
	}
	for i := range a.Blocks {
		b := &a.Blocks[i]
		switch b.Kind {
		case ExtSHA1:
			merge(URN{SHA1: b.SHA1, HasSHA1: true})
		case ExtURN:
			if v, err := ParseContentURN(b.Data); err == nil {
				merge(v)
			}
		case ExtGGEP:
			if e, ok := b.GGEP.Get(GGEPHashID); ok {
				if v, ok := parseGGEPHash(e); ok {
					merge(v)
				}
			}
			if e, ok := b.GGEP.Get(GGEPTigerID); ok {
				if d, err := e.Value(); err == nil && len(d) == TTHLen {
					merge(URN{TTH: TTH(d), HasTTH: true})
				}
			}
		}
	}
	return u
}

// parseGGEPHash reads a GGEP "H" value.
func parseGGEPHash(e GGEPExtension) (URN, bool) {
	d, err := e.Value()
	if err != nil || len(d) < 1 {
		return URN{}, false
	}
	var u URN
	switch {
	case d[0] == GGEPHashSHA1 && len(d) == 1+SHA1Len:
		u.SHA1, u.HasSHA1 = SHA1(d[1:]), true
	case d[0] == GGEPHashBitprint && len(d) == 1+SHA1Len+TTHLen:
		u.SHA1, u.HasSHA1 = SHA1(d[1:1+SHA1Len]), true
		u.TTH, u.HasTTH = TTH(d[1+SHA1Len:]), true
	default:
		return URN{}, false
	}
	return u, true
}

// NewGGEPHash returns the GGEP "H" extension for u, COBS-encoded as
// gtk-gnutella writes it: a bitprint when u has both digests, else the
// SHA-1. u must have a SHA-1.
func NewGGEPHash(u URN) (GGEPExtension, error) {
	v := make([]byte, 0, 1+SHA1Len+TTHLen)
	if u.HasTTH {
		v = append(v, GGEPHashBitprint)
		v = append(v, u.SHA1[:]...)
		v = append(v, u.TTH[:]...)
	} else {
		v = append(v, GGEPHashSHA1)
		v = append(v, u.SHA1[:]...)
	}
	return NewGGEPExtension(GGEPHashID, v, true, false)
}
