package servent

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/wire"
)

// Config is the servent's configuration. The zero value is usable: it listens
// on every interface at DefaultPort, shares nothing, keeps state nowhere and
// dials nobody.
type Config struct {
	// Listen is the TCP address of the one listening port (Gnutella, HTTP
	// and GIV). Empty means ":6346". Port 0 picks a free port.
	Listen string
	// Peers are hosts (host:port) to connect to and keep connected: each
	// is retried, 5 s after a failure doubling to 45 s, for as long as the
	// servent runs (a name that does not resolve, every 45 s), and every
	// failure is logged with its reason and the next attempt (at info the
	// first, a new reason, and then every 5 minutes).
	Peers []string
	// ShareDir is the directory tree to share; empty shares nothing.
	ShareDir string
	// DataDir keeps the host cache, the file index and the SHA-1 cache
	// across restarts; empty keeps nothing. It is one servent's at a time:
	// New locks it (LockFile) until Close.
	DataDir string
	// DownloadDir receives downloads; empty means DataDir/downloads.
	DownloadDir string

	// MaxPeers is the number of Gnutella connections accepted and kept.
	MaxPeers int
	// Connections is how many connections the servent keeps up: every
	// configured peer, and hosts from the host cache for what they leave
	// (a configured peer that is down, say). Zero means len(Peers).
	Connections int
	// HashBeforeStart makes Start hash the whole library before it
	// returns, so the first queries are answered (tests, the demo).
	// Otherwise hashing runs in the background and unhashed files are not
	// offered (every result carries its urn:sha1).
	HashBeforeStart bool
	// OnEvent, if set, is called for connections, searches and routed hits
	// (the demo prints them). It must not block.
	OnEvent func(Event)
	// Firewalled says we cannot accept incoming connections: QueryHits carry
	// the push flag and we do not answer firewalled queriers.
	Firewalled bool
	// NoListen runs without a listening port at all, as a host behind a
	// NAT without port forwarding: it only dials out, uploads only through
	// Pushes, and implies Firewalled.
	NoListen bool
	// Transient: the servent runs for one command (govent search, get,
	// browse), on a port that is gone when it ends. It gives no address
	// as a host to keep: no Listen-IP in its handshakes, and its own
	// Pongs name 0.0.0.0:0, as a servent without a port does, so that
	// its peers do not cache it and dial it after it has left (as
	// gtk-gnutella keeps a node only when it was a genuine, lasting one).
	// QueryHits and Pushes still carry its address: results reach it,
	// GIVs and downloads too. It dials as a leaf (asked again as an
	// ultrapeer by a host that is a leaf), so it takes a leaf slot, not
	// one of the ultrapeer slots its address's lasting peers need.
	Transient bool
	// AdvertiseAddr is the address put in our Pongs and QueryHits. Zero
	// means the listener's address or, when that is unspecified, the one
	// AddressQuorum peers agree on in Remote-IP (127.0.0.1 until they do).
	AdvertiseAddr netip.AddrPort
	// AddressQuorum is how many peers, each on a network of its own (a
	// public peer's /24 or IPv6 /48, a private peer's address), must name
	// the same address in Remote-IP before we take it as ours, so that one
	// lying peer cannot choose the address in our Pongs and QueryHits.
	// Zero means DefaultAddressQuorum.
	AddressQuorum int
	// ServentGUID identifies us in QueryHits and Pushes. Zero means a new
	// random GUID (persisted in DataDir when there is one).
	ServentGUID wire.GUID
	// Handshake04 makes outgoing connections use the old 0.4 handshake.
	Handshake04 bool
	// Network is how the servent listens and dials: nil means the
	// operating system's TCP stack. Tests and simulations pass an
	// in-memory network (servent/memnet) so that many servents run in one
	// process and, under testing/synctest, in virtual time. A Network
	// that also has net.Resolver's LookupNetIP resolves the names in
	// Peers; others use the system resolver.
	Network Network
	// AllowPrivate lets the host cache learn private and loopback
	// addresses from peers (tests and the loopback demo need it).
	AllowPrivate bool

	// HandshakeTimeout bounds each connection's whole handshake. On an
	// accepted connection it bounds the whole first phase with one
	// deadline: the first bytes and the handshake, the first HTTP request
	// head, or the GIV line.
	HandshakeTimeout time.Duration
	// KeepAlive is how long a link may stay silent before we ping it;
	// a peer silent for twice as long is closed (Bye 405).
	KeepAlive time.Duration
	// MaxPayload is the largest descriptor payload accepted.
	MaxPayload uint32
	// SendQueueBytes bounds each connection's send queue.
	SendQueueBytes int
	// StuckAfter is how long a connection's send queue may stay in flow
	// control before the peer is deemed stuck and closed with Bye 502.
	// Zero means sendq.DefaultStuckAfter.
	StuckAfter time.Duration
	// MaxMalformed is how many unparsable descriptors a connection may
	// send before it is closed with Bye 400.
	MaxMalformed int
	// DefaultTTL is the TTL of our own Queries and Pings.
	DefaultTTL uint8
	// RescanInterval is how often the shared library is rescanned.
	RescanInterval time.Duration
	// MaxUploads and MaxUploadsPerIP limit concurrent uploads.
	MaxUploads, MaxUploadsPerIP int
	// MaxUploadQueue bounds the requests waiting for an upload slot in
	// our PARQ queue; past it, "503 Queue full".
	MaxUploadQueue int
	// ResearchInterval is how long a download by SHA-1 waits before it
	// searches the network for the urn:sha1 again, for more sources; the
	// wait doubles after each search, up to 8 times the interval.
	// Zero means DefaultResearchInterval; negative never re-searches.
	ResearchInterval time.Duration

	// Per-address limits, so that one address cannot lock everyone else
	// out (an IPv6 address counts as its /64). Tools that open many
	// connections from one address (a conformance suite, a fuzzer, a
	// loopback test network) raise them.
	//
	// MaxPendingPerIP bounds the accepted connections from one address
	// still in their first phase (before their handshake, first HTTP
	// request head or GIV line is in); past it, connections are refused.
	// Zero means DefaultMaxPendingPerIP.
	MaxPendingPerIP int
	// MaxPeersPerIP and MaxLeavesPerIP bound the ultrapeer (or neighbour)
	// and leaf slots that peers dialling us from one address may hold; past
	// them the handshake is answered 503. Zero means DefaultMaxPeersPerIP
	// and DefaultMaxLeavesPerIP.
	MaxPeersPerIP, MaxLeavesPerIP int
	// MaxHTTPSessions bounds the HTTP connections served at once, with or
	// without an upload slot (when full, the keep-alive connection idle
	// longest without a slot is closed for the newcomer, else it gets 503);
	// MaxHTTPSessionsPerIP bounds them per address. Zero means the
	// uploader's defaults: httpxfer.DefaultMaxSessions or 2*MaxUploads,
	// httpxfer.DefaultMaxSessionsPerIP or MaxUploadsPerIP+2, the larger.
	MaxHTTPSessions, MaxHTTPSessionsPerIP int

	// Mode is the servent's role: ModeUltrapeer (the default), ModeLeaf or
	// ModeAuto (see roles.go).
	Mode Mode
	// MaxLeaves is how many leaves an ultrapeer accepts, on top of its
	// MaxPeers ultrapeer connections.
	MaxLeaves int
	// LeafUltrapeers is how many ultrapeers a leaf keeps connected and
	// accepts; it also caps the connections a leaf dials.
	LeafUltrapeers int
	// PromoteAfter is how long an auto-mode leaf must be up before it may
	// become an ultrapeer. Default router.DefaultPromoteAfter (10
	// minutes).
	PromoteAfter time.Duration
	// RoleCheckInterval is how often an auto-mode servent reconsiders its
	// role.
	RoleCheckInterval time.Duration
	// UploadKBps is our upload bandwidth in KiB/s, as the user configures
	// it; an auto-mode leaf is promoted only with at least
	// router.UltrapeerMinKBps.
	UploadKBps int
	// NoDeflateIn stops us offering to read deflate (no Accept-Encoding):
	// peers then send to us uncompressed.
	NoDeflateIn bool
	// NoDeflateOut stops us compressing what we send, whatever the peer
	// accepts.
	NoDeflateOut bool
	// NoTLS stops us offering, accepting or answering TLS on links and on
	// the listening port (gtk-gnutella's "Upgrade: TLS/1.0", servent/tls.go):
	// everything is then plain. With TLS on (the default) the certificate
	// is kept in DataDir, or made afresh at each start without one.
	NoTLS bool
	// MaxDeflateOut bounds the connections we compress for: each costs
	// about 800 KiB (compress/flate allocates fixed tables at every level).
	// Past it, new links are sent uncompressed. Zero means 64.
	MaxDeflateOut int
	// NoQRPFilter makes an ultrapeer forward every Query to every leaf and,
	// on its last hop, to every ultrapeer neighbour, whatever their query
	// route tables say: plain flooding, for measurements (govent netsim's
	// flood baseline).
	NoQRPFilter bool
	// NoDynamicQuery makes an ultrapeer flood its leaves' Queries to every
	// neighbour at once, with the TTL they came with, as any other Query,
	// instead of probing and widening step by step (for measurements, with
	// NoQRPFilter).
	NoDynamicQuery bool
	// QRPBytesPerMinute and QRPPatchesPerMinute budget the query routing
	// work a peer may cause: patch bytes inflated and applied (a table of
	// 2^21 slots costs its whole patch, 2 MiB at 8-bit entries, however
	// small its PATCH on the wire), and PATCH messages. Each refills at
	// its rate up to one minute's worth; a link over either is closed with
	// Bye 413. The links from one address share its budget, which
	// outlives them: reconnecting does not refill it. Zero means DefaultQRPBytesPerMinute and
	// DefaultQRPPatchesPerMinute.
	QRPBytesPerMinute, QRPPatchesPerMinute int
	// QRPUpdateInterval is the least time between two updates of the
	// aggregated table an ultrapeer sends its ultrapeer neighbours.
	QRPUpdateInterval time.Duration
	// DynamicQueryResults is how many results a leaf's Query should get
	// before dynamic querying stops widening it.
	DynamicQueryResults int
	// DynamicQueryProbe is how many ultrapeers the first, TTL-1 probe of a
	// leaf's Query goes to.
	DynamicQueryProbe int
	// DynamicQueryWait is how long dynamic querying waits for results after
	// each step before it widens the Query further.
	DynamicQueryWait time.Duration

	// Relay offers this servent, as an ultrapeer, as a rendezvous for its
	// firewalled leaves that download from firewalled hosts: announced in
	// the handshake (X-Govent-Relay: 1), it splices the downloader's
	// connection to the uploader's GIV connection (relay.go). Off by
	// default: it spends our bandwidth on other people's transfers.
	Relay bool
	// RelayKBps caps the bandwidth of all relayed transfers together, in
	// KiB/s counting both directions. Zero means DefaultRelayKBps.
	RelayKBps int
	// RelayMaxTransfers caps the relayed transfers at once, slots still
	// waiting for their two sides included. Zero means
	// DefaultRelayMaxTransfers.
	RelayMaxTransfers int
	// RelayMaxBytes caps the bytes one relayed transfer may move; past
	// it the relay cuts both connections. Zero means DefaultRelayMaxBytes.
	RelayMaxBytes int64
	// RelaySlotTimeout is how long a granted slot waits for both the
	// downloader and the uploader to connect. Zero means
	// DefaultRelaySlotTimeout.
	RelaySlotTimeout time.Duration
	// NoUDP runs without the UDP socket (one is bound on the listening
	// port's number otherwise; see udp.go): no out-of-band replies, no UDP
	// host caches.
	NoUDP bool
	// UDPRatePerSource is how many datagrams one source address may send
	// us per second; the rest are dropped and counted. Zero means
	// DefaultUDPRatePerSource.
	UDPRatePerSource int

	// Bootstrap (bootstrap.go): where to find hosts when the host cache
	// has none to dial. GWebCaches are GWebCache URLs (http or https),
	// UDPHostCaches host:port of UDP host caches; both as the user
	// configured them. FallbackCaches are used only when the host cache
	// is empty at Start and neither Peers nor caches are configured:
	// `govent run` passes its shipped list there, nothing else does (the
	// zero Config asks no cache at all). An entry is a GWebCache
	// URL or "uhc:host:port". NoBootstrap turns all of it off.
	GWebCaches     []string
	UDPHostCaches  []string
	FallbackCaches []string
	NoBootstrap    bool

	// Logger receives the servent's logs; nil discards them.
	Logger *zap.Logger
}

