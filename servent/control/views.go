package control

import (
	"strings"
	"time"

	"github.com/govent/govent/servent"
	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/servent/library"
	"github.com/govent/govent/servent/sendq"
	"github.com/govent/govent/wire"
)

// The JSON documents of the API. The CLI decodes the same types.

// Status is GET /v1/status.
type Status struct {
	Role string `json:"role"` // "ultrapeer" or "leaf"
	GUID string `json:"guid"`
	Addr string `json:"addr"` // where the servent listens; "" when it does not
	// UDP is the UDP socket's address ("" without one); UDPReachable says
	// unsolicited UDP reaches it, so that our searches ask for
	// out-of-band replies.
	UDP          string    `json:"udp"`
	UDPReachable bool      `json:"udp_reachable"`
	UserAgent    string    `json:"user_agent"`
	StartedAt    time.Time `json:"started_at"`
	UptimeSec    float64   `json:"uptime_seconds"`
	Peers        int       `json:"peers"`
	// Ultrapeers and Leaves split Peers by the peer's role; Legacy are
	// neighbours that are neither (0.4 or unmarked 0.6).
	Ultrapeers int `json:"ultrapeers"`
	Leaves     int `json:"leaves"`
	Legacy     int `json:"legacy"`
	Hosts      int `json:"hosts"`        // in the host cache
	Files      int `json:"shared_files"` // shared
	Hashing    int `json:"hashing"`      // files still waiting for their SHA-1
	Searches   int `json:"searches"`     // streams open on this API
	Downloads  int `json:"downloads"`    // in the queue, in any state
	// DownloadStates splits Downloads by state (every one of QueueStates).
	DownloadStates map[string]int `json:"download_states,omitempty"`
	Uploads        int            `json:"uploads"` // upload slots in use
}

// Peer is one element of GET /v1/peers.
type Peer struct {
	Addr      string    `json:"addr"`
	Listen    string    `json:"listen,omitempty"`
	UserAgent string    `json:"user_agent"`
	Role      string    `json:"role"` // ultrapeer, leaf (our leaf) or legacy
	Outgoing  bool      `json:"outgoing"`
	Since     time.Time `json:"since"`
	AgeSec    float64   `json:"age_seconds"`
	// Descriptors and bytes received, by type (lower case: query, pong, ...).
	MessagesIn map[string]uint64 `json:"messages_in"`
	BytesIn    map[string]uint64 `json:"bytes_in"`
	// Descriptors and bytes sent, by send class.
	MessagesOut map[string]uint64 `json:"messages_out"`
	BytesOut    map[string]uint64 `json:"bytes_out"`
	// Drops of what we would have sent it, by reason (flow_control, ...),
	// and of what it sent us that went nowhere (unrouted) or did not parse.
	Drops map[string]uint64 `json:"drops"`
	// WireBytesOut is BytesOut's total as it went on the socket; the ratio
	// is WireBytesOut / the total (1 for an uncompressed link).
	WireBytesOut     uint64  `json:"wire_bytes_out"`
	CompressionRatio float64 `json:"compression_ratio"`
	FlowControl      bool    `json:"flow_control"`
	QueuedBytes      int     `json:"queued_bytes"`
}

// Shares is GET /v1/shares.
type Shares struct {
	Files      int          `json:"files"`
	Bytes      int64        `json:"bytes"`
	Hashed     int          `json:"hashed"`
	Pending    int          `json:"pending"` // waiting to be hashed
	Unreadable int          `json:"unreadable"`
	List       []SharedFile `json:"list"`
	Truncated  bool         `json:"truncated,omitempty"` // List holds only the first maxListed
}

// SharedFile is one shared file.
type SharedFile struct {
	Index uint32 `json:"index"`
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	URN   string `json:"urn,omitempty"` // "" while it is hashed
}

