// Package p2pmodel holds the user and network models that govent's
// simulator (netsim) and workload driver share: the TOML model files and
// their loader, the distributions they name and seeded samplers for them,
// the default churn and workload models built from
// shared/docs/WORKLOAD-MODEL.md, and the session generator of that
// document's section 6, which turns a model and a seed into a timeline of
// sessions with their queries and a placement of files on servents.
//
// It is model only: it starts no servents and opens no sockets. The same
// seed gives the same timeline.
package p2pmodel
