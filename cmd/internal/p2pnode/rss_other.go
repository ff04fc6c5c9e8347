//go:build !linux

package p2pnode

// MaxRSS is not measured here (0: unknown).
func MaxRSS() uint64 { return 0 }
