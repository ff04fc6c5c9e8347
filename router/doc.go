// Package router decides where every Gnutella descriptor goes. It owns no
// sockets: the servent hands it (from-peer, header, payload) and delivers what
// it decides.
//
// The router owns:
//   - the routing decision for each payload type: Ping and Query flood to every
//     peer but the sender; Pong and QueryHit follow the reverse path of their
//     request; Push follows the servent GUID learnt from QueryHits; Bye, QRP,
//     vendor and HSEP messages are link-level and never forwarded; unknown
//     types are dropped;
//   - the GUID tables behind those decisions: Ping routes and Query routes
//     (descriptor GUID -> peer it came from, which doubles as duplicate
//     suppression), Push routes (servent GUID -> peer the QueryHit came from)
//     and seen Pushes. Each is sharded, bounded with an LRU
//     (github.com/hashicorp/golang-lru/v2) and expires entries a fixed time
//     after insertion;
//   - the TTL and hops rules: invalid and over-limit descriptors, trimming,
//     the hop adjustment before forwarding;
//   - the role hooks: a leaf forwards nothing, and an ultrapeer forwards a
//     Query to a leaf (or, on the last hop, to an ultrapeer) only when the
//     servent's QueryFilter says its query route table matches;
//   - the QRP query route table itself (qrt.go), which backs that filter;
//   - counters per decision and per drop reason.
//
// Peers are opaque PeerIDs handed out by AddPeer. A PeerID carries a
// generation number, so removing (or removing and re-adding) a peer kills
// every route through it at once, without scanning any table: a route names
// a PeerID, and a PeerID that is no longer live routes nowhere.
package router
