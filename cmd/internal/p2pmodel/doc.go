// Package p2pmodel holds the user and network models that govent's
// simulator (netsim) and workload driver share: the TOML model files and
// their loader, the distributions they name with seeded samplers, the
// default churn and workload models built from
// shared/docs/WORKLOAD-MODEL.md, and the session generator of that
// document's section 6, which turns the models and a seed into a
// timeline of sessions (join, leave, class, queries) and a placement of
// files on servents. The same seed gives the same timeline.
//
// It is model only: it starts no servents and opens no sockets.
//
// # Model files
//
// Two TOML files: a workload model (tables session, queries, content)
// and a churn model (tables arrivals, ultrapeer, short). The defaults in
// defaults/ are the reference, with the source of every number. Times
// are in seconds, sizes in bytes. A distribution is a table naming its
// family in dist, with that family's parameters:
//
//	constant     value
//	uniform      min, max            (min < max)
//	exponential  mean                (> 0)
//	lognormal    mu, sigma           (sigma > 0; the log's mean and sd)
//	weibull      shape, scale        (> 0)
//	pareto       xm, alpha           (> 0; P(X > x) = (xm/x)^alpha)
//	zipf         s, n                (s > 0, any; ranks 1..n, P(k) ~ k^-s)
//	geometric    mean                (>= 1; counts 1, 2, ...)
//	bernoulli    p                   (in [0, 1]; draws 0 or 1)
//	discrete     values, weights     (a value per weight)
//	empirical    x, cdf              (a piecewise-linear CDF, 0 to 1)
//
// and any family takes shift, added to every draw. For example:
//
//	[session.first_query]
//	dist = "lognormal"
//	mu = 4.1
//	sigma = 1.3
//
//	[short.duration]
//	dist = "empirical"
//	x = [0, 10, 32.5, 64]
//	cdf = [0, 0.4143, 0.8714, 1]
//
// Each field also says what its draws mean, and the loader refuses a
// family that cannot draw such values: a count needs integers (constant,
// discrete, geometric, zipf), a time may not be negative, session.passive
// draws 1 (passive) or 0, and every distribution needs a finite mean.
// Unknown keys, unknown families, missing parameters and bad values are
// errors (a *ModelError wrapping ErrBadModel) naming the key, and the
// line where go-toml reports one.
package p2pmodel
