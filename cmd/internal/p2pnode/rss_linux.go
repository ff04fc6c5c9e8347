package p2pnode

import "syscall"

// MaxRSS is the process's peak resident set size so far, which Linux
// counts in KiB.
func MaxRSS() uint64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil || ru.Maxrss < 0 {
		return 0
	}
	return uint64(ru.Maxrss) << 10
}
