package netsim

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/govent/govent/cmd/internal/p2pmodel"
)

// Routing is how the servents route Queries: the thing a comparison
// varies.
type Routing string

const (
	// QRPDQ is the servent as it ships: QRP tables shield leaves and
	// ultrapeers' last hops, and ultrapeers widen their leaves' Queries by
	// dynamic querying.
	QRPDQ Routing = "qrp+dq"
	// Flood is plain flooding: every Query to every neighbour and leaf
	// (servent.Config NoQRPFilter and NoDynamicQuery).
	Flood Routing = "flood"
)

// ParseRouting reads "flood" or "qrp+dq".
func ParseRouting(s string) (Routing, error) {
	switch r := Routing(strings.ToLower(strings.TrimSpace(s))); r {
	case Flood, QRPDQ:
		return r, nil
	}
	return "", fmt.Errorf("netsim: unknown routing %q (want flood or qrp+dq)", s)
}

// Topology is how ultrapeers pick the ultrapeers they dial (leaves always
// find theirs through the bootstrap node and their host caches).
type Topology string

const (
	// Random: each ultrapeer dials Degree ultrapeers drawn uniformly from
	// those online (the bootstrap node among them).
	Random Topology = "random"
	// PowerLaw: preferential attachment (Barabási-Albert): each ultrapeer
	// dials Degree ultrapeers drawn with odds in proportion to their
	// degree plus one, and accepts up to PowerLawMaxPeers so that hubs
	// can form.
	PowerLaw Topology = "powerlaw"
	// Ring: each ultrapeer dials the one that joined before it, the first
	// dials the bootstrap node and the last of the initial ones closes the
	// ring to it; an ultrapeer that joins later dials the newest and the
	// bootstrap node.
	Ring Topology = "ring"
)

// Topologies lists the topologies.
var Topologies = []Topology{Random, PowerLaw, Ring}

// ParseTopology reads a topology name.
func ParseTopology(s string) (Topology, error) {
	for _, t := range Topologies {
		if string(t) == strings.ToLower(strings.TrimSpace(s)) {
			return t, nil
		}
	}
	return "", fmt.Errorf("netsim: unknown topology %q (want random, powerlaw or ring)", s)
}

// Topology parameters.
const (
	// Degree is how many ultrapeers an ultrapeer dials (random, powerlaw).
	Degree = 3
	// PowerLawMaxPeers is the ultrapeer connections a servent accepts in
	// a powerlaw overlay (servent.DefaultMaxPeers elsewhere).
	PowerLawMaxPeers = 32
)

// Defaults of Config.
const (
	DefaultNodes      = 1000
	DefaultUltrapeers = 0.1
	DefaultDuration   = 10 * time.Minute
	// DefaultStagger is the time between two of the initial servents'
	// starts, so that a thousand do not dial the bootstrap node at the
	// same instant; DefaultSettle the time they have after the last one
	// started before the run's time 0 (QRP tables reach the ultrapeers'
	// neighbours within servent.DefaultQRPUpdateInterval).
	DefaultStagger = 50 * time.Millisecond
	DefaultSettle  = 60 * time.Second
	// RealtimeStagger is the stagger of --realtime runs, which pay for
	// the warm-up in real time.
	RealtimeStagger = 10 * time.Millisecond
	// MaxNodes bounds --nodes: every servent needs an address of its own.
	MaxNodes = 1 << 16
	// MaxSessions bounds the servents one run starts, churn included.
	MaxSessions = 1 << 20
)

