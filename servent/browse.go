package servent

import (
	"context"
	"fmt"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent/library"
	"github.com/govent/govent/wire"
)

// browser lists the shared library for browse host (httpxfer.Browser):
// the QueryHits are the ones a Query gets, every file with its urn:sha1.
type browser struct{ s *Servent }

// SharedFiles implements httpxfer.Browser: the files a QueryHit can
// carry (hashed, under 4 GiB).
func (b browser) SharedFiles() []httpxfer.File {
	if b.s.lib == nil {
		return nil
	}
	var files []httpxfer.File
	for _, f := range b.s.lib.All() {
		if f.Hashed && f.Size < 1<<32 {
			files = append(files, toXferFile(f))
		}
	}
	return files
}

// QueryHit implements httpxfer.Browser. The GUID of a browse hit is ours
// to choose (the proposal): a fresh one.
func (b browser) QueryHit(files []httpxfer.File) ([]byte, error) {
	lf := make([]library.File, len(files))
	for i, f := range files {
		lf[i] = library.File{Index: f.Index, Name: f.Name, Size: f.Size, SHA1: f.SHA1, Hashed: true, TTH: f.TTH, HasTTH: f.HasTTH}
	}
	// A browser gets the bitprint in GGEP "H" too, as from gtk-gnutella.
	return b.s.queryHit(wire.NewGUID(), 1, lf, true, nil)
}

// Browse lists what the servent at src shares (browse host): dialled at
// src.Addr, or, for a firewalled one (src.Push, or a failed dial with a
// servent GUID), through a Push and the connection its GIV opens.
func (s *Servent) Browse(ctx context.Context, src httpxfer.Source, opts httpxfer.BrowseOptions) (*httpxfer.BrowseResult, error) {
	if opts.UserAgent == "" {
		opts.UserAgent = UserAgent
	}
	nc, err := s.xfer.DialSource(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("browse %s: %w", src, err)
	}
	host := ""
	if src.Addr.IsValid() && !src.Push {
		host = src.Addr.String()
	}
	res, err := httpxfer.Browse(ctx, nc, host, opts)
	if err != nil && host == "" && ctx.Err() == nil {
		err = fmt.Errorf("%s: %w", src, err) // "browse: ..." names no host
	}
	return res, err
}
