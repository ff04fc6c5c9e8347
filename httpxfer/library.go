package httpxfer

import (
	"time"

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

// File is one shared file as the uploader sees it.
type File struct {
	Index   uint32    // the index QueryHits announce, used by /get/<index>/<name>
	Name    string    // the name QueryHits announce; /get/ must match it exactly
	Size    int64     // bytes; a file whose size on disk differs is not served
	SHA1    wire.SHA1 // zero while the file is not hashed yet
	TTH     wire.TTH  // its Tiger tree root, valid when HasTTH
	HasTTH  bool
	Path    string    // where to open it; never derived from a request
	ModTime time.Time // sent as Last-Modified
}

// Library is what the uploader needs from the servent's shared library. It
// is called concurrently from every upload connection.
type Library interface {
	ByIndex(i uint32) (File, bool)
	BySHA1(d wire.SHA1) (File, bool)
	// Tree returns the Tiger tree with that root, served at
	// /uri-res/N2X and announced by X-Thex-URI; false when not at hand.
	Tree(root wire.TTH) (*thex.Tree, bool)
}
