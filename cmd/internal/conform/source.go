package conform

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/govent/govent/cmd/internal/link"
	"github.com/govent/govent/wire"
)

// Where the suite's connections come from, how fast they are opened, and
// what the target's refusals and silences say about it.
//
// Deployed servents limit how often one address may connect: gtk-gnutella
// (src/core/ban.c) bans an address (the whole address, IPv4 or IPv6, not
// its /24) that opens more than 2 Gnutella connections a minute, or sends
// more than 5 HTTP requests, for 5 minutes at first, and takes one
// Gnutella connection per address at a time (src/core/nodes.c, "409
// Already connected"). The suite opens hundreds. Against a target on
// loopback every connection comes from an address of its own in
// 127.0.0.0/8, so no per-address rule ever triggers. Elsewhere the user
// may name several local addresses (Config.Sources) and space the
// connections from each (Config.Pace); a refusal that says we connect too
// often skips the case instead of failing it, and a target that stops
// answering handshakes ends the run's remaining cases at once instead of
// costing each a timeout.

// spreadBase and spreadBits are the block of 127.0.0.0/8 loopback sources
// come from: 127.64.0.0/10, away from 127.0.0.1 and the 127.0.1.1 some
// systems give their host name.
var spreadBase = netip.AddrFrom4([4]byte{127, 64, 0, 0})

const spreadBits = 22

// spreadStride steps through the block so that consecutive sources differ
// in their last three bytes (a target that bans a whole /24 does not
// catch the next one). It is odd, so the walk visits every address.
const spreadStride = 0x010101

// silentLimit is how many handshakes in a row may go unanswered before
// the target is taken as no longer answering.
const silentLimit = 2

// sources hands out the local address of each connection and keeps what
// the target did to them.
type sources struct {
	mu   sync.Mutex
	pace time.Duration
	// spread: a fresh loopback address per connection, starting at a
	// random point of the block.
	spread     bool
	spreadNext uint32
	// fixed are the user's addresses, or one entry with an invalid
	// address (the system's choice), used in turn.
	fixed []*source
	turn  int
	// fellBack: spreading was turned off because this system would not
	// bind the loopback block.
	fellBack bool
	seen     map[netip.Addr]*source // every address used, for bans and pacing

	silent int    // standard handshakes in a row that got no answer
	gone   string // why the target is taken as gone; set once
}

// source is one local address and what happened to it.
type source struct {
	addr   netip.Addr // invalid: the system picks
	next   time.Time  // no connection from it before this (pacing)
	banned string     // the refusal that banned it; "" while not
}

func (s *source) String() string {
	if !s.addr.IsValid() {
		return "our address"
	}
	return s.addr.String()
}

// newSources picks the sources for target: the user's, or spread over
// loopback for a loopback IPv4 target, or the system's choice.
func newSources(target netip.AddrPort, user []netip.Addr, pace time.Duration) *sources {
	s := &sources{pace: pace, seen: map[netip.Addr]*source{}}
	for _, a := range user {
		s.fixed = append(s.fixed, &source{addr: a.Unmap()})
	}
	if len(s.fixed) > 0 {
		return s
	}
	if a := target.Addr().Unmap(); a.Is4() && a.IsLoopback() {
		var b [4]byte
		_, _ = rand.Read(b[:])
		s.spread, s.spreadNext = true, binary.BigEndian.Uint32(b[:])
	}
	s.fixed = []*source{{}}
	return s
}

// describe says where connections come from, for the report.
func (s *sources) describe() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spread {
		return "a fresh loopback address per connection (127.64.0.0/10)"
	}
	if s.fellBack {
		return "one address (the system's choice): this system would not bind other loopback addresses"
	}
	if len(s.fixed) == 1 && !s.fixed[0].addr.IsValid() {
		return "one address (the system's choice)"
	}
	names := make([]string, len(s.fixed))
	for i, f := range s.fixed {
		names[i] = f.String()
	}
	return strings.Join(names, ", ")
}

