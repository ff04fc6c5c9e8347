package httpxfer

import (
	"net/netip"
	"slices"
	"time"
)

// meshList is one file's sources of one kind, most recent last, with who
// vouches for each: the trust rule of Mesh is kept here.
type meshList[T any] []meshEntry[T]

type meshEntry[T any] struct {
	v        T
	verified bool           // it served us a verified file
	from     netip.Prefix   // else the network that reported it
	seen     time.Time      // and when it last did
	nalt     []netip.Prefix // other networks that named it in X-NAlt
}

// add records v, which same matches, from the network from at now (or
// verified). A verified entry is not changed by hearsay, nor another
// network's hearsay by a third one (which would move it out of its
// reporter's share, or keep it alive after its reporter went quiet).
// Otherwise v goes to the recent end, making room by the rule of victim.
func (l *meshList[T]) add(v T, from netip.Prefix, verified bool, now time.Time, same func(T) bool) {
	if i := slices.IndexFunc(*l, func(e meshEntry[T]) bool { return same(e.v) }); i >= 0 {
		if e := (*l)[i]; !verified && (e.verified || e.from != from) {
			return
		}
		*l = slices.Delete(*l, i, i+1)
	}
	e := meshEntry[T]{v: v, verified: verified}
	if !verified {
		e.from, e.seen = from, now
	}
	if i := l.victim(e); i >= 0 {
		*l = slices.Delete(*l, i, i+1)
	} else if len(*l) >= meshPerFile {
		return // nothing it may push out
	}
	*l = append(*l, e)
}

// victim returns the entry that e must push out, -1 for none: for hearsay,
// its own network's oldest once it holds meshPerReporter; on a full list,
// the oldest hearsay of the network holding the most, if that holds more
// than e's will (any hearsay, for a verified e), else for a verified e
// the oldest verified entry.
func (l meshList[T]) victim(e meshEntry[T]) int {
	held := make(map[netip.Prefix]int)
	for _, o := range l {
		if !o.verified {
			held[o.from]++
		}
	}
	if !e.verified && held[e.from] >= meshPerReporter {
		return slices.IndexFunc(l, func(o meshEntry[T]) bool { return !o.verified && o.from == e.from })
	}
	if len(l) < meshPerFile {
		return -1
	}
	top := -1 // the oldest entry of the network holding the most hearsay
	for i, o := range l {
		if !o.verified && (top < 0 || held[o.from] > held[l[top].from]) {
			top = i
		}
	}
	if top >= 0 && (e.verified || held[l[top].from] > held[e.from]+1) {
		return top
	}
	if e.verified {
		return 0 // all verified: the oldest goes
	}
	return -1
}

// vote takes an X-NAlt from the network from naming what same matches: it
// removes it if that network reported it, or once meshBadVotes networks
// named it, and says whether it went on votes (then it is bad). A
// verified one stays.
func (l *meshList[T]) vote(from netip.Prefix, same func(T) bool) bool {
	i := slices.IndexFunc(*l, func(e meshEntry[T]) bool { return same(e.v) })
	if i < 0 || (*l)[i].verified {
		return false
	}
	e := &(*l)[i]
	if e.from == from {
		*l = slices.Delete(*l, i, i+1)
		return false
	}
	if !slices.Contains(e.nalt, from) {
		e.nalt = append(e.nalt, from)
	}
	if len(e.nalt) < meshBadVotes {
		return false
	}
	*l = slices.Delete(*l, i, i+1)
	return true
}

// expire drops the hearsay that its reporter last named over
// meshLifetime before now.
func (l *meshList[T]) expire(now time.Time) {
	*l = slices.DeleteFunc(*l, func(e meshEntry[T]) bool { return !e.verified && now.Sub(e.seen) > meshLifetime })
}

// remove drops what same matches, however vouched for.
func (l *meshList[T]) remove(same func(T) bool) {
	*l = slices.DeleteFunc(*l, func(e meshEntry[T]) bool { return same(e.v) })
}

// best returns up to max entries: the verified ones, then hearsay, each
// most recent first, so a peer's hearsay never crowds out what we saw
// work.
func (l meshList[T]) best(max int) []T {
	out := make([]T, 0, min(len(l), max))
	for _, verified := range []bool{true, false} {
		for i := len(l) - 1; i >= 0 && len(out) < max; i-- {
			if l[i].verified == verified {
				out = append(out, l[i].v)
			}
		}
	}
	return out
}
