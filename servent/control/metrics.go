package control

import (
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/govent/govent/router"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/servent/sendq"
	"github.com/govent/govent/wire"
)

// collector reads the servent's own counters at scrape time: there is one
// set of counters (Servent.Stats, Traffic and Peers), not a second one kept
// for Prometheus.
type collector struct {
	s       *servent.Servent
	q       *Queue
	streams *atomic.Int32
}

func newCollector(s *servent.Servent, q *Queue, streams *atomic.Int32) *collector {
	return &collector{s: s, q: q, streams: streams}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("govent_"+name, help, labels, nil)
}

var (
	descRecv        = desc("descriptors_received_total", "Descriptors received, by payload type and transport (tcp: links; udp: the UDP socket).", "type", "transport")
	descRecvBytes   = desc("descriptors_received_bytes_total", "Descriptor bytes received (headers included), by payload type and transport.", "type", "transport")
	descSent        = desc("descriptors_sent_total", "Descriptors sent, by send class and transport (tcp: written to links; udp: sent on the UDP socket).", "type", "transport")
	descSentBytes   = desc("descriptors_sent_bytes_total", "Descriptor bytes sent, by send class and transport.", "type", "transport")
	descBytes       = desc("link_bytes_total", "Descriptor bytes over Gnutella links by direction, before compression.", "direction")
	descWireOut     = desc("link_wire_sent_bytes_total", "Bytes sent on Gnutella sockets, after compression.")
	descQueueDrops  = desc("send_queue_drops_total", "Descriptors the send queues did not send, by send class and reason.", "type", "reason")
	descRouteDrops  = desc("routing_drops_total", "Received descriptors the router dropped, by reason.", "reason")
	descForwarded   = desc("descriptors_forwarded_total", "Copies of routed descriptors queued for their targets.")
	descMalformed   = desc("descriptors_malformed_total", "Descriptors received that did not parse.")
	descTables      = desc("routing_table_entries", "Entries in the routing tables, by table.", "table")
	descConns       = desc("connections", "Established Gnutella connections, by the peer's role.", "role")
	descRefused     = desc("handshake_refusals_total", "Incoming connections refused, by reason.", "reason")
	descHSFailed    = desc("handshakes_failed_total", "Handshakes that failed (timeouts, bad blocks, refusals by the peer).")
	descHTTPRefused = desc("http_sessions_refused_total", "HTTP sessions answered 503 for being over the session limits.")
	descUploads     = desc("uploads_active", "Upload slots in use.")
	descDownloads   = desc("downloads", "Downloads in the daemon's queue, by state.", "state")
	descDLBytes     = desc("download_received_bytes", "Bytes received so far by the downloads in the queue.")
	descFiles       = desc("shared_files", "Files shared.")
	descShared      = desc("shared_bytes", "Total size of the shared files.")
	descHashing     = desc("shared_files_hashing", "Shared files waiting for their SHA-1.")
	descHosts       = desc("host_cache_entries", "Hosts in the host cache.")
	descStart       = desc("start_time_seconds", "When the servent started, in seconds since the Unix epoch.")
	descStreams     = desc("control_search_streams", "Search streams open on the control API.")
	descQueueRefuse = desc("routed_copies_refused_total", "Copies of routed descriptors their target's queue refused, or whose target had gone.")
	descAnswered    = desc("queries_answered_total", "Queries answered from our shared files.")
	descThrottled   = desc("pings_throttled_total", "Pings not answered for coming too soon after their link's last.")
	descInputWaits  = desc("input_waits_total", "Times a link's reader waited for the queues it feeds to drain.")
	descRouted      = desc("router_decisions_total", "Descriptors the router decided on, by outcome (one descriptor may be local and forwarded).", "outcome")
	descRouterSent  = desc("router_copies_total", "Copies of descriptors the router handed out for sending, one per target.")
	descQRP         = desc("qrp_events_total", "Query routing table events, by kind.", "kind")
	descDynQueries  = desc("dynamic_queries", "Leaf Queries being widened by dynamic querying now.")
	descHTTPEvicted = desc("http_sessions_evicted_total", "Idle HTTP keep-alive sessions closed to make room.")
	descPendEvicted = desc("pending_evicted_total", "Connections closed in their first phase to give their place to a newcomer.")
	descLeafEvicted = desc("useless_leaves_evicted_total", "Leaves that shared nothing for 5 minutes, closed to give their slot to a newcomer leaf.")
	descUDP         = desc("udp_datagrams_total", "Datagrams on the UDP socket, by direction.", "direction")
	descUDPDrops    = desc("udp_drops_total", "Datagrams received and dropped, by reason.", "reason")
	descUDPReach    = desc("udp_reachable", "1 when unsolicited UDP reaches us, so that our searches ask for out-of-band replies.")
	descOOB         = desc("oob_replies_total", "Out-of-band query reply events, as responder and as querier, by event.", "event")
)

