// Package fuzz holds the fuzz targets for every parser of govent: the wire
// codecs, the framed descriptor reader and handshake blocks, the router's QRP
// table receiver, the link-compression reader, the GIV line and the capture
// layer. Each target checks a round trip (decode, encode, compare the bytes,
// decode again, compare the values) or, for parsers without an encoder, that
// errors wrap the package's sentinels and output stays bounded.
//
// The seed corpora under testdata/fuzz/<Target>/ come from the golden vectors,
// the gtk-gnutella captures and our encoders (go run ./fuzz/internal/seedgen);
// `go test ./fuzz/` runs every seed, `make fuzz` fuzzes each target in turn.
package fuzz
