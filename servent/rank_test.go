package servent

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRank(t *testing.T) {
	results := []Result{
		{Name: "busy fast", Busy: true, Speed: 10000},
		{Name: "push", Push: true, Speed: 5000},
		{Name: "slow", Speed: 100},
		{Name: "fast far", Speed: 2000, Hops: 3},
		{Name: "fast near", Speed: 2000, Hops: 1},
		{Name: "slow twin", Speed: 100},
	}
	var got []string
	for _, i := range Rank(results) {
		got = append(got, results[i].Name)
	}
	assert.Equal(t, []string{"fast near", "fast far", "slow", "slow twin", "push", "busy fast"}, got)
	assert.Empty(t, Rank(nil))
}