// Config is one run of the simulator.
type Config struct {
	Nodes      int     // mean number of servents online
	Ultrapeers float64 // share of them that are ultrapeers
	Topology   Topology
	Duration   time.Duration // measured run, after the warm-up
	Workload   *p2pmodel.Workload
	Churn      *p2pmodel.Churn // nil: none
	Seed       uint64
	Routing    Routing
	// Realtime runs on loopback TCP with the real clock; otherwise the
	// network is in memory (servent/memnet), and the caller runs Simulate
	// inside a testing/synctest bubble for virtual time (RunVirtual does).
	Realtime bool
	// Bind (Realtime only) puts every servent on this one address, each on
	// a port of its own, so that netsim processes on several hosts can
	// join one network; the per-address limits are lifted. Its port, if
	// any, is the bootstrap node's (0: a free one). Zero: each servent on
	// its own 127.x.y.z address.
	Bind netip.AddrPort
	// Bootstrap (Realtime only) is an existing servent to join through
	// instead of starting a bootstrap node.
	Bootstrap netip.AddrPort
	// Stagger and Settle shape the warm-up before time 0; zero means the
	// defaults (RealtimeStagger when Realtime).
	Stagger, Settle time.Duration
	// SearchWindow is how long each query is listened to (zero:
	// p2pnode.DefaultSearchWindow). The run goes on that long after
	// Duration for the last queries.
	SearchWindow time.Duration
	// Interval is the step of the time series; zero: Duration/100, at
	// least a second.
	Interval time.Duration
	// ShareRoot is where the share directories go (a temporary directory
	// under it); empty means DefaultShareRoot().
	ShareRoot string
	// Progress, if set, receives a line a simulated minute (and on the
	// main steps of the warm-up).
	Progress func(string)
}

func (c Config) withDefaults() (Config, error) {
	if c.Nodes == 0 {
		c.Nodes = DefaultNodes
	}
	if c.Topology == "" {
		c.Topology = Random
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Workload == nil {
		c.Workload = p2pmodel.DefaultWorkload()
	}
	if c.Routing == "" {
		c.Routing = QRPDQ
	}
	if c.Stagger == 0 {
		c.Stagger = DefaultStagger
		if c.Realtime {
			c.Stagger = RealtimeStagger
		}
	}
	if c.Settle == 0 {
		c.Settle = DefaultSettle
	}
	if c.Interval == 0 {
		c.Interval = max(time.Second, (c.Duration / 100).Round(time.Second))
	}
	if c.ShareRoot == "" {
		c.ShareRoot = DefaultShareRoot()
	}
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
	switch {
	case c.Nodes < 1 || c.Nodes > MaxNodes:
		return c, fmt.Errorf("netsim: nodes must be 1 to %d, got %d", MaxNodes, c.Nodes)
	case !(c.Ultrapeers > 0 && c.Ultrapeers <= 1):
		return c, fmt.Errorf("netsim: the ultrapeer share must be in (0, 1], got %v", c.Ultrapeers)
	case c.Duration < 0 || c.Stagger < 0 || c.Settle < 0 || c.SearchWindow < 0 || c.Interval < 0:
		return c, errors.New("netsim: durations must not be negative")
	case !c.Realtime && (c.Bind.IsValid() || c.Bootstrap.IsValid()):
		return c, errors.New("netsim: --bind and --bootstrap need --realtime: an in-memory network reaches no other host")
	case c.Bind.IsValid() && !c.Bind.Addr().Is4():
		return c, fmt.Errorf("netsim: bind address %v: want an IPv4 address (a Pong carries IPv4 only)", c.Bind.Addr())
	}
	if _, err := ParseRouting(string(c.Routing)); err != nil {
		return c, err
	}
	if _, err := ParseTopology(string(c.Topology)); err != nil {
		return c, err
	}
	return c, nil
}

// DefaultShareRoot is /dev/shm when it is a directory we may write, else
// os.TempDir(): a thousand servents' share directories are tens of
// thousands of small files, written and removed, which a tmpfs takes
// twenty times faster than an ext4 disk (2,000 files: 74 ms, 1.56 s).
func DefaultShareRoot() string {
	const shm = "/dev/shm"
	if d, err := os.MkdirTemp(shm, "govent-probe-"); err == nil {
		os.Remove(d)
		return shm
	}
	return os.TempDir()
}

// clock names the run's clock for the results.
func (c Config) clock() string {
	if c.Realtime {
		return "real"
	}
	return "virtual"
}
