// Package conform is Govent's conformance suite for Gnutella servents: the
// numbered cases, each tied to a sentence of a spec, the runner that plays
// them against a live servent, and the text, JSON and JUnit reports.
//
// It follows summerwind/h2spec: one file per area of the protocol, a group
// per area, and per case a Desc (what we send), the spec's own Requirement
// sentence with its MUST or SHOULD, and a Run that talks to the servent
// through scripted connections (package link) and decides with a few
// verifiers that wait with a timeout (verify.go).
//
// Cases open fresh connections of their own, several when they watch
// forwarding (send on one, observe the others). They never wait out a
// timeout to prove that something did not happen: they send a sentinel
// that must be forwarded after the thing that must not, on the same link,
// and stop when the sentinel arrives. Only the servent named by the user is
// contacted; Push and download cases listen for its callback on the address
// that reaches it. Each connection comes from a source address of the
// run's choosing (source.go): a fresh loopback address for a loopback
// target, so that no servent's per-address limits trip, or the user's, at
// the user's pace. A refusal about our address, or a target that stops
// answering, skips the cases it concerns instead of failing them.
package conform

import (
	"fmt"
	"strings"
	"time"
)

// Severity is how strongly the spec words a requirement.
type Severity int

const (
	// Must: MUST, MUST NOT, REQUIRED, SHALL (or a definition the protocol
	// cannot work without). A failure makes the run fail.
	Must Severity = iota
	// Should: SHOULD, RECOMMENDED, or deployed practice where the specs are
	// silent. A failure is reported but the run still passes.
	Should
)

func (s Severity) String() string {
	if s == Must {
		return "MUST"
	}
	return "SHOULD"
}

// Role is the role a case needs the target to play; as a run option it
// says which roles' cases to run.
type Role int

const (
	// Both: a case for any servent; as an option, run every case and skip
	// those whose role the target does not play.
	Both Role = iota
	// Ultrapeer: the target routes for others (forwarding, QRP for leaves).
	Ultrapeer
	// Leaf: the target is a shielded leaf.
	Leaf
)

func (r Role) String() string {
	switch r {
	case Ultrapeer:
		return "ultrapeer"
	case Leaf:
		return "leaf"
	}
	return "both"
}

// ParseRole reads "ultrapeer", "leaf" or "both".
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "both", "":
		return Both, nil
	case "ultrapeer":
		return Ultrapeer, nil
	case "leaf":
		return Leaf, nil
	}
	return 0, fmt.Errorf("conform: unknown role %q (want ultrapeer, leaf or both)", s)
}

// Spec names the document and section a case checks.
type Spec struct {
	Doc     string // a key of Documents
	Section string // "2.2.7.1", or a section title where the document has no numbers
}

func (s Spec) String() string {
	if s.Section == "" {
		return s.Doc
	}
	return s.Doc + " §" + s.Section
}

// The documents cases cite, and where to read them.
const (
	Gnutella04    = "Gnutella 0.4"
	Gnutella06    = "Gnutella 0.6"
	Handshake06   = "Handshaking 0.6"
	Ultrapeers    = "Ultrapeers"
	UltrapeerQRP  = "Ultrapeer QRP 0.1"
	QRP           = "QRP"
	HUGE          = "HUGE 0.94"
	Bye           = "Bye"
	Compression   = "Compression"
	DynamicQuery  = "Dynamic Querying 0.1"
	VendorMessage = "Vendor Messages 0.1"
	RFC9110       = "RFC 9110"
	GTKG          = "gtk-gnutella"
)

// Documents says where each cited document lives.
var Documents = []struct{ Name, Where string }{
	{Gnutella04, "RickCarlino/gnutella-bun-client docs/Gnutella-0.4-spec.md (Clip2 rev 1.6, annotated)"},
	{Gnutella06, "RickCarlino/gnutella-bun-client docs/Gnutella-0.6-spec.txt (GDF draft, June 2002)"},
	{Handshake06, "gtk-gnutella/gtk-gnutella doc/gnutella/handshaking_0.6"},
	{Ultrapeers, "gtk-gnutella/gtk-gnutella doc/gnutella/ultra-peers"},
	{UltrapeerQRP, "gtk-gnutella/gtk-gnutella doc/gnutella/ultrapeer_qrp"},
	{QRP, "gtk-gnutella/gtk-gnutella doc/gnutella/QRP"},
	{HUGE, "gtk-gnutella/gtk-gnutella doc/gnutella/huge"},
	{Bye, "gtk-gnutella/gtk-gnutella doc/gnutella/bye"},
	{Compression, "gtk-gnutella/gtk-gnutella doc/gnutella/compression"},
	{DynamicQuery, "gtk-gnutella/gtk-gnutella doc/gnutella/dynamic_query"},
	{VendorMessage, "gtk-gnutella/gtk-gnutella doc/gnutella/vendor_msg"},
	{RFC9110, "RFC 9110, HTTP Semantics (ranges: section 14)"},
	{GTKG, "gtk-gnutella's source, where the specs are silent (the case says so)"},
}

