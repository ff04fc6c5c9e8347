package linkzip

// Internals the external tests look at.
const ReadBufferSize = readBufferSize

type Inflated = inflated

var (
	PutInflated = putInflated
	IsTimeout   = isTimeout
)
