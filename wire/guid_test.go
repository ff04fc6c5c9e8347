package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestModern: Modern sets the two 0.6 marker bytes and nothing else.
func TestModern(t *testing.T) {
	var g GUID
	for i := range g {
		g[i] = byte(0x10 + i)
	}
	m := Modern(g)
	assert.True(t, m.IsModern())
	assert.False(t, g.IsModern())
	for i := range g {
		if i != 8 && i != 15 {
			assert.Equal(t, g[i], m[i], "byte %d", i)
		}
	}
	assert.True(t, NewGUID().IsModern())
}
