// Package english owns the small rules of English that the commands' output
// needs: a count with its noun in the right number ("1 file", "2 files").
package english

import "strconv"

// Count is n followed by one when n is 1 and by many otherwise: "1 file",
// "0 files". The plural is spelt out by the caller ("query", "queries").
func Count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
