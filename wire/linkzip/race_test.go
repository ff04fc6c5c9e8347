//go:build race

package linkzip_test

const raceEnabled = true