// Case is one conformance check.
type Case struct {
	// ID is "group/N", N counting from 1 in the group's order. The suite
	// sets it.
	ID string
	// Title is one line: what must hold.
	Title string
	// Desc is what the case sends.
	Desc string
	// Requirement is the spec's own sentence, quoted (shortened with "...").
	Requirement string
	Severity    Severity
	Spec        Spec
	// Role is the role the target must play for the case to apply.
	Role Role
	// Conns is how many connections the case opens to the target at
	// most (a paced run's plan counts them); zero means one.
	Conns int
	// Departures are what deployed servents are known to do instead,
	// where they depart from the requirement: one line each, naming the
	// servent, its version and where its source does it.
	Departures []string
	// Run plays the case. It returns nil on success, a skip (T.Skipf) when
	// the case does not apply, anything else on failure.
	Run func(t *T) error
}

// Group is the cases of one area of the protocol.
type Group struct {
	Key   string // the id prefix: "handshake", "route", ...
	Title string
	Cases []*Case
}

// Suite returns every group with its cases numbered. Each call builds new
// values, so callers may keep them.
func Suite() []*Group {
	groups := []*Group{
		handshakeGroup(),
		framingGroup(),
		pingGroup(),
		routeGroup(),
		pushGroup(),
		byeGroup(),
		qrpGroup(),
		hitGroup(),
		deflateGroup(),
		httpGroup(),
		vendorGroup(),
	}
	for _, g := range groups {
		for i, c := range g.Cases {
			c.ID = fmt.Sprintf("%s/%d", g.Key, i+1)
		}
	}
	return groups
}

// Select returns the cases a run plays, in suite order: those named by
// only (every case when empty) minus those named by skip, and minus the
// other role's cases when role is not Both. Names are case ids
// ("route/7") or group keys ("route"); an unknown name is an error.
func Select(groups []*Group, only, skip []string, role Role) ([]*Case, error) {
	match := func(names []string) (func(*Group, *Case) bool, error) {
		known := map[string]bool{}
		for _, g := range groups {
			known[g.Key] = true
			for _, c := range g.Cases {
				known[c.ID] = true
			}
		}
		set := map[string]bool{}
		for _, n := range names {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if !known[n] {
				return nil, fmt.Errorf("conform: no case or group %q (see --list)", n)
			}
			set[n] = true
		}
		return func(g *Group, c *Case) bool { return set[g.Key] || set[c.ID] }, nil
	}
	onlyM, err := match(only)
	if err != nil {
		return nil, err
	}
	skipM, err := match(skip)
	if err != nil {
		return nil, err
	}
	anyOnly := false
	for _, n := range only {
		anyOnly = anyOnly || strings.TrimSpace(n) != ""
	}
	var out []*Case
	for _, g := range groups {
		for _, c := range g.Cases {
			if anyOnly && !onlyM(g, c) || skipM(g, c) {
				continue
			}
			if role != Both && c.Role != Both && c.Role != role {
				continue
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// conns is how many connections c opens at most.
func (c *Case) conns() int { return max(c.Conns, 1) }

// Plan returns how many connections the cases open at most (with the
// role check and the search for --query), and how long pacing alone
// makes the run at most: one connection every pace from each of n source
// addresses (n zero: a fresh address per connection, never waiting).
func Plan(cases []*Case, pace time.Duration, n int) (int, time.Duration) {
	total := 2
	for _, c := range cases {
		total += c.conns()
	}
	if pace <= 0 || n <= 0 {
		return total, 0
	}
	rounds := (total + n - 1) / n
	return total, time.Duration(rounds-1) * pace
}

// groupOf returns the group key of a case id.
func groupOf(id string) string {
	g, _, _ := strings.Cut(id, "/")
	return g
}
