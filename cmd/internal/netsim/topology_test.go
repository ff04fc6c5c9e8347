package netsim

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func addrN(i int) netip.AddrPort { return netip.AddrPortFrom(nodeAddr(i), 6346) }

// grow adds n ultrapeers (the last of them closing a ring) and returns
// whom each dialled.
func grow(o *overlay, n int) [][]netip.AddrPort {
	var dialled [][]netip.AddrPort
	for i := 1; i <= n; i++ {
		picks := o.pick(i == n, false)
		var d []netip.AddrPort
		for _, v := range picks {
			d = append(d, v.addr)
		}
		dialled = append(dialled, d)
		o.add(addrN(i), picks)
	}
	return dialled
}

func TestRingOverlay(t *testing.T) {
	o := newOverlay(Ring, 1, addrN(0))
	dialled := grow(o, 5)
	assert.Equal(t, []netip.AddrPort{addrN(0)}, dialled[0])
	assert.Equal(t, []netip.AddrPort{addrN(3)}, dialled[3], "each dials the one before it")
	assert.Equal(t, []netip.AddrPort{addrN(4), addrN(0)}, dialled[4], "the last closes the ring")
	assert.Equal(t, []int{2, 2, 2, 2, 2, 2}, o.degrees(), "a ring of six")
	// A later one joins between the newest and the bootstrap node.
	picks := o.pick(false, true)
	assert.Equal(t, []string{addrN(5).String(), addrN(0).String()}, addrs(picks))
	o.add(addrN(6), picks)
	o.leave(o.verts[3])
	assert.Equal(t, []int{3, 2, 1, 1, 3, 2}, o.degrees(), "a leaving vertex takes its edges")
}

func TestRandomOverlay(t *testing.T) {
	o := newOverlay(Random, 1, addrN(0))
	dialled := grow(o, 200)
	for i, d := range dialled {
		assert.Len(t, d, min(i+1, Degree), "ultrapeer %d", i+1)
		set := map[netip.AddrPort]bool{}
		for _, a := range d {
			set[a] = true
			assert.NotEqual(t, addrN(i+1), a, "never itself")
		}
		assert.Len(t, set, len(d), "distinct picks")
	}
	deg := o.degrees()
	assert.Equal(t, 2*(3*198+1+2), sum(deg), "every planned edge counted at both ends")
	assert.Less(t, slices.Max(deg), 20, "no hubs in a uniform draw")
	// The same seed plans the same overlay.
	again := grow(newOverlay(Random, 1, addrN(0)), 200)
	assert.Equal(t, dialled, again)
	other := grow(newOverlay(Random, 2, addrN(0)), 200)
	assert.NotEqual(t, dialled, other)
}

func TestPowerLawOverlayHasHubs(t *testing.T) {
	pl := newOverlay(PowerLaw, 1, addrN(0))
	grow(pl, 1000)
	rnd := newOverlay(Random, 1, addrN(0))
	grow(rnd, 1000)
	maxPL, maxRnd := slices.Max(pl.degrees()), slices.Max(rnd.degrees())
	t.Logf("largest degree: powerlaw %d, random %d", maxPL, maxRnd)
	assert.Greater(t, maxPL, 3*maxRnd, "preferential attachment grows hubs")
	// A heavy tail: a power law with exponent 3 has P(k >= 4m) about 1/16
	// of P(k >= m); a uniform draw's tail falls off exponentially.
	tail := func(o *overlay, k int) int {
		n := 0
		for _, d := range o.degrees() {
			if d >= k {
				n++
			}
		}
		return n
	}
	require.Positive(t, tail(pl, 24), fmt.Sprint(pl.degrees()))
	assert.Zero(t, tail(rnd, 24))
}

func sum(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}
