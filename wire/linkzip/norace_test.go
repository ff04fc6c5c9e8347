//go:build !race

package linkzip_test

// raceEnabled: the race detector instruments the build.
const raceEnabled = false
