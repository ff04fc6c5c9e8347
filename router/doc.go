// Package router makes every routing decision of a Gnutella servent and
// owns the state behind them. It owns no sockets and calls nothing back:
// the servent hands it (from-peer, header, payload) and delivers what it
// decides.
//
// The router owns:
//   - the routing decision for each payload type: a Query floods to every
//     peer but the sender that should get it; a Ping is answered here and
//     never forwarded (pong caching); Pong and QueryHit follow the reverse
//     path of their request; Push follows the servent GUID learnt from
//     QueryHits; Bye, QRP, vendor and HSEP messages are link-level and never
//     forwarded; unknown types are dropped;
//   - the rules a header alone decides (Screen), applied before a payload is
//     decoded: a duplicate, a descriptor over the TTL limits, a Query from a
//     peer in flow control are dropped undecoded;
//   - the GUID tables behind those decisions: Ping routes and Query routes
//     (descriptor GUID -> peer it came from, which doubles as duplicate
//     suppression), Push routes (servent GUID -> peer the QueryHit came from)
//     and seen Pushes. Each is sharded, bounded with an LRU of its own
//     (lru.go: golang-lru's semantics, indexed by the hash that picked the
//     shard) and expires entries a fixed time after insertion, on a clock
//     that may be coarse (CoarseClock);
//   - the TTL and hops rules: invalid and over-limit descriptors, trimming,
//     the hop adjustment before forwarding;
//   - the node's role (ultrapeer or leaf, SetRole) and what each peer is to
//     us in it (Admit): a leaf forwards nothing and keeps ultrapeers only;
//     an ultrapeer takes leaves as its leaves whoever dialled; and when an
//     auto-mode node is promoted or demoted (AutoRole, from the facts the
//     servent reports), with the hold after a demotion that keeps it from
//     flapping;
//   - each peer's QRP query route table (SetQRT), matched by a Query's
//     keyword hashes taken once: a leaf gets a Query only when its table
//     matches, an ultrapeer on the Query's last hop only when its table (if
//     it sent one) matches; the union an ultrapeer sends its neighbours
//     (LeafUnion); building, patching and receiving tables (qrt*.go);
//   - dynamic querying of our leaves' Queries: the targets and TTL of each
//     step, and the results counted back (DynamicQuery);
//   - the pong-cache policy: which cached Pongs answer a Ping, and the
//     per-peer Ping throttle (AnswerPing);
//   - counters per decision and per drop reason, overall and per peer.
//
// Peers are opaque PeerIDs handed out by AddPeer. A PeerID carries a
// generation number, so removing (or removing and re-adding) a peer kills
// every route through it at once, without scanning any table: a route names
// a PeerID, and a PeerID that is no longer live routes nowhere.
package router
