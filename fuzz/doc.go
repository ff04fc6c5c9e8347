// Package fuzz holds the fuzz targets for every parser of govent: the wire
// codecs (COBS, the UDP vendor messages of out-of-band replies, the
// push-proxy and relay bodies among them), the framed descriptor reader,
// the header-block parser under its handshake rules and its HTTP ones, the
// router's QRP table receiver, the link-compression reader, the GIV line,
// the alternate locations of the download mesh, the capture layer, content
// urns and magnet links, and the DIME message and X-Thex-URI header of THEX
// trees. Each target checks a round trip (decode, encode,
// compare the bytes, decode again, compare the values) or, for parsers
// without an encoder, that errors wrap the package's sentinels and output
// stays bounded.
//
// The seed corpora under testdata/fuzz/<Target>/ come from the golden vectors,
// the gtk-gnutella captures, the THEX trees a live gtk-gnutella served and
// our encoders (go run ./fuzz/internal/seedgen); `go test ./fuzz/` runs every
// seed, `make fuzz` fuzzes each target in turn.
package fuzz
