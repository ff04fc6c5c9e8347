package wire

// Helpers of the internal tests, and unexported code, that the external
// tests (those reading captures with wire/capture, which imports wire, and
// the QRP hash's) use too.

type PayloadCodec = payloadCodec

var (
	GGEPIDs       = ggepIDs
	GoldenNames   = goldenNames
	LoadGolden    = loadGolden
	MustGUID      = mustGUID
	QRPHashString = qrpHashString
	AppendSHA1s   = (*ExtArea).appendSHA1s
)
