//go:build race

package router

// raceEnabled is true when the race detector instruments the build, which
// makes table-heavy loops about fifteen times slower.
const raceEnabled = true
