// Package servent is Govent's composition root: it owns the listener (one
// port for Gnutella connects, HTTP and GIV, told apart by their first bytes),
// the 0.6 and 0.4 handshakes, each connection's lifecycle (a reader and a
// writer goroutine with tied lifetimes, a flow-controlled send queue,
// keepalive Pings on a timer, Bye and the drain after it), whom it dials
// and how it retries them (dialer.go: configured peers for as long as it
// runs), the pong cache, and the glue between the router (where
// descriptors go), the shared library (what we answer), the host cache (whom
// we may dial) and httpxfer (how files move). It also owns the servent's role
// (ultrapeer, leaf or auto, roles.go), query routing tables (qrp.go),
// dynamic querying of leaves' Queries (dynquery.go) and vendor messages
// (vendor.go).
//
// Subpackages own the self-contained parts: library (shared files, SHA-1
// cache, keyword matching), hostcache (known hosts, backoff, persistence),
// sendq (the priority send queue) and memnet (an in-memory network for
// tests and simulations, see Config.Network). Link compression is
// wire/linkzip's.
package servent