// count is how many addresses connections are spread over (0: as many
// as there are connections).
func (s *sources) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spread {
		return 0
	}
	return len(s.fixed)
}

// gateError is a connection the suite did not open: the target is gone,
// or every address we could use is banned. The case is skipped.
type gateError struct{ reason string }

func (e *gateError) Error() string { return "not connecting: " + e.reason }

// acquire returns the source of the next connection, waiting as the pace
// asks (the time waited is returned, so the case's time limit can be
// extended by it).
func (s *sources) acquire(ctx context.Context) (*source, time.Duration, error) {
	s.mu.Lock()
	if s.gone != "" {
		defer s.mu.Unlock()
		return nil, 0, &gateError{reason: s.gone}
	}
	var src *source
	if s.spread {
		src = s.fresh()
	} else {
		// The usable source that may connect soonest.
		for i := range s.fixed {
			f := s.fixed[(s.turn+i)%len(s.fixed)]
			if f.banned == "" && (src == nil || f.next.Before(src.next)) {
				src = f
			}
		}
		if src == nil {
			defer s.mu.Unlock()
			return nil, 0, &gateError{reason: s.allBanned()}
		}
		s.turn++
	}
	now := time.Now()
	wait := src.next.Sub(now)
	if wait < 0 {
		wait = 0
	}
	src.next = now.Add(wait + s.pace)
	s.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, wait, ctx.Err()
		}
	}
	return src, wait, nil
}

// fresh returns the next unused loopback address. Called locked.
func (s *sources) fresh() *source {
	for {
		off := s.spreadNext & (1<<spreadBits - 1)
		s.spreadNext += spreadStride
		b := spreadBase.As4()
		v := binary.BigEndian.Uint32(b[:]) | off
		binary.BigEndian.PutUint32(b[:], v)
		if b[3] == 0 || b[3] == 255 {
			continue
		}
		a := netip.AddrFrom4(b)
		if _, used := s.seen[a]; used {
			continue
		}
		src := &source{addr: a}
		s.seen[a] = src
		return src
	}
}

// spreading reports whether each connection gets a fresh address.
func (s *sources) spreading() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spread
}

// noSpread falls back to the system's choice of address, when this
// system does not let us bind the loopback block.
func (s *sources) noSpread() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spread, s.fellBack = false, true
}

func (s *sources) allBanned() string {
	var b strings.Builder
	for i, f := range s.fixed {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", f, f.banned)
	}
	return "the target refuses every address we connect from (" + b.String() + "); " + banHint
}

// banHint says what the user can do about a target that limits us.
const banHint = "rerun later with --pace (gtk-gnutella takes one Gnutella connection every 30s from an address), " +
	"or name more local addresses with --source"

// dialed records how a connection attempt from src ended before any
// handshake: a target that refuses TCP connections, or does not take
// them within the timeout, is gone or silent.
func (s *sources) dialed(src *source, caseID string, err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		s.setGone(fmt.Sprintf("the target stopped taking TCP connections (in %s: %v)", caseID, err))
	case isTimeout(err):
		s.silence(src, caseID)
	}
}

