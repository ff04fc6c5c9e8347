package capture

import (
	"fmt"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/govent/govent/wire"
)

// LayerTypeGnutella is one Gnutella descriptor. 1000-1999 is gopacket's range
// for layer types defined outside it; 1346 echoes Gnutella's port 6346.
var LayerTypeGnutella = gopacket.RegisterLayerType(1346, gopacket.LayerTypeMetadata{
	Name:    "Gnutella",
	Decoder: gopacket.DecodeFunc(decodeGnutella),
})

// Gnutella is the application layer for ONE descriptor: its 23-byte header
// (LayerContents) and its payload (LayerPayload). A descriptor stream holds
// many; decode them one after the other from a reassembled stream (see
// DescriptorScanner), never from single TCP segments, which cut descriptors
// anywhere.
type Gnutella struct {
	layers.BaseLayer
	Header wire.Header
	// MaxPayload caps Header.Length; zero means DefaultMaxPayload. It is
	// checked before the payload is sliced: the length is the sender's word.
	MaxPayload uint32
}

// LayerType returns LayerTypeGnutella.
func (g *Gnutella) LayerType() gopacket.LayerType { return LayerTypeGnutella }

// CanDecode returns LayerTypeGnutella.
func (g *Gnutella) CanDecode() gopacket.LayerClass { return LayerTypeGnutella }

// NextLayerType is gopacket.LayerTypePayload when the descriptor has a
// payload, LayerTypeZero when it is empty (a plain Ping).
func (g *Gnutella) NextLayerType() gopacket.LayerType {
	if len(g.BaseLayer.Payload) == 0 {
		return gopacket.LayerTypeZero
	}
	return gopacket.LayerTypePayload
}

// Payload returns the descriptor payload (gopacket.ApplicationLayer).
func (g *Gnutella) Payload() []byte { return g.BaseLayer.Payload }

// Len is the descriptor's size on the stream: header plus payload.
func (g *Gnutella) Len() int { return len(g.Contents) + len(g.BaseLayer.Payload) }

// DecodeFromBytes decodes the descriptor at the front of data; bytes after it
// belong to the next descriptor and are left alone. Contents and Payload
// alias data. A short data sets df truncated and returns an error wrapping
// wire.ErrFrame and wire.ErrTruncated; a length over MaxPayload returns one
// wrapping wire.ErrFrame and wire.ErrTooLarge.
func (g *Gnutella) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	h, err := wire.ParseHeader(data)
	if err != nil {
		df.SetTruncated()
		return fmt.Errorf("%w: %w", wire.ErrFrame, err)
	}
	limit := g.MaxPayload
	if limit == 0 {
		limit = DefaultMaxPayload
	}
	if h.Length > limit {
		return fmt.Errorf("%w: %w: %s payload of %d bytes, limit %d", wire.ErrFrame, wire.ErrTooLarge, h.Type, h.Length, limit)
	}
	// In uint64 so that a MaxPayload near 4 GiB cannot overflow an int.
	if uint64(len(data)) < wire.HeaderLen+uint64(h.Length) {
		df.SetTruncated()
		return fmt.Errorf("%w: %w: %s payload of %d bytes, have %d", wire.ErrFrame, wire.ErrTruncated, h.Type, h.Length, len(data)-wire.HeaderLen)
	}
	end := wire.HeaderLen + int(h.Length)
	g.Header = h
	g.BaseLayer = layers.BaseLayer{Contents: data[:wire.HeaderLen:wire.HeaderLen], Payload: data[wire.HeaderLen:end:end]}
	return nil
}

// decodeGnutella is the gopacket.Decoder behind LayerTypeGnutella, for
// gopacket.NewPacket(descriptor, LayerTypeGnutella, ...).
func decodeGnutella(data []byte, p gopacket.PacketBuilder) error {
	g := &Gnutella{}
	if err := g.DecodeFromBytes(data, p); err != nil {
		return err
	}
	p.AddLayer(g)
	p.SetApplicationLayer(g)
	if g.NextLayerType() == gopacket.LayerTypeZero {
		return nil
	}
	return p.NextDecoder(g.NextLayerType())
}