// Defaults used for zero fields.
const (
	DefaultPort             = 6346
	DefaultMaxPeers         = 8
	DefaultMaxDeflateOut    = 64
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultKeepAlive        = 30 * time.Second
	DefaultSendQueueBytes   = 256 << 10
	DefaultMaxMalformed     = 5
	DefaultTTL              = 7
	DefaultRescanInterval   = 10 * time.Minute
	DefaultMaxUploads       = 8
	DefaultMaxUploadsPerIP  = 2
	DefaultMaxUploadQueue   = 500 // as gtk-gnutella's default
	DefaultResearchInterval = 5 * time.Minute
	DefaultMaxLeaves        = 30
	DefaultLeafUltrapeers   = 3
	// DefaultRoleCheckInterval is how often an auto-mode servent asks
	// router.AutoRole whether to change role.
	DefaultRoleCheckInterval   = time.Minute
	DefaultQRPUpdateInterval   = 30 * time.Second
	DefaultDynamicQueryResults = 150
	DefaultDynamicQueryProbe   = 3
	DefaultDynamicQueryWait    = 2400 * time.Millisecond
	DefaultRelayKBps           = 256
	DefaultRelayMaxTransfers   = 4
	DefaultRelayMaxBytes       = 1 << 30
	DefaultRelaySlotTimeout    = time.Minute
	// DefaultUDPRatePerSource is generous for one host (an OOB reply is
	// a LIME/12 and a few hits) and small next to what a flood costs.
	DefaultUDPRatePerSource = 50
	// DefaultBootstrapConnections is the links a servent keeps when it
	// bootstraps and Connections is zero.
	DefaultBootstrapConnections = 4
	// maxTTL is the largest TTL we accept for our own descriptors: the 0.6
	// draft says a new query's TTL must be at most 10 and should be at most 7.
	maxTTL = 7
)

