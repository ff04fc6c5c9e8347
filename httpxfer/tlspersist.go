package httpxfer

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/govent/govent/httpxfer/smallfile"
)

// The TLS cache kept across restarts, as gtk-gnutella keeps its TLS cache
// in the file tls_cache of its configuration directory (src/core/
// ipp_cache.c): what a servent learnt of which hosts take TLS, and which
// failed it, is not lost when it stops. The file holds the same facts as
// the cache, under the same bounds: at most TLSHostsMax hosts, each
// forgotten TLSHostsTTL after the last word about it; as gtk-gnutella's
// loader, Load skips an entry that expired or is dated in the future.

// tlsHostsFormat is bumped when the file layout changes incompatibly.
const tlsHostsFormat = 1

// tlsEntryMax bounds one host's entry in the file (the longest address
// and time take some 110 bytes), and with it the file Load reads.
const tlsEntryMax = 256

type tlsHostsFile struct {
	Format int            `json:"format"`
	Hosts  []tlsHostEntry `json:"hosts"`
}

type tlsHostEntry struct {
	Addr    string    `json:"addr"`
	At      time.Time `json:"at"`
	Refused bool      `json:"refused,omitempty"`
}

// ErrTLSHostsFile is wrapped by Load's error for a file it cannot use.
var ErrTLSHostsFile = errors.New("bad TLS hosts file")

// Save writes what h knows to path, least recently told first, replacing
// the file atomically, unless the last Save wrote the same to path: the
// servent saves now and then while it runs. Entries past TLSHostsTTL are
// left out. Calls must not overlap for one path.
func (h *TLSHosts) Save(path string) error {
	if h == nil {
		return nil
	}
	f := tlsHostsFile{Format: tlsHostsFormat, Hosts: []tlsHostEntry{}}
	now := time.Now()
	for _, ap := range h.c.Keys() { // oldest first
		e, ok := h.c.Peek(ap)
		if !ok || now.Sub(e.at) > TLSHostsTTL {
			continue
		}
		f.Hosts = append(f.Hosts, tlsHostEntry{Addr: ap.String(), At: e.at, Refused: e.refused})
	}
	b, err := json.MarshalIndent(&f, "", "\t")
	if err != nil {
		return fmt.Errorf("saving TLS hosts: %w", err)
	}
	if _, err := h.saved.Write(path, b); err != nil {
		return fmt.Errorf("saving TLS hosts: %w", err)
	}
	return nil
}

// Load adds the hosts saved in path that have not expired, keeping what h
// was told since where it is newer. A missing file is no error. A file
// that does not parse, or is larger than TLSHostsMax entries make, is
// reported (wrapping ErrTLSHostsFile) and nothing of it is loaded. An
// entry dated in the future (a clock set back, a hand-made file) is
// dropped: it would never expire.
func (h *TLSHosts) Load(path string) error {
	if h == nil {
		return nil
	}
	var f tlsHostsFile
	if found, err := smallfile.ReadJSON(path, 4<<10+TLSHostsMax*tlsEntryMax, tlsHostsFormat, &f); !found {
		return nil
	} else if errors.Is(err, smallfile.ErrBad) {
		return fmt.Errorf("%w: %w", ErrTLSHostsFile, err)
	} else if err != nil {
		return fmt.Errorf("loading TLS hosts: %w", err)
	}
	type entry struct {
		ap netip.AddrPort
		e  tlsHost
	}
	entries := make([]entry, 0, len(f.Hosts))
	for _, fe := range f.Hosts {
		ap, err := netip.ParseAddrPort(fe.Addr)
		if err != nil || ap.Port() == 0 {
			return fmt.Errorf("%w %s: address %q", ErrTLSHostsFile, path, fe.Addr)
		}
		entries = append(entries, entry{unmapped(ap), tlsHost{at: fe.At, refused: fe.Refused}})
	}
	now := time.Now()
	for _, en := range entries {
		if age := now.Sub(en.e.at); age > TLSHostsTTL || age < 0 {
			continue
		}
		if cur, ok := h.c.Peek(en.ap); ok && !cur.at.Before(en.e.at) {
			continue
		}
		h.c.Add(en.ap, en.e)
	}
	return nil
}
