package servent

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Deviations from the specs that `govent conform` found (the case ids
// name the conformance cases that check them end to end).

// TestXMaxTTLAtMostFour: an ultrapeer announcing X-Dynamic-Querying says
// X-Max-TTL of at most 4 (dynamic_query 2.5.3.2.1: "The X-Max-TTL MUST NOT
// exceed 4"), whatever the TTL of its own Queries. Case handshake/4.
func TestXMaxTTLAtMostFour(t *testing.T) {
	s := startServent(t, testConfig(t))
	p := dialRaw(t, s.Addr())
	ans := p.handshake06()
	_, dq := ans.Get("X-Dynamic-Querying")
	require.True(t, dq)
	v, _ := ans.Get("X-Max-TTL")
	n, err := strconv.Atoi(strings.TrimSpace(v))
	require.NoError(t, err, "X-Max-TTL %q", v)
	assert.GreaterOrEqual(t, n, 1)
	assert.LessOrEqual(t, n, 4)
}
