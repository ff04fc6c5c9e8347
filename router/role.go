package router

// Role is this node's place in the two-tier network (gtk-gnutella
// doc/gnutella/ultra-peers).
type Role uint8

const (
	// RoleUltrapeer routes for its neighbours and shields its leaves with
	// their query route tables.
	RoleUltrapeer Role = iota
	// RoleLeaf forwards nothing: it handles what is for it and sends its
	// ultrapeers its own table.
	RoleLeaf
)

func (r Role) String() string {
	if r == RoleLeaf {
		return "leaf"
	}
	return "ultrapeer"
}

// Role returns the node's current role.
func (r *Router) Role() Role { return Role(r.role.Load()) }

// Claim is what a peer's handshake says it is: X-Ultrapeer: True, False,
// or nothing (a plain 0.4 or 0.6 servent).
type Claim uint8

const (
	ClaimNone Claim = iota
	ClaimUltrapeer
	ClaimLeaf
)

// Admit says what a peer that makes claim is to us in our current role, or
// that we must not keep it (false): a leaf keeps ultrapeers only; an
// ultrapeer takes a leaf as its leaf, whoever dialled whom, and everyone
// else as a neighbour.
func (r *Router) Admit(claim Claim) (PeerKind, bool) {
	switch {
	case r.Role() == RoleLeaf:
		return Neighbour, claim == ClaimUltrapeer
	case claim == ClaimLeaf:
		return Leaf, true
	}
	return Neighbour, true
}
