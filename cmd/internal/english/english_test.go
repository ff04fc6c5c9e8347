package english

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCount(t *testing.T) {
	assert.Equal(t, "0 files", Count(0, "file", "files"))
	assert.Equal(t, "1 file", Count(1, "file", "files"))
	assert.Equal(t, "2 files", Count(2, "file", "files"))
	assert.Equal(t, "1 query", Count(1, "query", "queries"))
	assert.Equal(t, "21 queries", Count(21, "query", "queries"))
	assert.Equal(t, "-1 hops", Count(-1, "hop", "hops"))
}
