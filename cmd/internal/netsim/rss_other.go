//go:build !linux

package netsim

// maxRSS is not measured here (0: unknown).
func maxRSS() uint64 { return 0 }
