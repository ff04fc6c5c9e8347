package wire

// Helpers of the internal tests that the external ones (those reading
// captures with wire/capture, which imports wire) use too.

type PayloadCodec = payloadCodec

var (
	GGEPIDs     = ggepIDs
	GoldenNames = goldenNames
	LoadGolden  = loadGolden
	MustGUID    = mustGUID
)
