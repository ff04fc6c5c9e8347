// Package thex owns THEX, the Tree Hash EXchange format (Chapweske and
// Mohr) as gtk-gnutella speaks it: the Tiger tree hash of a file, a Merkle
// tree whose leaves are Tiger(0x00 || 1024-byte segment) and whose inner
// nodes are Tiger(0x01 || left || right), an odd node promoted unchanged to
// the level above; the empty file's root is Tiger(0x00).
//
// It builds a tree as the bytes of a file stream in (Builder), keeping only
// the levels down to the depth gtk-gnutella serves (at most 2048 nodes, so
// memory does not grow with the file); checks the bytes of a download
// chunk by chunk against a tree received from a peer (Tree.Verify,
// Checker); serializes a tree as gtk-gnutella serves it behind an
// X-Thex-URI, a DIME message of an XML record that describes the tree and
// a record of its levels breadth first (Tree.AppendDIME), and decodes such
// a message from a peer with bounded sizes, record counts and depth,
// refusing a tree that does not hash up to the root the caller expects
// (DecodeDIME); and reads and writes the X-Thex-URI header.
//
// Tiger itself is this package's: the compression function in Go
// (tiger_block.go, with the S-boxes made at init by the authors'
// procedure) and, on amd64, in assembly (tiger_amd64.s) that also hashes
// two leaves at once; a purego build tag selects the Go one there too.
// The tests run the published Tiger and THEX vectors, and compare every
// path with github.com/cxmcc/tiger (a test-only dependency) on random
// inputs. Like wire, it does no I/O and does not log.
package thex
