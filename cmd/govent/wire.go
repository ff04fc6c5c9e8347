package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/govent/govent/wire"
)

func wireCommand() *cli.Command {
	return &cli.Command{
		Name:  "wire",
		Usage: "work with raw descriptor streams",
		Commands: []*cli.Command{{
			Name:      "decode",
			Usage:     "decode a raw descriptor stream (the bytes after a handshake), one line per descriptor",
			ArgsUsage: "FILE|-",
			Description: "Reads descriptors (23-byte header + payload) until the end of the input and prints\n" +
				"type, GUID, TTL, hops, length and the decoded fields of each. Input that is hex text\n" +
				"(hex digits, whitespace and # comments, as testdata/golden/*.hex) is read as the bytes\n" +
				"it spells; a character in it that is not a hex digit is reported at its line and\n" +
				"column. A payload that does not parse is reported on its line and decoding goes\n" +
				"on; a broken frame (a length over --max-payload, a stream that ends inside a\n" +
				"descriptor) stops with exit status 1. A packet capture (pcap, pcapng) is refused:\n" +
				"govent capture decode reads those.",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "json", Usage: "print JSON lines instead of text"},
				maxPayloadFlag(),
			},
			Action: func(_ context.Context, c *cli.Command) error {
				if err := wantArgs(c, 1, "argument, a FILE or - for standard input"); err != nil {
					return err
				}
				name := c.Args().First()
				in, closeIn, err := openInput(name, c.Root().Reader)
				if err != nil {
					return err
				}
				defer closeIn()
				br := bufio.NewReader(in) // maybeHexText reuses it
				if head, _ := br.Peek(4); isCaptureFile(head) {
					if name == "-" {
						return errors.New("standard input is a packet capture, not a raw descriptor stream: govent capture decode FILE decodes it")
					}
					return fmt.Errorf("%s is a packet capture, not a raw descriptor stream: govent capture decode %s decodes it", name, name)
				}
				return decodeStream(maybeHexText(br, strings.HasSuffix(name, ".hex")), c.Root().Writer, maxPayload(c), c.Bool("json"))
			},
		}},
	}
}

func openInput(name string, stdin io.Reader) (io.Reader, func(), error) {
	if name == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err // "open NAME: ...", context enough
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		// Not "descriptor 0: reading header at offset 0: read NAME: is a directory".
		f.Close()
		return nil, nil, fmt.Errorf("%s is a directory; want a file of descriptors (raw bytes or hex text), or - for standard input", name)
	}
	return f, func() { f.Close() }, nil
}

// decodeStream prints every descriptor of a raw stream. Malformed payloads
// are reported and skipped; a frame error ends the stream with an error.
func decodeStream(in io.Reader, out io.Writer, maxPayload uint32, asJSON bool) error {
	bw := bufio.NewWriter(out)
	defer bw.Flush()
	r := wire.NewReader(in, maxPayload)
	enc := newJSONEncoder(bw)
	var line []byte
	for n := 0; ; n++ {
		off := r.Offset()
		m, err := r.ReadMessage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if m == nil {
			return fmt.Errorf("descriptor %d: %w", n, err) // the reader's errors give the offset
		}
		if asJSON {
			f := m.Fields()
			f["offset"] = off
			if err != nil {
				f["error"] = err.Error()
			}
			if err := enc.Encode(f); err != nil {
				return err
			}
			continue
		}
		line = m.AppendSummary(line[:0])
		if err != nil {
			line = append(line, " error="...)
			line = append(line, err.Error()...)
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
}

// isCaptureFile says whether head, the first 4 bytes of the input, are the
// magic number of a pcap (either byte order, micro- or nanosecond) or
// pcapng file, as wire/capture's Read tells them apart. A raw stream that
// starts so would need a GUID starting with these bytes; a capture given
// to wire decode is the likelier mistake.
func isCaptureFile(head []byte) bool {
	if len(head) < 4 {
		return false
	}
	switch binary.BigEndian.Uint32(head) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a:
		return true
	}
	return false
}

// hexTextPeek is how much of the input maybeHexText looks at.
const hexTextPeek = 512

// maybeHexText returns a reader of in: of the bytes it spells when its start
// is hex text (hex digits, whitespace and # comments, the format of the
// descriptor samples in testdata/golden), else of in as it is. hexName says
// the input is a file named *.hex.
func maybeHexText(in io.Reader, hexName bool) io.Reader {
	br := bufio.NewReader(in)
	head, _ := br.Peek(hexTextPeek)
	if !looksLikeHexText(head, hexName) {
		return br
	}
	return &hexTextReader{r: br, line: 1}
}

// looksLikeHexText says whether head, the start of the input, is hex text,
// so that a typo in it is reported at its line and column, not read as raw
// bytes. It is when it is nothing else up to its end or for a descriptor
// header's worth of digits; or when it is text (no control characters but
// whitespace) and either its name ends in .hex or at most one in 8 of its
// characters outside whitespace and comments is not a hex digit. A raw
// stream does not pass for it: its header's TTL and hops are control
// characters, and its GUID is binary too.
func looksLikeHexText(head []byte, hexName bool) bool {
	digits, typos := 0, 0
	clean := -1 // digits before the first typo; -1 while there is none
	comment := false
	for _, c := range head {
		_, isHex := hexDigit(c)
		switch {
		case c == '\n':
			comment = false
		case c < ' ' && c != '\t' && c != '\r' || c == 0x7f:
			// Not text: hex text only if a header's worth came first.
			if clean < 0 {
				clean = digits
			}
			return clean >= 2*wire.HeaderLen
		case comment || c == ' ' || c == '\t' || c == '\r':
		case c == '#':
			comment = true
		case isHex:
			digits++
		default:
			if clean < 0 {
				clean = digits
			}
			typos++
		}
	}
	switch {
	case clean < 0:
		return digits > 0
	case clean >= 2*wire.HeaderLen || hexName:
		return true
	}
	return typos*8 <= digits
}

// hexTextReader reads the bytes that hex text spells, two digits a byte,
// streaming: memory stays bounded whatever the size of the input.
type hexTextReader struct {
	r       *bufio.Reader
	line    int  // of the text, for errors
	column  int  // of the last byte read, in bytes from 1
	comment bool // inside a # comment
	half    bool // hi holds the first digit of a byte
	hi      byte
}

func (h *hexTextReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := h.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil // the error comes again on the next Read
			}
			if errors.Is(err, io.EOF) && h.half {
				return 0, errors.New("hex text ends inside a byte (odd number of hex digits)")
			}
			return 0, err
		}
		h.column++
		switch {
		case c == '\n':
			h.line++
			h.column = 0
			h.comment = false
		case h.comment || c == ' ' || c == '\t' || c == '\r':
		case c == '#':
			h.comment = true
		default:
			v, ok := hexDigit(c)
			if !ok {
				return n, fmt.Errorf("hex text line %d, column %d: %q is not a hex digit", h.line, h.column, []byte{c})
			}
			if !h.half {
				h.hi, h.half = v, true
				continue
			}
			p[n] = h.hi<<4 | v
			n++
			h.half = false
		}
	}
	return n, nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// maxPayloadFlag is the --max-payload of the decoders.
func maxPayloadFlag() cli.Flag {
	return &cli.Uint32Flag{Name: "max-payload", Value: wire.DefaultMaxPayload, Usage: "largest payload length accepted, in bytes"}
}

func maxPayload(c *cli.Command) uint32 { return c.Uint32("max-payload") }
