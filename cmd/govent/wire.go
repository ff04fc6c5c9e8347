package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

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
				"type, GUID, TTL, hops, length and the decoded fields of each. A payload that does not\n" +
				"parse is reported on its line and decoding goes on; a broken frame (a length over\n" +
				"--max-payload, a stream that ends inside a descriptor) stops with exit status 1.",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "json", Usage: "print JSON lines instead of text"},
				maxPayloadFlag(),
			},
			Action: func(_ context.Context, c *cli.Command) error {
				if err := wantArgs(c, 1, "argument, a FILE or - for standard input"); err != nil {
					return err
				}
				in, closeIn, err := openInput(c.Args().First(), c.Root().Reader)
				if err != nil {
					return err
				}
				defer closeIn()
				return decodeStream(in, c.Root().Writer, maxPayload(c), c.Bool("json"))
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
		return nil, nil, fmt.Errorf("open input: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// decodeStream prints every descriptor of a raw stream. Malformed payloads
// are reported and skipped; a frame error ends the stream with an error.
func decodeStream(in io.Reader, out io.Writer, maxPayload uint32, asJSON bool) error {
	bw := bufio.NewWriter(out)
	defer bw.Flush()
	r := wire.NewReader(in, maxPayload)
	enc := json.NewEncoder(bw)
	var line []byte
	for n := 0; ; n++ {
		off := r.Offset()
		m, err := r.ReadMessage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if m == nil {
			return fmt.Errorf("descriptor %d at offset %d: %w", n, off, err)
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

// maxPayloadFlag is the --max-payload of the decoders.
func maxPayloadFlag() cli.Flag {
	return &cli.Uint32Flag{Name: "max-payload", Value: wire.DefaultMaxPayload, Usage: "largest payload length accepted, in bytes"}
}

func maxPayload(c *cli.Command) uint32 { return c.Uint32("max-payload") }