// answered records the first block the target sent on l (or the lack of
// one) and says why the case cannot be judged, if so: the target refused
// us for connecting too often, or stayed silent to an address it banned.
// standard is set for the suite's own well-formed CONNECTs, the only
// handshakes whose silence says the target stopped answering.
func (s *sources) answered(l *link.Link, standard bool, caseID string) string {
	h, read, err := l.Greeting()
	if !read {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.byConn(l.Conn)
	if err != nil {
		if src != nil && src.banned != "" {
			return fmt.Sprintf("the target banned %s earlier (%s) and now says nothing to it; %s", src, src.banned, banHint)
		}
		if standard && isTimeout(err) {
			s.silence(src, caseID)
		}
		return ""
	}
	if standard {
		s.silent = 0
	}
	why, limited := rateLimit(h)
	if !limited {
		return ""
	}
	if src == nil {
		return fmt.Sprintf("the target refused us for connecting too often (%s); %s", why, banHint)
	}
	if src.banned == "" {
		src.banned = fmt.Sprintf("%s in %s", why, caseID)
	}
	return fmt.Sprintf("the target refused %s for connecting too often (%s); %s", src, why, banHint)
}

// byConn finds the source a connection came from. Called locked.
func (s *sources) byConn(nc net.Conn) *source {
	ta, ok := nc.LocalAddr().(*net.TCPAddr)
	if !ok {
		return nil
	}
	a := ta.AddrPort().Addr().Unmap()
	if src, ok := s.seen[a]; ok {
		return src
	}
	for _, f := range s.fixed {
		if !f.addr.IsValid() || f.addr == a {
			return f
		}
	}
	return nil
}

// silence counts a handshake the target did not answer. Called locked.
func (s *sources) silence(src *source, caseID string) {
	if src != nil && src.banned != "" {
		return
	}
	s.silent++
	if s.silent >= silentLimit {
		s.setGone(fmt.Sprintf("the target stopped answering: %d connections in a row got no handshake answer (the last in %s); "+
			"a servent that banned our address answers nothing, as gtk-gnutella does after its 429", s.silent, caseID))
	}
}

func (s *sources) setGone(why string) {
	if s.gone == "" {
		s.gone = why
	}
}

// goneReason is why the target is taken as gone ("" while it is not).
func (s *sources) goneReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gone
}

// bans lists the sources the target banned, for the report.
func (s *sources) bans() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, f := range s.fixed {
		if f.banned != "" {
			out = append(out, fmt.Sprintf("%s: %s", f, f.banned))
		}
	}
	for _, f := range s.seen {
		if f.banned != "" {
			out = append(out, fmt.Sprintf("%s: %s", f, f.banned))
		}
	}
	return out
}

// rateLimit reports whether a refusal says we connect too often: a 429
// (RFC 6585 Too Many Requests, gtk-gnutella's "Banned for 5m 0s"), or any
// refusal whose reason speaks of a ban or of hammering.
func rateLimit(h *wire.Handshake) (string, bool) {
	f := strings.SplitN(h.StartLine, " ", 3)
	if len(f) < 2 || !(strings.HasPrefix(f[0], "GNUTELLA/") || strings.HasPrefix(f[0], "HTTP/")) {
		return "", false
	}
	reason := ""
	if len(f) == 3 {
		reason = strings.ToLower(f[2])
	}
	if f[1] == "429" {
		return fmt.Sprintf("%q", h.StartLine), true
	}
	if f[1] == "200" || f[1] == "206" {
		return "", false
	}
	for _, w := range strings.FieldsFunc(reason, func(r rune) bool { return !unicode.IsLetter(r) }) {
		if w == "ban" || w == "banned" || w == "bans" || strings.HasPrefix(w, "hammer") || strings.HasPrefix(w, "throttl") {
			return fmt.Sprintf("%q", h.StartLine), true
		}
	}
	for _, p := range []string{"too frequent", "too many requests", "rate limit", "rate-limit"} {
		if strings.Contains(reason, p) {
			return fmt.Sprintf("%q", h.StartLine), true
		}
	}
	return "", false
}

// perAddress reports whether a refusal is about how many connections our
// address holds: gtk-gnutella's "409 Already connected" (one Gnutella
// link per address), our servent's "503 Too Many Connections From Your
// Address", and the like. It is no ban: a case with fewer links at once
// could connect.
func perAddress(h *wire.Handshake) bool {
	f := strings.SplitN(h.StartLine, " ", 3)
	if len(f) < 2 || !(strings.HasPrefix(f[0], "GNUTELLA/") || strings.HasPrefix(f[0], "HTTP/")) || f[1] == "200" {
		return false
	}
	if f[1] == "409" {
		return true
	}
	reason := ""
	if len(f) == 3 {
		reason = strings.ToLower(f[2])
	}
	for _, p := range []string{"from your address", "from your host", "from your ip", "per address", "per ip", "per host", "already connected"} {
		if strings.Contains(reason, p) {
			return true
		}
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
