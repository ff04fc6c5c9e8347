package router

// TableSizes are the entries the routing tables hold now, expired ones not
// yet reclaimed included: what the tables cost in memory.
type TableSizes struct {
	Pings      int // Ping GUIDs: Pong routes and Ping duplicates
	Queries    int // Query GUIDs: QueryHit routes and Query duplicates
	PushRoutes int // servent GUIDs: Push routes
	SeenPushes int // Push GUIDs: Push duplicates
}

// TableSizes counts the entries of every routing table.
func (r *Router) TableSizes() TableSizes {
	return TableSizes{
		Pings:      r.pings.len(),
		Queries:    r.queries.len(),
		PushRoutes: r.pushRoutes.len(),
		SeenPushes: r.seenPushes.len(),
	}
}
