package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/capture"
)

func captureCommand() *cli.Command {
	return &cli.Command{
		Name:  "capture",
		Usage: "work with packet captures",
		Commands: []*cli.Command{{
			Name:      "decode",
			Usage:     "decode the Gnutella traffic in a pcap or pcapng file",
			ArgsUsage: "FILE",
			Description: "Reassembles every TCP connection, splits it into handshake blocks, descriptors\n" +
				"(inflated when the handshake turned on deflate), HTTP and GIV, and prints one line\n" +
				"per handshake block and per descriptor, both directions merged in time order.\n" +
				"TLS (from the first byte, or after a handshake that upgraded to it) is reported as\n" +
				"its hellos and record counts; a Gnutella2 connection as its G2 packets. Descriptor\n" +
				"bytes (hex text, a raw stream) are refused: govent wire decode reads those.",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "json", Usage: "print JSON lines instead of text"},
				maxPayloadFlag(),
			},
			Action: func(_ context.Context, c *cli.Command) error {
				if err := wantArgs(c, 1, "FILE argument"); err != nil {
					return err
				}
				if err := notCapture(c.Args().First()); err != nil {
					return err
				}
				opt := capture.Options{MaxPayload: maxPayload(c)}
				sessions, err := capture.DecodeFile(c.Args().First(), opt)
				if err != nil {
					return err // "open X: ...", "unreadable capture file: ..."
				}
				return printSessions(c.Root().Writer, sessions, c.Bool("json"))
			},
		}},
	}
}

// notCapture is the error for a file that is not a pcap or pcapng
// capture, pointing to wire decode when it holds descriptors (hex text or
// a raw stream), as wire decode points here for a capture. It is nil for a
// capture, and for a file it cannot read: capture.DecodeFile says why.
func notCapture(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		// Read would fail with EISDIR, and 0 bytes read said "empty".
		return fmt.Errorf("%s is a directory; want a pcap or pcapng file", name)
	}
	head := make([]byte, hexTextPeek)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if isCaptureFile(head) {
		return nil
	}
	hint := "; for descriptor bytes use govent wire decode " + name
	h, err := wire.ParseHeader(head)
	var why string
	switch {
	case n == 0:
		why, hint = "it is empty", ""
	case looksLikeHexText(head, strings.HasSuffix(name, ".hex")):
		why = "it is hex text"
	case err == nil && isKnownType(h.Type) && int(h.TTL)+int(h.Hops) <= 32 && h.Length <= wire.DefaultMaxPayload:
		why = fmt.Sprintf("it starts with a %s descriptor's header", h.Type)
	default:
		why, hint = fmt.Sprintf("it starts %x, no capture's magic number", head[:min(n, 4)]), ""
	}
	return fmt.Errorf("%s: not a pcap or pcapng file (%s)%s", name, why, hint)
}

// isKnownType says whether t is a payload type that wire names.
func isKnownType(t wire.PayloadType) bool {
	return !strings.HasPrefix(t.String(), "0x")
}

// captureLine is one decoded item of a connection, for sorting by time.
type captureLine struct {
	at     time.Time
	seq    int // keeps each flow's own order for equal times
	from   string
	to     string
	fields map[string]any
	text   []byte
}

