package router

import (
	"sync"
	"time"
)

// The thresholds of automatic promotion, after gtk-gnutella's ultra-peers
// document.
const (
	// DefaultPromoteAfter is the uptime gtk-gnutella asks before a leaf
	// may become an ultrapeer: a node that has stayed up that long is
	// likely to stay up, and its leaves with it.
	DefaultPromoteAfter = 10 * time.Minute
	// UltrapeerMinKBps is the upload bandwidth (KiB/s) a leaf needs to
	// become an ultrapeer: 30 leaves and a few ultrapeers take about that
	// much in Query and QueryHit traffic.
	UltrapeerMinKBps = 64
	// DemotedHold is how long a demoted ultrapeer stays a leaf before it
	// may be promoted again, doubled at each further demotion up to
	// MaxDemotedHold: every switch closes every link, and a node promoted
	// again at once would flap between the roles. gtk-gnutella waits 30
	// minutes doubled per demotion (an hour after the first), at most 17
	// hours.
	DemotedHold    = time.Hour
	MaxDemotedHold = 17 * time.Hour
)

// roleSwitches remembers the demotions, for the hold after each.
type roleSwitches struct {
	mu        sync.Mutex
	demotions int   // how many times SetRole turned us from ultrapeer to leaf
	demoted   int64 // when it last did (router time, ns)
}

// SetRole changes the node's role, as an auto-mode servent does when
// AutoRole says so. Routing follows at once; the links made in the old
// role keep the kinds they were added with, so the caller renegotiates
// them (the servent closes them all). A change from ultrapeer to leaf is a
// demotion: AutoRole holds the node a leaf for a while after it.
func (r *Router) SetRole(role Role) {
	r.switches.mu.Lock()
	defer r.switches.mu.Unlock()
	if Role(r.role.Swap(uint32(role))) == RoleUltrapeer && role == RoleLeaf {
		r.switches.demotions++
		r.switches.demoted = r.now()
	}
}

// demotedHold is how long after the last demotion promotion must wait:
// zero before any.
func (r *Router) demotedHold() (hold time.Duration, since time.Duration) {
	r.switches.mu.Lock()
	defer r.switches.mu.Unlock()
	n := r.switches.demotions
	if n == 0 {
		return 0, 0
	}
	hold = DemotedHold
	for i := 1; i < n && hold < MaxDemotedHold; i++ {
		hold *= 2
	}
	return min(hold, MaxDemotedHold), time.Duration(r.now() - r.switches.demoted)
}

// RoleFacts are what the servent knows of itself and its links when an
// auto-mode node reconsiders its role (AutoRole). The router measures none
// of them: they come from the servent's configuration, its clock and its
// connection registry.
type RoleFacts struct {
	// Uptime is how long the servent has been running.
	Uptime time.Duration
	// Firewalled: connections from outside cannot reach us (configured
	// so, or we do not listen).
	Firewalled bool
	// UploadKBps is our upload bandwidth in KiB/s, as the user configured
	// it.
	UploadKBps int
	// Leaves is how many leaves we serve.
	Leaves int
	// Ultrapeers is how many of our neighbours said X-Ultrapeer: True, and
	// UltrapeersNeeding how many of those did not say X-Ultrapeer-Needed:
	// False (a missing header means they still want ultrapeers).
	Ultrapeers, UltrapeersNeeding int
}

// AutoRole decides, for an auto-mode node, the role it should have now:
// its current one, or the other when the criteria say so. The caller
// applies a change with SetRole and renegotiates its links.
//
// A leaf is promoted when it has been up Config.PromoteAfter, is not
// firewalled (leaves must be able to reach it) and has UltrapeerMinKBps of
// upload bandwidth: the criteria of gtk-gnutella's ultra-peers document
// that a servent can judge of itself. One that was demoted must also have
// been a leaf for the hold since (DemotedHold, doubled at each demotion
// after the first, at most MaxDemotedHold). An ultrapeer is demoted when
// it serves no leaf and has ultrapeer neighbours, every one of which says
// it needs no more ultrapeers: it costs the network a hop and gives
// nothing.
func (r *Router) AutoRole(f RoleFacts) Role {
	role := r.Role()
	switch {
	case role == RoleLeaf && r.canPromote(f):
		return RoleUltrapeer
	case role == RoleUltrapeer && shouldDemote(f):
		return RoleLeaf
	}
	return role
}

func (r *Router) canPromote(f RoleFacts) bool {
	if f.Firewalled || f.Uptime < r.cfg.PromoteAfter || f.UploadKBps < UltrapeerMinKBps {
		return false
	}
	hold, since := r.demotedHold()
	return since >= hold
}

func shouldDemote(f RoleFacts) bool {
	return f.Leaves == 0 && f.Ultrapeers > 0 && f.UltrapeersNeeding == 0
}