var allDescs = []*prometheus.Desc{descRecv, descRecvBytes, descSent, descSentBytes, descBytes, descWireOut,
	descQueueDrops, descRouteDrops, descForwarded, descMalformed, descTables, descConns, descRefused,
	descHSFailed, descHTTPRefused, descUploads, descDownloads, descDLBytes, descFiles, descShared,
	descHashing, descHosts, descStart, descStreams, descQueueRefuse, descAnswered, descThrottled, descInputWaits,
	descRouted, descRouterSent, descQRP, descDynQueries, descHTTPEvicted, descPendEvicted, descLeafEvicted, descUDP, descUDPDrops, descUDPReach, descOOB}

// knownTypes are the payload types the servent reads.
var knownTypes = []wire.PayloadType{wire.TypePing, wire.TypePong, wire.TypeBye, wire.TypeQRP, wire.TypeVendor,
	wire.TypeStdVendor, wire.TypePush, wire.TypeQuery, wire.TypeQueryHit, wire.TypeHSEP}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// labelOf makes a reason name a label value: "no push route" -> "no_push_route".
func labelOf(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), " ", "_")
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	s := c.s
	tr := s.Traffic()
	// Every known type has its series from the start, at 0, so that a
	// rate over the first scrapes is right; unknown types appear once seen.
	in := map[wire.PayloadType]bool{}
	for _, t := range knownTypes {
		in[t] = true
	}
	for t := range tr.InMessages {
		in[t] = true
	}
	st := s.Stats()
	u := &st.UDP
	for t := range u.InMessages {
		in[t] = true
	}
	var inBytes uint64
	for t := range in {
		counter(descRecv, tr.InMessages[t], typeName(t), "tcp")
		counter(descRecvBytes, tr.InBytes[t], typeName(t), "tcp")
		counter(descRecv, u.InMessages[t], typeName(t), "udp")
		counter(descRecvBytes, u.InBytes[t], typeName(t), "udp")
		inBytes += tr.InBytes[t]
	}
	// UDP sends have no queue: they are counted by the class their type
	// would have on a link.
	var udpSent, udpSentBytes [sendq.NumClasses]uint64
	for t, n := range u.OutMessages {
		udpSent[sendq.ClassOf(t)] += n
		udpSentBytes[sendq.ClassOf(t)] += u.OutBytes[t]
	}
	for i := range tr.Out.Class {
		cs, class := &tr.Out.Class[i], sendq.Class(i).String()
		counter(descSent, cs.Sent, class, "tcp")
		counter(descSentBytes, cs.SentBytes, class, "tcp")
		counter(descSent, udpSent[i], class, "udp")
		counter(descSentBytes, udpSentBytes[i], class, "udp")
		for r, n := range cs.Dropped {
			counter(descQueueDrops, n, class, sendq.DropReason(r).String())
		}
	}
	counter(descUDP, u.In, "in")
	counter(descUDP, u.Out, "out")
	for reason, n := range map[string]uint64{"oversized": u.Oversized, "rate_limited": u.RateLimited, "malformed": u.Malformed, "ignored": u.Ignored} {
		counter(descUDPDrops, n, reason)
	}
	reachable := 0.0
	if u.Reachable {
		reachable = 1
	}
	gauge(descUDPReach, reachable)
	o := &u.OOB
	for event, n := range map[string]uint64{
		"offered": o.Offered, "claimed": o.Claimed, "hits_sent": o.HitsSent, "unclaimed": o.Unclaimed,
		"spurious_claims": o.SpuriousClaims, "forged_claims": o.ForgedClaims, "token_missing": o.TokenMissing,
		"offers": o.Offers, "claims_sent": o.ClaimsSent, "hits_received": o.HitsReceived, "hits_refused": o.HitsRefused,
	} {
		counter(descOOB, n, event)
	}
	counter(descBytes, inBytes, "in")
	counter(descBytes, tr.OutBytes, "out")
	counter(descWireOut, tr.WireOut)

	for r := router.DropReason(1); r < router.NumDropReasons; r++ {
		counter(descRouteDrops, st.Router.Dropped[r], labelOf(r.String()))
	}
	counter(descForwarded, st.Forwarded)
	counter(descQueueRefuse, st.QueueDrops)
	counter(descAnswered, st.Answered)
	counter(descThrottled, st.PingsThrottled)
	counter(descInputWaits, st.InputWaits)
	counter(descHTTPEvicted, st.EvictedHTTP)
	counter(descPendEvicted, st.EvictedPending)
	counter(descLeafEvicted, st.EvictedUselessLeaves)
	for outcome, n := range map[string]uint64{
		"forwarded": st.Router.Forwarded, "local": st.Router.Local, "trimmed": st.Router.Trimmed,
		"exhausted": st.Router.Exhausted, "originated": st.Router.Originated,
	} {
		counter(descRouted, n, outcome)
	}
	counter(descRouterSent, st.Router.Sent)
	for kind, n := range map[string]uint64{"over_budget": st.QRPOverBudget, "rejected": st.QRPRejected, "encoded": st.QRPEncoded} {
		counter(descQRP, n, kind)
	}
	gauge(descDynQueries, float64(st.DynamicQueries))
	counter(descMalformed, st.Malformed)
	counter(descHSFailed, st.HandshakeFailed)
	counter(descHTTPRefused, st.RefusedHTTP)
	for reason, n := range map[string]uint64{
		"full": st.RefusedFull, "role": st.RefusedRole, "pending": st.RefusedPending,
		"pending_per_ip": st.RefusedPendingPerIP, "per_ip": st.RefusedPerIP,
	} {
		counter(descRefused, n, reason)
	}

	ts := s.RoutingTables()
	gauge(descTables, float64(ts.Pings), "pings")
	gauge(descTables, float64(ts.Queries), "queries")
	gauge(descTables, float64(ts.PushRoutes), "push_routes")
	gauge(descTables, float64(ts.SeenPushes), "seen_pushes")

	roles := map[string]int{"ultrapeer": 0, "leaf": 0, "legacy": 0}
	for _, p := range s.Peers() {
		roles[peerRole(p)]++
	}
	for role, n := range roles {
		gauge(descConns, float64(n), role)
	}

	gauge(descUploads, float64(s.ActiveUploads()))
	if c.q != nil {
		dls := c.q.List()
		var done int64
		for _, d := range dls {
			done += d.Done
		}
		for state, n := range CountStates(dls) {
			gauge(descDownloads, float64(n), state)
		}
		gauge(descDLBytes, float64(done))
	}
	if lib := s.Library(); lib != nil {
		ls := lib.Stats()
		gauge(descFiles, float64(ls.Files))
		gauge(descShared, float64(ls.Bytes))
		gauge(descHashing, float64(ls.Pending))
	}
	gauge(descHosts, float64(len(s.Hosts().Hosts())))
	gauge(descStart, float64(s.StartedAt().UnixNano())/1e9)
	gauge(descStreams, float64(c.streams.Load()))
}