// Host is one element of GET /v1/hosts.
type Host struct {
	Addr        string    `json:"addr"`
	Source      string    `json:"source"`
	Ultrapeer   bool      `json:"ultrapeer"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
	Failures    int       `json:"failures"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// SearchRequest is the body of POST /v1/searches.
type SearchRequest struct {
	Query      string `json:"query"`
	TimeoutMS  int64  `json:"timeout_ms"`  // 0: DefaultSearchTimeout; at most MaxSearchTime
	MaxResults int    `json:"max_results"` // 0: MaxResults
}

// SearchLine is one line of a search's stream: a result, or the last line
// with Done set.
type SearchLine struct {
	Result *SearchResult `json:"result,omitempty"`
	Done   *SearchDone   `json:"done,omitempty"`
}

// SearchResult is one search result.
type SearchResult struct {
	N           int    `json:"n"` // 1-based, in arrival order
	Name        string `json:"name"`
	Size        uint64 `json:"size"`
	URN         string `json:"urn,omitempty"`
	Addr        string `json:"addr"`
	Index       uint32 `json:"index"`
	ServentGUID string `json:"servent_guid"`
	Vendor      string `json:"vendor,omitempty"`
	Push        bool   `json:"push"`
	Busy        bool   `json:"busy"`
	Hops        uint8  `json:"hops"`
	Via         string `json:"via"`
	Speed       uint32 `json:"speed_kbps"` // advertised
	// OOB: the hit came out of band, over UDP straight from the
	// responder (servent.Result.OOB).
	OOB         bool     `json:"oob"`
	PushProxies []string `json:"push_proxies,omitempty"`
	TTH         string   `json:"tth,omitempty"` // urn:tree:tiger/:<base32>
}

// SearchDone ends a search stream and says why.
type SearchDone struct {
	Results int    `json:"results"`
	Reason  string `json:"reason"` // max_results, timeout, idle or shutdown
	Dropped int    `json:"dropped"`
}

func roleOf(leaf bool) string {
	if leaf {
		return "leaf"
	}
	return "ultrapeer"
}

func peerRole(p servent.PeerInfo) string {
	switch {
	case p.Leaf:
		return "leaf"
	case p.Ultrapeer:
		return "ultrapeer"
	}
	return "legacy"
}

func typeName(t wire.PayloadType) string { return strings.ToLower(t.String()) }

func peerView(p servent.PeerInfo, now time.Time) Peer {
	pc := p.Counters
	v := Peer{
		Addr: p.Addr.String(), UserAgent: p.UserAgent, Role: peerRole(p), Outgoing: p.Outgoing,
		Since: p.Since, AgeSec: now.Sub(p.Since).Seconds(),
		MessagesIn: map[string]uint64{}, BytesIn: map[string]uint64{},
		MessagesOut: map[string]uint64{}, BytesOut: map[string]uint64{}, Drops: map[string]uint64{},
		WireBytesOut: pc.WireOut, FlowControl: pc.Out.FlowControl, QueuedBytes: pc.Out.PendingBytes,
		CompressionRatio: 1,
	}
	if p.Listen.IsValid() {
		v.Listen = p.Listen.String()
	}
	for t, n := range pc.InMessages {
		v.MessagesIn[typeName(t)] = n
		v.BytesIn[typeName(t)] = pc.InBytes[t]
	}
	for c := range pc.Out.Class {
		cs := &pc.Out.Class[c]
		if cs.Sent > 0 {
			v.MessagesOut[sendq.Class(c).String()] = cs.Sent
			v.BytesOut[sendq.Class(c).String()] = cs.SentBytes
		}
		for r, n := range cs.Dropped {
			if n > 0 {
				v.Drops[sendq.DropReason(r).String()] += n
			}
		}
	}
	if pc.Unrouted > 0 {
		v.Drops["unrouted"] = pc.Unrouted
	}
	if pc.Malformed > 0 {
		v.Drops["malformed"] = pc.Malformed
	}
	if pc.OutBytes > 0 {
		v.CompressionRatio = float64(pc.WireOut) / float64(pc.OutBytes)
	}
	return v
}

func sharedFile(f library.File) SharedFile {
	sf := SharedFile{Index: f.Index, Name: f.Name, Size: f.Size}
	if f.Hashed {
		sf.URN = f.SHA1.String()
	}
	return sf
}

func hostView(h hostcache.Host) Host {
	return Host{Addr: h.Addr.String(), Source: h.Source.String(), Ultrapeer: h.Ultrapeer,
		LastSeen: h.LastSeen, Failures: h.Failures, NextAttempt: h.NextAttempt}
}

// NewSearchResult is result n as search --json prints it, with --daemon
// (this stream) or without.
func NewSearchResult(n int, r servent.Result) SearchResult {
	v := SearchResult{N: n, Name: r.Name, Size: r.Size, Addr: r.Addr.String(), Index: r.Index,
		ServentGUID: r.ServentGUID.String(), Vendor: r.Vendor, Push: r.Push, Busy: r.Busy,
		Hops: r.Hops, Via: r.Via.String(), Speed: r.Speed, OOB: r.OOB}
	if r.HasSHA1 {
		v.URN = r.SHA1.String()
	}
	for _, p := range r.Proxies {
		v.PushProxies = append(v.PushProxies, p.String())
	}
	if r.HasTTH {
		v.TTH = r.TTH.String()
	}
	return v
}
