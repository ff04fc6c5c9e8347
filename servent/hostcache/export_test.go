package hostcache

import (
	"net/netip"
	"time"
)

// Next is NextLearned with the configured hosts too, first. The servent
// does not pick configured hosts from the cache (its dialer keeps them on
// a schedule of its own); the tests use it to see the whole dial order.
func (c *Cache) Next(now time.Time, preferUltrapeers bool) (netip.AddrPort, bool) {
	return c.next(now, preferUltrapeers, false)
}

// FileLimit is the largest host file Load reads; HostEntryMax the room
// it gives one host.
func (c *Cache) FileLimit() int64 { return c.fileLimit() }

const HostEntryMax = hostEntryMax
