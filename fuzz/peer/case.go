package peer

import (
	"fmt"
	"strings"
)

// Area is a part of the target the fuzzer aims at; each has its own case
// generator.
type Area string

// The target areas, in the order cases rotate through them.
const (
	AreaHandshake  Area = "handshake"  // the 0.6 (and 0.4) handshake blocks
	AreaDescriptor Area = "descriptor" // descriptor headers and payloads
	AreaGGEP       Area = "ggep"       // GGEP blocks inside descriptors
	AreaQRP        Area = "qrp"        // QRP RESET/PATCH sequences
	AreaHTTP       Area = "http"       // upload requests: request line, Range, headers
	AreaGIV        Area = "giv"        // GIV lines (push answers)
	AreaDeflate    Area = "deflate"    // the compressed descriptor stream we send
)

// AllAreas lists every area.
var AllAreas = []Area{AreaHandshake, AreaDescriptor, AreaGGEP, AreaQRP, AreaHTTP, AreaGIV, AreaDeflate}

// ParseAreas reads a comma-separated list of areas ("all" or empty: every
// area).
func ParseAreas(s string) ([]Area, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return append([]Area(nil), AllAreas...), nil
	}
	var out []Area
	seen := map[Area]bool{}
	for part := range strings.SplitSeq(s, ",") {
		a := Area(strings.ToLower(strings.TrimSpace(part)))
		known := false
		for _, k := range AllAreas {
			known = known || k == a
		}
		if !known {
			return nil, fmt.Errorf("unknown area %q: want all, or some of %s", part, joinAreas(AllAreas))
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}

func joinAreas(as []Area) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, ",")
}

// Proto says how a connection's answer is read.
type Proto string

// Protocols of a case connection.
const (
	ProtoGnutella Proto = "gnutella" // handshake blocks, then descriptors
	ProtoHTTP     Proto = "http"     // an HTTP status line
	ProtoGIV      Proto = "giv"      // whatever follows a GIV: an HTTP request, a close
)

// Step is one thing done on a connection, in order.
type Step struct {
	// Send is written as one write. encoding/json writes it as base64.
	Send []byte `json:"send,omitempty"`
	// Await is AwaitBlock: read one handshake block before going on.
	Await string `json:"await,omitempty"`
}

// AwaitBlock is the Step.Await that reads one handshake block.
const AwaitBlock = "block"

// Mutation says what a generator changed in the valid traffic it started
// from: the field parsers trust (queryhit.count, ggep.length, ...) and how.
type Mutation struct {
	Field  string `json:"field"`
	Op     string `json:"op"`
	Detail string `json:"detail,omitempty"`
}

func (m Mutation) String() string {
	if m.Detail == "" {
		return m.Field + ":" + m.Op
	}
	return m.Field + ":" + m.Op + " (" + m.Detail + ")"
}

// Case is one test case: one fresh connection and what is sent on it. A
// case is complete before its connection is opened, and nothing in it
// depends on what the target answers, so sending it again sends the same
// bytes.
type Case struct {
	Index     uint64     `json:"index"`
	Area      Area       `json:"area"`
	Mutations []Mutation `json:"mutations"`
	Proto     Proto      `json:"proto"`
	Steps     []Step     `json:"steps"`
	// Probe is the GUID (hex) of the Ping that ends a Gnutella case: its
	// Pong says the target read everything before it, so the case need not
	// wait out a silence.
	Probe string `json:"probe,omitempty"`
}

// Field is the field the case is filed under: its first structural
// mutation, else its first byte-level one.
func (c *Case) Field() string {
	for _, m := range c.Mutations {
		if !strings.HasPrefix(m.Field, bytesField) {
			return m.Field
		}
	}
	if len(c.Mutations) > 0 {
		return c.Mutations[0].Field
	}
	return string(c.Area) + ".valid"
}

// Bytes is how many bytes the case sends.
func (c *Case) Bytes() int {
	n := 0
	for _, s := range c.Steps {
		n += len(s.Send)
	}
	return n
}

// clone copies the case deeply enough that the minimiser may change its
// steps.
func (c *Case) clone() Case {
	d := *c
	d.Mutations = append([]Mutation(nil), c.Mutations...)
	d.Steps = make([]Step, len(c.Steps))
	for i, s := range c.Steps {
		d.Steps[i] = Step{Send: append([]byte(nil), s.Send...), Await: s.Await}
	}
	return d
}
