// Package wire owns the Gnutella byte formats: the 23-byte descriptor header,
// every payload (Ping, Pong, Query, QueryHit, Push, Bye, QRP, vendor
// messages), GGEP blocks, HUGE urns, header blocks (the one parser of
// handshake blocks, HTTP heads and the blocks in captures) and the framed
// descriptor reader.
//
// It uses the standard library only (and wire/linkzip, the one inflater,
// which does too): no sockets, no logging. Parsers treat
// their input as hostile: every length is checked before it is used, nothing
// the peer sent sizes an allocation, and no input makes them panic. For every
// input that parses, appending the parsed value gives back the identical
// bytes, unknown extensions included.
//
// Integers are little-endian on the wire, except IPv4 addresses (network
// order) and the 0.6 Query flags word (big-endian).
package wire
