package peer

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/capture"
)

// Seeds is valid traffic the generators start from, taken from real
// sessions: the gtk-gnutella captures in testdata/, extracted by
// `go run ./fuzz/peer/internal/seedgen` into seeds/gtk-gnutella.json and
// compiled into the binary (fuzz-peer runs where testdata/ is not).
type Seeds struct {
	Source string `json:"source"`
	// Connect are clients' first handshake blocks (0.6 and 0.4), Final
	// their third blocks.
	Connect [][]byte `json:"connect"`
	Final   [][]byte `json:"final"`
	// Descriptors are whole descriptors (header and payload) from both
	// directions, each once.
	Descriptors [][]byte `json:"descriptors"`
	// HTTP are request heads (request line, headers, empty line).
	HTTP [][]byte `json:"http"`
	// GIV are GIV lines with their empty line.
	GIV [][]byte `json:"giv"`
}

//go:embed seeds/gtk-gnutella.json
var capturedSeedsJSON []byte

// capturedSeeds are the compiled-in seeds.
var capturedSeeds = func() *Seeds {
	var s Seeds
	if err := json.Unmarshal(capturedSeedsJSON, &s); err != nil {
		panic(fmt.Sprintf("fuzz/peer: compiled-in seeds: %v", err))
	}
	return &s
}()

// ExtractSeeds reads captures and keeps what the generators start from.
// The result is the same for the same files, in any order.
func ExtractSeeds(paths []string) (*Seeds, error) {
	paths = append([]string(nil), paths...)
	sort.Strings(paths)
	s := &Seeds{}
	seen := map[string]bool{}
	add := func(list *[][]byte, b []byte) {
		k := string(b)
		if len(b) == 0 || seen[k] {
			return
		}
		seen[k] = true
		*list = append(*list, append([]byte(nil), b...))
	}
	var names []string
	for _, p := range paths {
		sessions, err := capture.DecodeFile(p, capture.Options{})
		if err != nil {
			return nil, fmt.Errorf("fuzz-peer: seeds: %w", err)
		}
		names = append(names, filepath.Base(p))
		for _, sess := range sessions {
			for _, fl := range []*capture.Flow{&sess.FromClient, &sess.FromServer} {
				switch fl.Kind {
				case capture.KindGnutella06, capture.KindGnutella04:
					if len(fl.Blocks) > 0 && bytes.HasPrefix(fl.Blocks[0], []byte("GNUTELLA CONNECT/")) {
						add(&s.Connect, fl.Blocks[0])
						if len(fl.Blocks) > 1 {
							add(&s.Final, fl.Blocks[1])
						}
					}
					sc := fl.Scanner()
					for sc.Scan() {
						d := sc.Descriptor()
						add(&s.Descriptors, append(append([]byte(nil), d.Layer.Contents...), d.Layer.Payload()...))
					}
				case capture.KindGIV:
					add(&s.GIV, fl.Blocks[0])
				}
				for _, req := range httpRequests(fl.HTTP) {
					add(&s.HTTP, req)
				}
			}
		}
	}
	s.Source = fmt.Sprintf("gtk-gnutella 1.2.3 captures: %v", names)
	return s, nil
}

// httpRequests cuts the request heads out of one direction's HTTP bytes.
func httpRequests(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		if !bytes.HasPrefix(b, []byte("GET ")) && !bytes.HasPrefix(b, []byte("HEAD ")) {
			return out
		}
		end := bytes.Index(b, []byte("\r\n\r\n"))
		if end < 0 {
			return out
		}
		out = append(out, b[:end+4])
		b = b[end+4:]
	}
	return out
}

// descriptorSeeds are the captured descriptors of one type.
func (s *Seeds) descriptorsOf(t wire.PayloadType) [][]byte {
	var out [][]byte
	for _, d := range s.Descriptors {
		if len(d) >= wire.HeaderLen && wire.PayloadType(d[16]) == t {
			out = append(out, d)
		}
	}
	return out
}
