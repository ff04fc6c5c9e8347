// Package peer is fuzz-peer: it fuzzes a live Gnutella servent over the
// network, without instrumenting it, and keeps what breaks it as
// replayable reproducers.
//
// It owns the case generators of each target area (handshake, descriptor,
// GGEP, QRP, HTTP, GIV, deflate), which start from valid traffic (our
// encoders in package wire and router, and the gtk-gnutella sessions
// compiled in from testdata/) and mutate the fields parsers trust, with
// byte-level flips, inserts, deletes and splices on top; the executor that
// runs each case on a fresh connection, bounded in bytes and time, and
// classifies the answer; the liveness oracle, a separate control
// connection (handshake, Ping/Pong, HTTP HEAD) after every N cases;
// reproducer files, their minimisation and their replay.
//
// Everything a case sends is fixed before its connection opens and is
// recorded (in memory, and in the output directory's journal) before it
// is sent; case i of a seed is the same whatever the target answered
// before. The fuzzer talks to the target only through sockets, and only to
// the one address it is given.
package peer