func printSessions(out io.Writer, sessions []capture.Session, asJSON bool) error {
	w := bufio.NewWriter(out)
	defer w.Flush()
	enc := newJSONEncoder(w)
	for ci, s := range sessions {
		header := fmt.Sprintf("connection %d: %s -> %s", ci+1, s.Conn.Client, s.Conn.Server)
		var lines []captureLine
		seq := 0
		lines = flowLines(lines, &s.FromClient, s.Conn.FromClient.Timeline, &seq)
		lines = flowLines(lines, &s.FromServer, s.Conn.FromServer.Timeline, &seq)
		sort.SliceStable(lines, func(i, j int) bool {
			if !lines[i].at.Equal(lines[j].at) {
				return lines[i].at.Before(lines[j].at)
			}
			return lines[i].seq < lines[j].seq
		})
		if !asJSON {
			fmt.Fprintf(w, "%s (%s / %s)\n", header, flowKind(&s.FromClient), flowKind(&s.FromServer))
		}
		for _, l := range lines {
			if asJSON {
				l.fields["connection"] = ci + 1
				l.fields["from"] = l.from
				l.fields["to"] = l.to
				l.fields["time"] = l.at.UTC().Format(time.RFC3339Nano)
				if err := enc.Encode(l.fields); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(w, "  %s %s -> %s %s\n", l.at.UTC().Format("15:04:05.000000"), l.from, l.to, l.text)
		}
	}
	return nil
}

// flowKind names what a direction carries, saying when a Gnutella link
// went on in TLS.
func flowKind(f *capture.Flow) string {
	if f.TLS != nil && f.Kind != capture.KindTLS {
		return f.Kind.String() + "+tls"
	}
	return f.Kind.String()
}

// flowLines decodes one direction: its handshake blocks (timed by raw, the
// direction's TCP timeline), then descriptors (timed by the flow's own).
func flowLines(lines []captureLine, f *capture.Flow, raw capture.Timeline, seq *int) []captureLine {
	from, to := f.From.String(), f.To.String()
	first := raw.At(0)
	add := func(at time.Time, fields map[string]any, text []byte) {
		*seq++
		lines = append(lines, captureLine{at: at, seq: *seq, from: from, to: to, fields: fields, text: text})
	}
	// A GIV direction's block is its GIV line, and what follows it the
	// HTTP responses to the GETs of the other side.
	blockKind, blockLabel := "handshake", "HANDSHAKE"
	if f.Kind == capture.KindGIV {
		blockKind, blockLabel = "giv", "GIV"
	}
	off := 0
	for _, b := range f.Blocks {
		start, _, _ := bytes.Cut(b, []byte("\n"))
		start = bytes.TrimRight(start, "\r")
		at := raw.At(off)
		off += len(b)
		add(at, map[string]any{"kind": blockKind, "block": string(b)}, fmt.Appendf(nil, "%s %q (%d bytes)", blockLabel, start, len(b)))
	}
	switch f.Kind {
	case capture.KindHTTP, capture.KindGIV:
		start, _, _ := bytes.Cut(f.HTTP, []byte("\n"))
		add(raw.At(off), map[string]any{"kind": capture.KindHTTP.String(), "bytes": len(f.HTTP)},
			fmt.Appendf(nil, "%s %q (%d bytes)", capture.KindHTTP, bytes.TrimRight(start, "\r"), len(f.HTTP)))
	case capture.KindGnutella2:
		packets, err := capture.G2Packets(f.G2)
		for _, p := range packets {
			add(f.Timeline.At(p.Offset), map[string]any{"kind": "g2", "name": p.Name, "length": p.Length, "offset": p.Offset},
				fmt.Appendf(nil, "G2 /%s (%d bytes)", p.Name, p.Length))
		}
		if err != nil {
			add(raw.At(off), map[string]any{"kind": "error", "error": err.Error()}, fmt.Appendf(nil, "ERROR %v", err))
		}
	}
	if t := f.TLS; t != nil {
		fields := map[string]any{"kind": "tls", "records": t.Records, "bytes": t.Bytes}
		if t.Hello != "" {
			fields["hello"], fields["version"] = t.Hello, tls.VersionName(t.Version)
			if t.Hello == "ServerHello" {
				fields["cipher_suite"] = tls.CipherSuiteName(t.CipherSuite)
			}
		}
		add(raw.At(off), fields, fmt.Appendf(nil, "TLS %s", t))
	}
	var m wire.Message
	sc := f.Scanner()
	for sc.Scan() {
		d := sc.Descriptor()
		err := m.Decode(d.Layer.Header, d.Layer.Payload())
		fields := m.Fields()
		fields["offset"] = d.Offset
		text := m.AppendSummary(nil)
		if err != nil {
			fields["error"] = err.Error()
			text = append(text, " error="...)
			text = append(text, err.Error()...)
		}
		add(d.Time, fields, text)
	}
	for _, err := range []error{sc.Err(), f.Err} {
		if err != nil {
			add(first, map[string]any{"kind": "error", "error": err.Error()}, fmt.Appendf(nil, "ERROR %v", err))
		}
	}
	return lines
}
