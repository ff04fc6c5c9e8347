package servent

import (
	"cmp"
	"slices"
)

// Rank orders search results from the best source to the worst, as users
// of the first file-sharing programs picked hosts by hand: one with a
// free upload slot before a busy one, one we can dial before one that
// needs a Push (and a route for it), then the higher advertised speed,
// then the fewer hops. Ties keep the order of arrival. It returns the
// indexes of results in that order.
func Rank(results []Result) []int {
	idx := make([]int, len(results))
	for i := range idx {
		idx[i] = i
	}
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ra, rb := &results[a], &results[b]
		return cmp.Or(
			cmp.Compare(b2i(ra.Busy), b2i(rb.Busy)),
			cmp.Compare(b2i(ra.Push), b2i(rb.Push)),
			cmp.Compare(rb.Speed, ra.Speed),
			cmp.Compare(ra.Hops, rb.Hops),
		)
	})
	return idx
}
