package servent

import (
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
)

// Mode is the servent's role in the two-tier network (gtk-gnutella
// doc/gnutella/ultra-peers).
type Mode uint8

const (
	// ModeUltrapeer accepts leaves and other ultrapeers, routes for them
	// and shields its leaves with their query route tables.
	ModeUltrapeer Mode = iota
	// ModeLeaf keeps a few ultrapeer connections, forwards nothing and
	// sends its ultrapeers its query route table.
	ModeLeaf
	// ModeAuto starts as a leaf and becomes an ultrapeer once it has been
	// up PromoteAfter, is not firewalled and has UploadKBps of at least
	// router.UltrapeerMinKBps (the bandwidth the user configured: we do
	// not measure it). An auto-promoted ultrapeer goes back to being a
	// leaf when it has no leaves and every ultrapeer neighbour says it
	// needs no more ultrapeers (X-Ultrapeer-Needed: False). The router
	// decides (router.AutoRole); each role change closes every connection
	// (Bye 200) and lets the servent reconnect in its new role.
	ModeAuto
)

// ParseMode reads "ultrapeer", "leaf" or "auto".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "ultrapeer", "":
		return ModeUltrapeer, nil
	case "leaf":
		return ModeLeaf, nil
	case "auto":
		return ModeAuto, nil
	}
	return 0, fmt.Errorf("unknown mode %q (want ultrapeer, leaf or auto)", s)
}

func (m Mode) String() string {
	switch m {
	case ModeUltrapeer:
		return "ultrapeer"
	case ModeLeaf:
		return "leaf"
	case ModeAuto:
		return "auto"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// slotKind says which connection budget a connection takes.
type slotKind uint8

const (
	// slotPeer: an ultrapeer (or plain 0.4/0.6) neighbour, out of MaxPeers;
	// for a leaf, one of its LeafUltrapeers ultrapeers.
	slotPeer slotKind = iota
	// slotLeaf: one of an ultrapeer's MaxLeaves leaves.
	slotLeaf
)

// IsLeaf reports whether the servent currently acts as a leaf: the
// router's role.
func (s *Servent) IsLeaf() bool { return s.router.Role() == router.RoleLeaf }

// slotLimit is how many connections of kind the current role allows.
func (s *Servent) slotLimit(kind slotKind) int {
	leaf := s.IsLeaf()
	switch {
	case kind == slotLeaf && leaf:
		return 0
	case kind == slotLeaf:
		return s.cfg.MaxLeaves
	case leaf:
		return s.cfg.LeafUltrapeers
	}
	return s.cfg.MaxPeers
}

// slotsFor returns the counter for kind; s.mu must be held.
func (s *Servent) slotsFor(kind slotKind) *int {
	if kind == slotLeaf {
		return &s.leafSlots
	}
	return &s.slots
}

// ultrapeerNeeded is what we say in X-Ultrapeer-Needed: we want more
// ultrapeer neighbours while we have fewer than the connections we keep up
// (Connections) or half of MaxPeers, whichever is more.
func (s *Servent) ultrapeerNeeded() bool {
	s.mu.Lock()
	n := 0
	for _, c := range s.conns {
		if c.kind == router.Neighbour {
			n++
		}
	}
	s.mu.Unlock()
	return n < max(s.cfg.Connections, s.cfg.MaxPeers/2, 1)
}

// autoRole has the router reconsider an auto-mode servent's role every
// RoleCheckInterval, and applies the change it decides.
func (s *Servent) autoRole() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.RoleCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-s.ctx.Done():
			return
		}
		if role := s.router.AutoRole(s.roleFacts()); role != s.router.Role() {
			s.switchRole(role)
		}
	}
}

// roleFacts are what the router's role decision needs to know of us.
func (s *Servent) roleFacts() router.RoleFacts {
	f := router.RoleFacts{
		Uptime:     time.Since(s.startedAt),
		Firewalled: s.cfg.Firewalled,
		UploadKBps: s.cfg.UploadKBps,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		switch {
		case c.kind == router.Leaf:
			f.Leaves++
		case c.peer.ultrapeer:
			f.Ultrapeers++
			if c.peer.ultrapeerNeeded {
				f.UltrapeersNeeding++
			}
		}
	}
	return f
}

// switchRole changes role and closes every connection, so that each is
// renegotiated in the new role by keepConnected and the peers.
func (s *Servent) switchRole(role router.Role) {
	s.mu.Lock()
	s.router.SetRole(role)
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.log.Info("changing role", zap.Stringer("role", role))
	for _, c := range conns {
		c.close(wire.ByeNormal, "Becoming "+role.String())
	}
}
