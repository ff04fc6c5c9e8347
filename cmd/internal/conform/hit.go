package conform

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"

	"github.com/govent/govent/cmd/internal/link"
	"github.com/govent/govent/wire"
)

// QueryHit content (Gnutella 0.4 section 3.2.4, 0.6 sections 2.2.6 and
// 2.2.7.3, HUGE section 4): the target's answer to a Query for --query.

func hitGroup() *Group {
	return &Group{Key: "hit", Title: "QueryHit content", Cases: []*Case{
		{
			Title:       "a QueryHit carries the Query's GUID",
			Desc:        "Connects as an ultrapeer and sends a Query for --query (TTL 1, hops 2, asking for urns); reads the first QueryHit.",
			Requirement: `Query Hit messages MUST have the same Message ID as the Query message it is sent in reply to.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.7.3"},
			Run: func(t *T) error {
				q, m, err := ownHit(t)
				if err != nil {
					return err
				}
				if m.Header.GUID != q.Header.GUID {
					return t.Failf("GUID "+q.Header.GUID.String(), "%s", m.Header.GUID)
				}
				return nil
			},
		},
		{
			Title:       "a QueryHit holds as many results as its hit count says",
			Desc:        "As hit/1, and decodes the QueryHit: count, results, trailer, servent GUID.",
			Requirement: `Number of Hits: The number of query hits in the Result Set field (see below).`,
			Severity:    Must, Spec: Spec{Gnutella04, "3.2.4"},
			Run: func(t *T) error {
				_, m, err := ownHitRaw(t)
				if err != nil {
					return err
				}
				if m.err != nil {
					return t.Failf("a QueryHit that decodes", "%s: %v", link.Summary(m.msg), m.err)
				}
				return nil
			},
		},
		{
			Title:       "results carry urn:sha1 when the Query asks for urns",
			Desc:        `As hit/1 (the Query carries the generic "urn:" extension); looks for a urn:sha1 on every result.`,
			Requirement: `When answering a Query which includes such URN requests, a remote servent SHOULD include any URNs it can provide that meet the request.`,
			Severity:    Should, Spec: Spec{HUGE, "4"},
			Run: func(t *T) error {
				_, m, err := ownHit(t)
				if err != nil {
					return err
				}
				for _, r := range m.QueryHit.Results {
					if _, ok := r.Ext.SHA1(); !ok {
						return t.Failf("a urn:sha1 on every result", "none on %q", r.Name)
					}
				}
				return nil
			},
		},
		{
			Title:       "a QueryHit has a QHD trailer",
			Desc:        "As hit/1, and looks for the vendor code and flags between the results and the servent GUID.",
			Requirement: `RECOMMENDED extra block. This block is not required, but strongly recommended.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.2.6"},
			Run: func(t *T) error {
				_, m, err := ownHit(t)
				if err != nil {
					return err
				}
				if !m.QueryHit.HasQHD {
					return t.Failf("a QHD trailer", "%d trailer bytes that are not one", len(m.QueryHit.Trailer))
				}
				t.Notef("vendor %q", m.QueryHit.QHD.Vendor[:])
				return nil
			},
		},
		{
			Title:       "the QHD flags leave reserved bits clear and set flagGGEP only with a GGEP block",
			Desc:        "As hit/1, and reads the two QHD flag bytes and the private data.",
			Requirement: `The reserved flags MUST not be set, unless they are used for a future extension. ... flagGGEP is set is set if and only if the private data block (see below) contains a GGEP block.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.6"},
			Run: func(t *T) error {
				_, m, err := ownHit(t)
				if err != nil {
					return err
				}
				qh := &m.QueryHit
				if !qh.HasQHD || len(qh.QHD.Open) < 2 {
					return t.Skipf("no QHD flags (see hit/4)")
				}
				const reserved = 0xC2 // bits 7, 6 and 1
				if b0, b1 := qh.QHD.Open[0], qh.QHD.Open[1]; b0&reserved != 0 || b1&reserved != 0 {
					return t.Failf("reserved bits 7, 6 and 1 clear", "flag bytes %08b %08b", b0, b1)
				}
				if set, known := qh.QHD.GGEPFlag(); known {
					has := len(qh.QHD.GGEP.Extensions) > 0
					if set != has {
						return t.Failf("flagGGEP set exactly when the private data holds a GGEP block",
							"flagGGEP %v, GGEP block %v (%d private bytes)", set, has, len(qh.QHD.Private))
					}
				}
				return nil
			},
		},
		{
			Title:       "the servent GUID is the same in every QueryHit",
			Desc:        "As hit/1, and compares the servent GUID with the one in the QueryHit the run's search found.",
			Requirement: `This SHOULD be constant for all Query Hit messages emitted by a servent`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.2.6"},
			Run: func(t *T) error {
				hit, err := t.Hit()
				if err != nil {
					return err
				}
				_, m, err := ownHit(t)
				if err != nil {
					return err
				}
				if g := m.QueryHit.ServentGUID; g != hit.ServentGUID {
					return t.Failf("servent GUID "+hit.ServentGUID.String()+" again", "%s", g)
				}
				return nil
			},
		},
		{
			Title:       "every result has all the words searched",
			Desc:        "As hit/1, and looks for each word of --query in each result's name.",
			Requirement: `The Search Criteria is a string of keywords. A servent SHOULD only respond with files that has all the keywords.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.2.7.3"},
			Run: func(t *T) error {
				_, m, err := ownHit(t)
				if err != nil {
					return err
				}
				words := keywords(t.cfg.Query)
				for _, r := range m.QueryHit.Results {
					name := strings.ToLower(string(r.Name))
					for _, w := range words {
						if !strings.Contains(name, w) {
							return t.Failf(fmt.Sprintf("results named with every word of %q", t.cfg.Query), "%q lacks %q", r.Name, w)
						}
					}
				}
				return nil
			},
		},
		{
			Title:       "a QueryHit starts with hops 0 and a TTL of at least the Query's hops",
			Desc:        "As hit/1 (the Query arrives with hops 2) and reads the QueryHit's header.",
			Requirement: `The TTL value MUST be at least the hops value of the corresponding query, and the initial hops value of the Query Hit message MUST (as usual) be set to 0.`,
			Severity:    Must, Spec: Spec{Gnutella06, "2.2.7.3"},
			Run: func(t *T) error {
				q, m, err := ownHit(t)
				if err != nil {
					return err
				}
				if m.Header.Hops != 0 || m.Header.TTL < q.Header.Hops {
					return t.Failf(fmt.Sprintf("hops 0 and TTL of at least %d", q.Header.Hops), "TTL %d, hops %d", m.Header.TTL, m.Header.Hops)
				}
				return nil
			},
		},
		{
			Title:       "a QueryHit names an address and port, unless it asks for a Push",
			Desc:        "As hit/1, and reads the IP, port and QHD push flag.",
			Requirement: `Port. The port number on which the responding host can accept incoming HTTP file requests.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.2.6"},
			Run: func(t *T) error {
				_, m, err := ownHit(t)
				if err != nil {
					return err
				}
				qh := &m.QueryHit
				if push, _ := qh.QHD.Push(); qh.HasQHD && push {
					t.Notef("firewalled: the hit asks for a Push")
					return nil
				}
				if ap := qh.AddrPort(); !connectable(ap, netip.AddrPort{}) {
					return t.Failf("a unicast IP and a non-zero port", "%s", ap)
				}
				return nil
			},
		},
		{
			Title:       "a Query by urn:sha1 finds the file",
			Desc:        "Sends a Query with empty criteria and the shared file's urn:sha1 as its extension; reads the first QueryHit.",
			Requirement: `When answering a Query message, a servent SHOULD return any file matching any of the included URNs, or matching the traditional search string, if present.`,
			Severity:    Should, Spec: Spec{HUGE, "4"},
			Run: func(t *T) error {
				hit, err := urnHit(t)
				if err != nil {
					return err
				}
				l, err := t.Ultrapeer()
				if err != nil {
					return err
				}
				q := newQuery("", 1, 0, false)
				q.Query.Ext = wire.ExtArea{Blocks: []wire.ExtBlock{wire.NewSHA1Block(hit.SHA1)}}
				if err := l.Send(q); err != nil {
					return err
				}
				m, err := expect(t, l, "a QueryHit for "+hit.SHA1.String(), isReplyTo(q, wire.TypeQueryHit))
				if err != nil {
					return err
				}
				for _, r := range m.QueryHit.Results {
					if d, ok := r.Ext.SHA1(); ok && d == hit.SHA1 {
						return nil
					}
				}
				return t.Failf("a result with "+hit.SHA1.String(), "%s", link.Summary(m))
			},
		},
		{
			Title:       "a Query of a single letter is not answered",
			Desc:        "Sends a Query for the first letter of the shared file's name, then one for --query; the first QueryHit must answer the second.",
			Requirement: `Empty queries or queries containing only 1-letter words SHOULD be ignored.`,
			Severity:    Should, Spec: Spec{Gnutella06, "2.2.7.3"},
			Run: func(t *T) error {
				hit, err := t.Hit()
				if err != nil {
					return err
				}
				letter := ""
				for _, r := range strings.ToLower(hit.Name) {
					if unicode.IsLetter(r) || unicode.IsDigit(r) {
						letter = string(r)
						break
					}
				}
				if letter == "" {
					return t.Skipf("the name %q has no letter", hit.Name)
				}
				l, err := t.Ultrapeer()
				if err != nil {
					return err
				}
				short, real := newQuery(letter, 1, 0, true), newQuery(t.cfg.Query, 1, 0, true)
				if err := l.Send(short, real); err != nil {
					return err
				}
				return expectNotBefore(t, l, fmt.Sprintf("a QueryHit for %q", letter), isReplyTo(short, wire.TypeQueryHit), isReplyTo(real, wire.TypeQueryHit))
			},
		},
	}}
}

// received is a descriptor with its decode error.
type received struct {
	msg *wire.Message
	err error
}

// ownHitRaw sends a Query for --query on a fresh ultrapeer link (TTL 1,
// hops 2, asking for urns) and returns the first QueryHit, decoded or not.
func ownHitRaw(t *T) (*wire.Message, received, error) {
	if _, err := t.Hit(); err != nil {
		return nil, received{}, err
	}
	l, err := t.Ultrapeer()
	if err != nil {
		return nil, received{}, err
	}
	q := newQuery(t.cfg.Query, 1, 2, true)
	if err := l.Send(q); err != nil {
		return nil, received{}, err
	}
	for {
		r, err := l.Next(t.Timeout())
		if err != nil {
			return nil, received{}, &Failure{Expected: "a QueryHit for --query " + fmt.Sprintf("%q", t.cfg.Query), Got: err.Error()}
		}
		if r.Msg.Header.Type == wire.TypeQueryHit {
			return q, received{msg: r.Msg, err: r.Err}, nil
		}
	}
}

// ownHit is ownHitRaw for cases that read a QueryHit's fields: one that
// does not decode skips them (hit/2 fails it).
func ownHit(t *T) (*wire.Message, *wire.Message, error) {
	q, r, err := ownHitRaw(t)
	if err != nil {
		return nil, nil, err
	}
	if r.err != nil {
		return nil, nil, t.Skipf("the QueryHit does not decode (see hit/2)")
	}
	return q, r.msg, nil
}

// keywords splits a query into lower-case words of letters and digits.
func keywords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}
