// Command seedgen writes fuzz/peer/seeds/gtk-gnutella.json, the valid
// traffic fuzz-peer starts from, from the gtk-gnutella captures in
// testdata/. Run it from the module root after a capture is added:
//
//	go run ./fuzz/peer/internal/seedgen
//
// TestCompiledSeedsMatchCaptures fails when the file is out of date.
package main

import (
	"encoding/json"
	"log"
	"os"
	"path/filepath"

	"github.com/govent/govent/fuzz/peer"
)

func main() {
	log.SetFlags(0)
	paths, err := filepath.Glob(filepath.Join("testdata", "*.pcap"))
	if err != nil || len(paths) == 0 {
		log.Fatalf("seedgen: no captures under testdata/ (run from the module root): %v", err)
	}
	s, err := peer.ExtractSeeds(paths)
	if err != nil {
		log.Fatal(err)
	}
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		log.Fatal(err)
	}
	out := filepath.Join("fuzz", "peer", "seeds", "gtk-gnutella.json")
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("seedgen: %s: %d connects, %d finals, %d descriptors, %d HTTP requests, %d GIVs",
		out, len(s.Connect), len(s.Final), len(s.Descriptors), len(s.HTTP), len(s.GIV))
}