// Per-address defaults: a few connections of each kind is what one host
// (or one NAT) needs; there are 8 ultrapeer and 30 leaf slots.
const (
	DefaultMaxPendingPerIP = 8
	DefaultMaxPeersPerIP   = 2
	DefaultMaxLeavesPerIP  = 3
	// DefaultAddressQuorum is gtk-gnutella's: three peers from three
	// networks.
	DefaultAddressQuorum = 3
	// DefaultQRPBytesPerMinute lets a leaf send four whole tables of the
	// largest size (2^21 slots at 8-bit entries) a minute; a LimeWire-sized
	// table (2^16 slots, 4-bit) costs 32 KiB of it.
	DefaultQRPBytesPerMinute = 8 << 20
	// DefaultQRPPatchesPerMinute is two of the longest sequences (255
	// PATCHes each) a minute, and some.
	DefaultQRPPatchesPerMinute = 600
)

// withDefaults fills the zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.NoListen {
		c.Firewalled = true
	}
	if c.Listen == "" {
		c.Listen = fmt.Sprintf(":%d", DefaultPort)
	}
	if c.MaxDeflateOut == 0 {
		c.MaxDeflateOut = DefaultMaxDeflateOut
	}
	if c.MaxPeers == 0 {
		c.MaxPeers = DefaultMaxPeers
	}
	if c.MaxPeers < 0 {
		return c, fmt.Errorf("MaxPeers %d is negative", c.MaxPeers)
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = wire.DefaultMaxPayload
	}
	if c.SendQueueBytes == 0 {
		c.SendQueueBytes = DefaultSendQueueBytes
	}
	if c.MaxMalformed == 0 {
		c.MaxMalformed = DefaultMaxMalformed
	}
	if c.DefaultTTL == 0 {
		c.DefaultTTL = DefaultTTL
	}
	if c.DefaultTTL > maxTTL {
		return c, fmt.Errorf("TTL %d is over the maximum of %d", c.DefaultTTL, maxTTL)
	}
	if c.RescanInterval == 0 {
		c.RescanInterval = DefaultRescanInterval
	}
	if c.MaxUploads == 0 {
		c.MaxUploads = DefaultMaxUploads
	}
	if c.ResearchInterval == 0 {
		c.ResearchInterval = DefaultResearchInterval
	}
	if c.MaxUploadsPerIP == 0 {
		c.MaxUploadsPerIP = DefaultMaxUploadsPerIP
	}
	// Zero takes the default (httpxfer's for the HTTP session limits).
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxPendingPerIP", &c.MaxPendingPerIP, DefaultMaxPendingPerIP},
		{"MaxPeersPerIP", &c.MaxPeersPerIP, DefaultMaxPeersPerIP},
		{"MaxLeavesPerIP", &c.MaxLeavesPerIP, DefaultMaxLeavesPerIP},
		{"MaxHTTPSessions", &c.MaxHTTPSessions, 0},
		{"MaxHTTPSessionsPerIP", &c.MaxHTTPSessionsPerIP, 0},
		{"AddressQuorum", &c.AddressQuorum, DefaultAddressQuorum},
		{"QRPBytesPerMinute", &c.QRPBytesPerMinute, DefaultQRPBytesPerMinute},
		{"QRPPatchesPerMinute", &c.QRPPatchesPerMinute, DefaultQRPPatchesPerMinute},
		{"RelayKBps", &c.RelayKBps, DefaultRelayKBps},
		{"RelayMaxTransfers", &c.RelayMaxTransfers, DefaultRelayMaxTransfers},
		{"MaxUploadQueue", &c.MaxUploadQueue, DefaultMaxUploadQueue},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("%s %d is negative", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.Mode > ModeAuto {
		return c, fmt.Errorf("unknown mode %d", c.Mode)
	}
	if c.MaxLeaves == 0 {
		c.MaxLeaves = DefaultMaxLeaves
	}
	if c.LeafUltrapeers == 0 {
		c.LeafUltrapeers = DefaultLeafUltrapeers
	}
	if c.MaxLeaves < 0 || c.LeafUltrapeers < 0 {
		return c, fmt.Errorf("MaxLeaves %d or LeafUltrapeers %d is negative", c.MaxLeaves, c.LeafUltrapeers)
	}
	if c.RoleCheckInterval == 0 {
		c.RoleCheckInterval = DefaultRoleCheckInterval
	}
	if c.QRPUpdateInterval == 0 {
		c.QRPUpdateInterval = DefaultQRPUpdateInterval
	}
	if c.DynamicQueryResults == 0 {
		c.DynamicQueryResults = DefaultDynamicQueryResults
	}
	if c.DynamicQueryProbe == 0 {
		c.DynamicQueryProbe = DefaultDynamicQueryProbe
	}
	if c.DynamicQueryWait == 0 {
		c.DynamicQueryWait = DefaultDynamicQueryWait
	}
	if c.RelayMaxBytes < 0 || c.RelaySlotTimeout < 0 {
		return c, fmt.Errorf("RelayMaxBytes %d or RelaySlotTimeout %v is negative", c.RelayMaxBytes, c.RelaySlotTimeout)
	}
	if c.RelayMaxBytes == 0 {
		c.RelayMaxBytes = DefaultRelayMaxBytes
	}
	if c.RelaySlotTimeout == 0 {
		c.RelaySlotTimeout = DefaultRelaySlotTimeout
	}
	if c.UDPRatePerSource < 0 {
		return c, fmt.Errorf("UDPRatePerSource %d is negative", c.UDPRatePerSource)
	}
	if c.UDPRatePerSource == 0 {
		c.UDPRatePerSource = DefaultUDPRatePerSource
	}
	if c.NoBootstrap {
		c.GWebCaches, c.UDPHostCaches, c.FallbackCaches = nil, nil, nil
	}
	// A servent that may bootstrap keeps a few links, from what the caches
	// give; the fallback list counts only where startBootstrap would use
	// it, with no peer and no cache configured.
	own := len(c.GWebCaches) + len(c.UDPHostCaches)
	if c.Connections == 0 && (own > 0 || len(c.Peers) == 0 && len(c.FallbackCaches) > 0) {
		c.Connections = max(len(c.Peers), DefaultBootstrapConnections)
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Network == nil {
		c.Network = osNetwork{}
	}
	return c, nil
}

// Network is what the servent listens and dials through. net.Dialer's
// DialContext and net.ListenConfig's Listen have these signatures;
// memnet.Network implements both.
type Network interface {
	Listen(ctx context.Context, network, address string) (net.Listener, error)
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// TCPFrom is the operating system's TCP stack, dialling from the local
// address ip, so that the servent's peers see it at the address it
// listens on: many servents of one process on loopback (every 127.x.y.z
// is local on Linux) are then told apart by address, as the per-address
// limits expect. Tools that run many servents (netsim, the soak) use it.
func TCPFrom(ip netip.Addr) Network { return osNetwork{from: ip} }

// osNetwork is the operating system's TCP stack, dialling from from when
// it is set.
type osNetwork struct{ from netip.Addr }

func (osNetwork) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, network, address)
}

func (o osNetwork) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	if o.from.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(o.from, 0))
	}
	return d.DialContext(ctx, network, address)
}
