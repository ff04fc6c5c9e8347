package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/capture"
)

// captures reads every testdata/*.pcap with wire/capture: handshake
// blocks, GIV lines, HTTP heads, compressed link bytes and every
// descriptor.
func (g *gen) captures() {
	files, err := filepath.Glob(filepath.Join(g.root, "testdata", "*.pcap"))
	if err != nil || len(files) == 0 {
		log.Fatalf("no captures under %s: %v", g.root, err)
	}
	for _, f := range files {
		base := "capture-" + strings.TrimSuffix(filepath.Base(f), ".pcap")
		heads := map[bool]int{} // HTTP heads seen, by whether a response
		for fi, fl := range readFlows(f) {
			s := fl.raw.Data
			name := fmt.Sprintf("%s-%d", base, fi)
			switch fl.Kind {
			case capture.KindGIV:
				if len(fl.Blocks) == 0 {
					continue
				}
				end := len(fl.Blocks[0])
				g.add("FuzzGIV", name, s[:end])
				g.add("FuzzGIV", name+"-more", s[:min(len(s), end+38)])
				// The response the GIV's sender gives the GET that follows.
				g.httpHeads(name+"-http", fl.HTTP, heads)
			case capture.KindGnutella06, capture.KindGnutella04:
				g.gnutellaFlow(name, fl)
			case capture.KindHTTP:
				g.httpHeads(name, s, heads)
				if !bytes.HasPrefix(s, []byte("HTTP/")) {
					continue // requests
				}
				for li, line := range bytes.Split(s, []byte("\r\n")) {
					if v, ok := bytes.CutPrefix(line, []byte("X-Thex-URI: ")); ok {
						g.add("FuzzThexURI", fmt.Sprintf("%s-%d", name, li), string(v))
					}
					if v, ok := bytes.CutPrefix(line, []byte("X-Gnutella-Content-URN: ")); ok {
						g.add("FuzzContentURN", fmt.Sprintf("%s-%d", name, li), string(v))
					}
				}
			}
		}
	}
}

// httpHeads seeds FuzzHTTPHead from the HTTP requests or responses of
// one direction, s: each head with the start of what follows it (which
// must stay unread) under the default limits, and the first request and
// the first response of a capture also exactly at their size and one line
// or one byte over it. seen counts the capture's heads so far, requests
// and responses apart.
func (g *gen) httpHeads(name string, s []byte, seen map[bool]int) {
	for hi := 0; len(s) > 0; hi++ {
		end := bytes.Index(s, []byte("\r\n\r\n")) + 4
		if end < 4 {
			return // a head the capture cut short
		}
		head := s[:end]
		h, err := wire.ReadHTTPHead(bufio.NewReader(bytes.NewReader(head)), wire.HandshakeLimits{})
		if err != nil {
			log.Fatalf("%s: head %d: %v", name, hi, err)
		}
		more := s[:min(len(s), end+32)]
		hname := name
		if hi > 0 {
			hname = fmt.Sprintf("%s-%d", name, hi)
		}
		g.add("FuzzHTTPHead", hname, more, uint16(0), uint16(0))
		response := bytes.HasPrefix(head, []byte("HTTP/"))
		if seen[response]++; seen[response] == 1 {
			lines := uint16(bytes.Count(head, []byte("\n")) - 1) // not the closing empty line
			g.add("FuzzHTTPHead", hname+"-at-limits", more, lines, uint16(len(head)))
			g.add("FuzzHTTPHead", hname+"-over-lines", more, lines-1, uint16(0))
			g.add("FuzzHTTPHead", hname+"-over-bytes", more, uint16(0), uint16(len(head)-1))
		}
		s = s[end:]
		// A response's body follows it, but for a HEAD request: then the
		// next response does.
		if response && !bytes.HasPrefix(s, []byte("HTTP/")) {
			v, _ := h.Get("Content-Length")
			n, err := strconv.Atoi(v)
			if err != nil || n > len(s) {
				return // no length, or a body the capture cut short
			}
			s = s[n:]
		}
	}
}

// flow is one direction of one connection: the bytes sent and what they
// carry.
type flow struct {
	capture.Flow
	raw *capture.Stream
}

// readFlows returns every direction of a capture that sent anything, in the
// order of their first bytes.
func readFlows(path string) []flow {
	c, err := capture.ReadFile(path, capture.Options{})
	if err != nil {
		log.Fatal(err)
	}
	var flows []flow
	for _, conn := range c.Conns {
		s := capture.Split(conn, capture.Options{})
		for _, f := range []flow{{s.FromClient, &conn.FromClient}, {s.FromServer, &conn.FromServer}} {
			if len(f.raw.Data) > 0 {
				flows = append(flows, f)
			}
		}
	}
	slices.SortStableFunc(flows, func(a, b flow) int { return a.raw.Timeline[0].Time.Compare(b.raw.Timeline[0].Time) })
	return flows
}

// gnutellaFlow seeds from one direction of a Gnutella connection: its
// handshake blocks, each with the start of what follows (it must stay
// unread), then, after a final 200, its descriptor stream.
func (g *gen) gnutellaFlow(name string, fl flow) {
	s := fl.raw.Data
	off := 0
	for bi, block := range fl.Blocks {
		end := off + len(block)
		g.add("FuzzHandshake", fmt.Sprintf("%s-block%d", name, bi), s[off:min(len(s), end+32)], uint16(0), uint16(0))
		off = end
	}
	if errors.Is(fl.Err, wire.ErrTruncated) && fl.Wire == nil {
		// A block the capture cut short.
		g.add("FuzzHandshake", fmt.Sprintf("%s-block%d", name, len(fl.Blocks)), s[off:], uint16(0), uint16(0))
		return
	}
	if len(fl.Blocks) == 0 || !bytes.HasPrefix(fl.Blocks[len(fl.Blocks)-1], []byte("GNUTELLA/0.6 200")) {
		return
	}
	if fl.Deflate {
		g.add("FuzzLinkzip", name, fl.Wire, uint32(0), uint16(0))
		g.add("FuzzLinkzip", name+"-tight", fl.Wire, uint32(64), uint16(2))
	}
	stream := fl.Descriptors
	g.add("FuzzReader", name, stream, uint64(len(stream)), uint32(0))
	g.add("FuzzReader", name+"-small", stream, uint64(5), uint32(100))
	var qrp [][]byte
	sc := fl.Scanner()
	for di := 0; sc.Scan(); di++ {
		d := sc.Descriptor()
		raw := stream[d.Offset:sc.Offset()]
		g.descriptor(fmt.Sprintf("%s-%s-%d", name, strings.ToLower(d.Layer.Header.Type.String()), di), raw)
		if d.Layer.Header.Type == wire.TypeQRP {
			qrp = append(qrp, raw[wire.HeaderLen:])
		}
	}
	if len(qrp) > 0 {
		g.add("FuzzQRT", name, qrtInput(qrp...))
	}
}

// qrtInput frames QRP payloads as FuzzQRT reads them: a u16 LE length
// before each.
func qrtInput(payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		b = append(b, byte(len(p)), byte(len(p)>>8))
		b = append(b, p...)
	}
	return b
}
