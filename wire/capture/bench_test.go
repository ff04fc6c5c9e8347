package capture

import (
	"bytes"
	"os"
	"testing"
)

func BenchmarkReadAndSplit(b *testing.B) {
	for _, name := range []string{"leaf-deflate.pcap", "http.pcap"} {
		b.Run(name, func(b *testing.B) {
			in, err := os.ReadFile(testdata + name)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				c, err := Read(bytes.NewReader(in), Options{})
				if err != nil {
					b.Fatal(err)
				}
				for _, conn := range c.Conns {
					Split(conn, Options{})
				}
			}
		})
	}
}

func BenchmarkDescriptorScanner(b *testing.B) {
	sessions, err := DecodeFile(testdata+"ultrapeer-plain.pcap", Options{})
	if err != nil {
		b.Fatal(err)
	}
	stream := sessions[0].FromServer.Descriptors
	tl := sessions[0].FromServer.Timeline
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		s := NewDescriptorScanner(stream, tl)
		n := 0
		for s.Scan() {
			n++
		}
		if s.Err() != nil || n != 10 {
			b.Fatalf("%d descriptors, %v", n, s.Err())
		}
	}
}
