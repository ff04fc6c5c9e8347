package capture

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/govent/govent/wire"
)

// TLS in captures. Gnutella links go TLS two ways (gtk-gnutella's
// doc/gnutella/gnet-TLS-upgrade): a connection opens with a TLS record
// (KindTLS), or a 0.6 handshake ends with "Connection: Upgrade" on both
// sides and each side's bytes after its last block are TLS records. Without
// the keys only the record layer and the hellos can be read; TLSInfo says
// what they show.

// TLS record content types (RFC 8446, 5.1).
const (
	tlsChangeCipherSpec = 20
	tlsAlert            = 21
	tlsHandshake        = 22
	tlsApplicationData  = 23
)

// TLS handshake message types and the extension that names versions.
const (
	tlsClientHello       = 1
	tlsServerHello       = 2
	tlsSupportedVersions = 43
)

// maxTLSRecord is the largest record payload TLS allows (2^14 plus the
// expansion room of RFC 8446, 5.2).
const maxTLSRecord = 1<<14 + 256

// TLSInfo is what the record layer of one TLS direction shows.
type TLSInfo struct {
	Records int // complete records
	Bytes   int // their bytes, headers included
	// Hello is "ClientHello" or "ServerHello" when the first record holds
	// one, else "".
	Hello string
	// Version is the version a ServerHello chose (its supported_versions
	// extension, else its legacy version) or the highest a ClientHello
	// offers.
	Version uint16
	// CipherSuite is the suite a ServerHello chose; CipherSuites those a
	// ClientHello offers.
	CipherSuite  uint16
	CipherSuites []uint16
	// Err says why the records could not all be read: one cut short by the
	// end of the capture, or bytes that are no TLS record.
	Err error
}

// String sums the records up in one line.
func (t *TLSInfo) String() string {
	var b strings.Builder
	if t.Hello != "" {
		fmt.Fprintf(&b, "%s %s", t.Hello, tls.VersionName(t.Version))
		if t.Hello == "ServerHello" {
			fmt.Fprintf(&b, " %s", tls.CipherSuiteName(t.CipherSuite))
		} else {
			fmt.Fprintf(&b, " (%d cipher suites)", len(t.CipherSuites))
		}
		b.WriteString(", ")
	}
	fmt.Fprintf(&b, "%d records, %d bytes, encrypted", t.Records, t.Bytes)
	return b.String()
}

// isTLSRecord reports whether b starts with the header of a TLS record:
// a content type TLS defines and a 3.x version. No Gnutella, HTTP or GIV
// stream starts so (their first bytes are ASCII letters), which is how
// gtk-gnutella's listener tells them apart as well.
func isTLSRecord(b []byte) bool {
	return len(b) >= 5 && b[0] >= tlsChangeCipherSpec && b[0] <= tlsApplicationData && b[1] == 3 && b[2] <= 4
}

// upgradedToTLS reports whether the bytes after a 0.6 handshake are TLS:
// the sender said "Connection: Upgrade" in its block and TLS records follow.
// Both are needed: an acceptor that offers the switch keeps talking plain
// Gnutella when the dialer does not take it up.
func upgradedToTLS(heads []*wire.Handshake, rest []byte) bool {
	if !isTLSRecord(rest) {
		return false
	}
	for _, h := range heads {
		if h.HasToken("Connection", "Upgrade") {
			return true
		}
	}
	return false
}

// ReadTLS walks the TLS records of b, one direction of a connection, and
// reads the hello in the first one.
func ReadTLS(b []byte) *TLSInfo {
	t := &TLSInfo{}
	for off := 0; off < len(b); {
		if !isTLSRecord(b[off:]) {
			if len(b)-off < 5 {
				t.Err = fmt.Errorf("%w: TLS record header cut short at offset %d", wire.ErrTruncated, off)
			} else {
				t.Err = fmt.Errorf("no TLS record at offset %d", off)
			}
			return t
		}
		n := int(binary.BigEndian.Uint16(b[off+3:]))
		if n > maxTLSRecord {
			t.Err = fmt.Errorf("TLS record of %d bytes at offset %d is over the limit", n, off)
			return t
		}
		if off+5+n > len(b) {
			t.Err = fmt.Errorf("%w: TLS record at offset %d cut short", wire.ErrTruncated, off)
			return t
		}
		if t.Records == 0 && b[off] == tlsHandshake {
			t.readHello(b[off+5 : off+5+n])
		}
		t.Records++
		t.Bytes += 5 + n
		off += 5 + n
	}
	return t
}

// readHello reads a ClientHello or ServerHello (RFC 8446, 4.1.2 and 4.1.3)
// from the first record. A hello it cannot read is left out: the records
// are still counted.
func (t *TLSInfo) readHello(rec []byte) {
	if len(rec) < 4 {
		return
	}
	typ := rec[0]
	n := int(rec[1])<<16 | int(rec[2])<<8 | int(rec[3])
	if n > len(rec)-4 {
		return // a hello spread over several records: not read
	}
	r := &helloReader{b: rec[4 : 4+n]}
	legacy := r.u16()
	r.skip(32) // random
	r.skip(int(r.u8()))
	var suites []uint16
	switch typ {
	case tlsClientHello:
		for s := r.sub(int(r.u16())); s.ok() && len(s.b) >= 2; {
			suites = append(suites, s.u16())
		}
		r.skip(int(r.u8())) // compression methods
	case tlsServerHello:
		suites = []uint16{r.u16()}
		r.skip(1)
	default:
		return
	}
	version := legacy
	// Extensions are optional (a TLS 1.2 ServerHello may have none).
	ext := &helloReader{}
	if r.ok() && len(r.b) > 0 {
		ext = r.sub(int(r.u16()))
	}
	for ext.ok() && len(ext.b) >= 4 {
		et, body := ext.u16(), ext.sub(int(ext.u16()))
		if et != tlsSupportedVersions {
			continue
		}
		if typ == tlsServerHello {
			version = body.u16()
			continue
		}
		for l := body.sub(int(body.u8())); l.ok() && len(l.b) >= 2; {
			version = max(version, l.u16())
		}
	}
	if !r.ok() {
		return
	}
	t.Version = version
	if typ == tlsServerHello {
		t.Hello, t.CipherSuite = "ServerHello", suites[0]
	} else {
		t.Hello, t.CipherSuites = "ClientHello", suites
	}
}

// helloReader reads big-endian fields. A read past the end gives zeros
// and sets bad, so that a parse reads on without checks and looks at bad
// once.
type helloReader struct {
	b   []byte
	bad bool
}

func (r *helloReader) ok() bool { return !r.bad }

// take returns the next n bytes, or nil past the end.
func (r *helloReader) take(n int) []byte {
	if n > len(r.b) {
		r.bad, r.b = true, nil
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *helloReader) u8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *helloReader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *helloReader) skip(n int) { r.take(n) }

// sub takes the next n bytes as a reader of their own.
func (r *helloReader) sub(n int) *helloReader {
	b := r.take(n)
	return &helloReader{b: b, bad: b == nil && n > 0}
}
