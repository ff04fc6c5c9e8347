// Package linkzip owns Gnutella link compression: the deflate stream that
// one direction of a connection carries after a handshake negotiated it
// (Accept-Encoding: deflate from the receiver, Content-Encoding: deflate
// from the sender; each direction is negotiated on its own).
//
// Its Reader is also the one inflater of everything else that is zlib on
// the wire, each with the one bomb guard (a ratio over a window, and the
// caller's bound on the output, ReaderConfig): QRP patches (router), GGEP
// values (wire), the descriptor streams of captures (wire/capture) and
// of browse host replies (httpxfer), and what servents under test send
// the tools (cmd/internal/link, fuzz/peer). Its Deflate and StreamWriter
// are likewise the one compressor of what we send as one finished zlib
// stream: QRP patches (router), GGEP values (wire) and browse host replies
// (httpxfer). It uses the standard library only, so wire itself may use
// it.
//
// Each direction is one zlib stream (RFC 1950 header, then deflate) that is
// never finished: every burst of messages ends with a sync flush (the empty
// stored block 00 00 ff ff) so the peer can inflate it at once, and the
// connection just closes at the end, without a final block or adler32.
// gtk-gnutella's streams start 68 81 (a 16 KiB window); compress/zlib reads
// them.
//
// Memory: Go's compress/flate writer allocates its hash chains as
// fixed-size arrays whatever the level: measured, 794 KiB at levels 2 to 9,
// 720 KiB Huffman-only and 1.2 MiB at level 1 (TestMemoryPerConnection). So
// a compressed outgoing direction costs about 800 KiB per connection, where
// gtk-gnutella's zlib spends about 32 KiB. An inflating reader costs 50 to
// 55 KiB, and borrows a shared 32 KiB buffer while it holds output the
// connection has not read yet. Deflate connections cost more memory than
// plain ones; the servent should therefore offer Content-Encoding on a
// bounded number of connections (leaves, whose query hits gain most) and
// may accept compressed input more freely.
//
// Deadlines: after a read deadline of the connection fires (a keepalive, a
// probe's patience), the Reader reads on, wherever in the stream it struck,
// unless inside a segment larger than its read buffer (see Reader).
package linkzip
