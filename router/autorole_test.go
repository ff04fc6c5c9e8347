package router

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// promotable are the facts of a leaf that meets every criterion, with the
// zero Config's PromoteAfter.
var promotable = RoleFacts{Uptime: 10 * time.Minute, UploadKBps: UltrapeerMinKBps}

// TestAutoRolePromotion: a leaf is promoted exactly when it has been up 10
// minutes (the zero Config), is not firewalled and has UltrapeerMinKBps;
// each criterion alone, one unit short, keeps it a leaf.
func TestAutoRolePromotion(t *testing.T) {
	cases := []struct {
		name  string
		facts func(*RoleFacts)
		want  Role
	}{
		{"meets every criterion", func(*RoleFacts) {}, RoleUltrapeer},
		{"up 1 ns too short", func(f *RoleFacts) { f.Uptime -= time.Nanosecond }, RoleLeaf},
		{"up long", func(f *RoleFacts) { f.Uptime = 30 * 24 * time.Hour }, RoleUltrapeer},
		{"firewalled", func(f *RoleFacts) { f.Firewalled = true }, RoleLeaf},
		{"1 KiB/s too little", func(f *RoleFacts) { f.UploadKBps-- }, RoleLeaf},
		{"plenty of bandwidth", func(f *RoleFacts) { f.UploadKBps = 10_000 }, RoleUltrapeer},
		// What an ultrapeer's demotion looks at means nothing to a leaf.
		{"no ultrapeer needs one", func(f *RoleFacts) { f.Ultrapeers = 3 }, RoleUltrapeer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Config{Role: RoleLeaf})
			f := promotable
			tc.facts(&f)
			assert.Equal(t, tc.want, r.AutoRole(f))
			assert.Equal(t, RoleLeaf, r.Role(), "AutoRole decides; it changes nothing")
		})
	}
}

// TestAutoRolePromoteAfter: Config.PromoteAfter moves the uptime needed.
func TestAutoRolePromoteAfter(t *testing.T) {
	r := New(Config{Role: RoleLeaf, PromoteAfter: time.Hour})
	f := promotable
	f.Uptime = time.Hour - time.Nanosecond
	assert.Equal(t, RoleLeaf, r.AutoRole(f))
	f.Uptime = time.Hour
	assert.Equal(t, RoleUltrapeer, r.AutoRole(f))
}

// TestAutoRoleDemotion: an ultrapeer becomes a leaf exactly when it serves
// no leaf and has ultrapeer neighbours, none of which needs more
// ultrapeers; the promotion criteria no longer matter once promoted.
func TestAutoRoleDemotion(t *testing.T) {
	cases := []struct {
		name  string
		facts RoleFacts
		want  Role
	}{
		{"nobody needs it", RoleFacts{Ultrapeers: 2}, RoleLeaf},
		{"nobody needs it, though it qualifies", RoleFacts{Ultrapeers: 1, Uptime: time.Hour, UploadKBps: 1000}, RoleLeaf},
		{"serves a leaf", RoleFacts{Ultrapeers: 2, Leaves: 1}, RoleUltrapeer},
		{"one neighbour needs ultrapeers", RoleFacts{Ultrapeers: 2, UltrapeersNeeding: 1}, RoleUltrapeer},
		{"no ultrapeer neighbours to judge by", RoleFacts{}, RoleUltrapeer},
		{"firewalled does not demote", RoleFacts{Firewalled: true, Ultrapeers: 1, UltrapeersNeeding: 1}, RoleUltrapeer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Config{Role: RoleUltrapeer})
			assert.Equal(t, tc.want, r.AutoRole(tc.facts))
			assert.Equal(t, RoleUltrapeer, r.Role(), "AutoRole decides; it changes nothing")
		})
	}
}

// TestAutoRoleHoldAfterDemotion: a demoted node stays a leaf DemotedHold
// after its first demotion, twice that after the second, and never more
// than MaxDemotedHold, though it meets every promotion criterion all along;
// a promotion is no demotion and starts no hold.
func TestAutoRoleHoldAfterDemotion(t *testing.T) {
	clock := newFakeClock()
	r := New(Config{Role: RoleLeaf, Now: clock.Now})
	require.Equal(t, RoleUltrapeer, r.AutoRole(promotable), "never demoted: no hold")
	r.SetRole(RoleUltrapeer)
	assert.Equal(t, RoleUltrapeer, r.AutoRole(promotable), "promoted: nothing to demote it")

	holds := []time.Duration{DemotedHold, 2 * DemotedHold, 4 * DemotedHold, 8 * DemotedHold, 16 * DemotedHold, MaxDemotedHold, MaxDemotedHold}
	for i, hold := range holds {
		require.Equal(t, RoleLeaf, r.AutoRole(RoleFacts{Ultrapeers: 1}), "demotion %d", i+1)
		r.SetRole(RoleLeaf)
		clock.Advance(hold - time.Nanosecond)
		assert.Equal(t, RoleLeaf, r.AutoRole(promotable), "demotion %d: 1 ns before its hold of %v", i+1, hold)
		clock.Advance(time.Nanosecond)
		require.Equal(t, RoleUltrapeer, r.AutoRole(promotable), "demotion %d: at its hold of %v", i+1, hold)
		r.SetRole(RoleUltrapeer)
	}
}
