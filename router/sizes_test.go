package router

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/govent/govent/wire"
)

// TestTableSizes: each routed request is one entry in its own table.
func TestTableSizes(t *testing.T) {
	r := New(Config{ServentGUID: wire.NewGUID()})
	a := r.AddPeer(Neighbour)
	r.AddPeer(Neighbour)
	for range 3 {
		h := wire.Header{GUID: wire.NewGUID(), Type: wire.TypeQuery, TTL: 3, Length: 3}
		r.Route(a, &h, []byte{0, 0, 0}, nil, nil)
	}
	h := wire.Header{GUID: wire.NewGUID(), Type: wire.TypePing, TTL: 3}
	r.Route(a, &h, nil, nil, nil)
	assert.Equal(t, TableSizes{Pings: 1, Queries: 3}, r.TableSizes())
}
