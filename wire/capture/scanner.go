package capture

import (
	"fmt"
	"time"

	"github.com/google/gopacket"
)

// Descriptor is one descriptor found on a stream.
type Descriptor struct {
	Layer  Gnutella  // header fields, header bytes and payload (aliasing the stream)
	Offset int       // where the header starts in the descriptor stream
	Time   time.Time // arrival of the header's first byte (see Flow.Timeline); zero if unknown
}

// DescriptorScanner walks a reassembled (and inflated) descriptor stream one
// descriptor at a time, like bufio.Scanner:
//
//	s := capture.NewDescriptorScanner(flow.Descriptors, flow.Timeline)
//	for s.Scan() {
//		d := s.Descriptor()
//		...
//	}
//	if err := s.Err(); err != nil { ... }
//
// It stops at the first broken frame (a length over MaxPayload, or a stream
// that ends inside a descriptor) and Err says where and why. A stream that
// ends exactly after a descriptor is not an error.
type DescriptorScanner struct {
	// MaxPayload caps a descriptor's payload length; zero means
	// DefaultMaxPayload. Set it before the first Scan.
	MaxPayload uint32

	stream   []byte
	timeline Timeline
	off      int
	cur      Descriptor
	err      error
}

// NewDescriptorScanner scans stream; tl may be nil.
func NewDescriptorScanner(stream []byte, tl Timeline) *DescriptorScanner {
	return &DescriptorScanner{stream: stream, timeline: tl}
}

// Scan advances to the next descriptor. It returns false at the end of the
// stream or at a broken frame.
func (s *DescriptorScanner) Scan() bool {
	if s.err != nil || s.off >= len(s.stream) {
		return false
	}
	var g Gnutella
	g.MaxPayload = s.MaxPayload
	if err := g.DecodeFromBytes(s.stream[s.off:], gopacket.NilDecodeFeedback); err != nil {
		s.err = fmt.Errorf("descriptor at stream offset %d: %w", s.off, err)
		return false
	}
	s.cur = Descriptor{Layer: g, Offset: s.off, Time: s.timeline.At(s.off)}
	s.off += g.Len()
	return true
}

// Descriptor returns the descriptor found by the last successful Scan.
func (s *DescriptorScanner) Descriptor() Descriptor { return s.cur }

// Err returns the error that stopped the scan, or nil at a clean end.
func (s *DescriptorScanner) Err() error { return s.err }

// Offset is where the next descriptor would start; after an error it is
// where the broken one starts.
func (s *DescriptorScanner) Offset() int { return s.off }
