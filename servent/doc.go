// Package servent is Govent's composition root: it owns the connections and
// their registry, and delivers what the router decides. It owns the listener
// (one port for Gnutella connects, HTTP and GIV, told apart by their first
// bytes), the 0.6 and 0.4 handshakes and admission, TLS on links and on the
// listening port as gtk-gnutella does it (tls.go: the "Upgrade: TLS/1.0"
// switch, TLS from the first byte, the self-signed certificate), each
// connection (conn.go: one conn owns its send queue, its reader and its
// writer, goroutines with tied lifetimes; keepalive Pings on a timer, Bye
// and the drain after it; the input budget that reads a link only as fast
// as the queues it feeds drain), whom it dials and how it retries them (dialer.go: configured peers
// for as long as it runs), the shared library (what we answer), the host
// cache (whom we may dial) and httpxfer (how files move).
//
// Every routing rule is the router's (package router): where a descriptor
// goes, the role and what each peer is in it, each peer's query route table,
// the pong-cache policy and the steps of dynamic querying. The servent asks
// and delivers: deliver.go hands descriptors to the router and queues its
// decisions, qrp.go builds and sends our own table, dynquery.go paces the
// router's dynamic-query steps, roles.go tells the router what an
// auto-mode servent knows of itself (router.AutoRole decides) and applies
// a role change, vendor.go speaks vendor messages.
//
// It also owns reachability for firewalled hosts: push proxies on both
// sides (pushproxy.go: LIME/21 and LIME/22, GGEP PUSH, X-Push-Proxy, the
// /gnutella/push-proxy endpoint, which sends a Push straight down the link
// of the leaf that asked, not along a route) and the relay that joins two
// firewalled hosts (relay.go: GOVT/1 and GOVT/2 slots, the splice of a
// downloader's RELAY connection to an uploader's GIV).
//
// What it tells its operator is its public API (Stats, Peers, Traffic,
// Uploads, RoutingTables) and its log, rate-limited (ratelog.go, through
// servent/internal/ratelimit, which servent/control logs through too);
// servent/control, a tool on top of the servent, serves both to a running
// daemon's clients.
//
// Beside the links, udp.go owns the one UDP socket on the listening port's
// number (Pings and Pongs, UDP host caches, per-source limits), oob.go
// out-of-band query replies on both sides, reach.go whether unsolicited UDP
// reaches us, and bootstrap.go asking host caches for hosts when we know
// none.
//
// It owns our own searches too (search.go: the Queries we send and their
// results streamed to the caller, re-searches, rank.go's order of
// results), our address as peers see it (selfaddr.go: taken only on a
// quorum of Remote-IP headers), the data directory, held by one servent
// at a time (datalock.go) with the servent GUID in it, and the Events that
// tools (the demo, netsim, workload) watch the servent by (events.go).
//
// Subpackages own the self-contained parts: library (shared files, SHA-1
// cache, keyword matching), hostcache (known hosts, backoff, persistence),
// sendq (the priority send queue), gwc (the GWebCache client) and memnet
// (an in-memory network, streams and datagrams, for tests and simulations,
// see Config.Network). Link compression is
// wire/linkzip's.
package servent
