package main

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/govent/govent/cmd/internal/interrupt"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/servent/control"
)

// logFlags are shared by every command that runs a servent; level is the
// default of --log-level.
func logFlags(level string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", Value: level, Usage: "log `LEVEL`: debug, info, warn or error"},
		&cli.StringFlag{Name: "log-format", Value: "console", Usage: "log `FORMAT`: console or json"},
	}
}

// logRules check the logFlags.
func logRules() []flagRule {
	return []flagRule{
		{"log-level", func(c *cli.Command) (string, string) {
			if _, err := zapcore.ParseLevel(c.String("log-level")); err != nil {
				return c.String("log-level"), "want debug, info, warn or error"
			}
			return "", ""
		}},
		oneOf("log-format", "console", "json"),
	}
}

// logger builds the logger the logFlags ask for (checked by logRules).
func logger(c *cli.Command) (*zap.Logger, error) {
	return newLogger(c.Root().ErrWriter, c.String("log-level"), c.String("log-format"))
}

// runConfig is what `run` starts: a servent and, unless Control is "",
// its control API on Control.
type runConfig struct {
	servent.Config
	Control string
}

func runCommand(serve func(context.Context, runConfig, *zap.Logger) error) *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run a servent until interrupted",
		Description: "Joins the network through the --peer hosts (and the hosts they tell about) or, knowing\n" +
			"nobody, through host caches (--gwc, --uhc, else a built-in list; --no-bootstrap: none), shares\n" +
			"--share and serves uploads on the listening port. SIGINT or SIGTERM shuts down cleanly\n" +
			"(Bye 200 to every peer); SIGHUP rescans the shared directory.\n\n" +
			"With --data, the control API listens on --control (loopback by default) for govent\n" +
			"status, peers, shares, transfers, top, search --daemon and get --daemon, and serves\n" +
			"/metrics for Prometheus. Clients prove they may use it with the token in\n" +
			"DIR/control-token (mode 0600, made on first start); the daemon's address is in\n" +
			"DIR/control-addr while it runs. Downloads queued with get --daemon are kept in\n" +
			"DIR/downloads.json and resume when the daemon starts again.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Value: ":6346", Usage: "`ADDR` for Gnutella, HTTP and GIV ([IP]:PORT; port 0 picks one)"},
			&cli.StringSliceFlag{Name: "peer", Usage: "`HOST:PORT` to connect to (repeatable)"},
			&cli.StringFlag{Name: "share", Usage: "directory `DIR` to share", TakesFile: true},
			&cli.StringFlag{Name: "data", Usage: "directory `DIR` for the host cache, file index, SHA-1 cache and downloads", TakesFile: true},
			&cli.IntFlag{Name: "max-peers", Value: servent.DefaultMaxPeers, Usage: "Gnutella connections to accept and keep"},
			&cli.IntFlag{Name: "connections", Usage: "connections to keep up: every --peer, and learnt hosts for the rest", DefaultText: "one per --peer"},
			&cli.BoolFlag{Name: "firewalled", Usage: "we cannot accept incoming connections: ask for Pushes"},
			&cli.BoolFlag{Name: "no-listen", Usage: "dial out only, no listening port (implies --firewalled; uploads go through Pushes)"},
			&cli.BoolFlag{Name: "relay", Usage: "as an ultrapeer, relay transfers between firewalled leaves of ours and firewalled hosts"},
			&cli.IntFlag{Name: "relay-kbps", Value: servent.DefaultRelayKBps, Usage: "bandwidth cap of all relayed transfers together, in `KIB/S`"},
			&cli.IntFlag{Name: "relay-max", Value: servent.DefaultRelayMaxTransfers, Usage: "relayed transfers at once, waiting ones included"},
			&cli.IntFlag{Name: "upload-slots", Value: servent.DefaultMaxUploads, Usage: "uploads at once; further requests wait in the upload queue"},
			&cli.IntFlag{Name: "upload-slots-per-ip", Value: servent.DefaultMaxUploadsPerIP, Usage: "uploads at once to one IP address"},
			&cli.IntFlag{Name: "upload-queue", Value: servent.DefaultMaxUploadQueue, Usage: "requests that wait for an upload slot (PARQ queue); past it, 503 Queue full"},
			&cli.StringFlag{Name: "advertise", Usage: "`IP:PORT` to put in Pongs and QueryHits (default: the listening address)"},
			&cli.StringFlag{Name: "mode", Value: "ultrapeer", Usage: "the servent's `MODE`: ultrapeer, leaf or auto (leaf first, ultrapeer once up long enough)"},
			&cli.BoolFlag{Name: "allow-private", Usage: "learn private and loopback addresses from peers"},
			&cli.BoolFlag{Name: "no-tls", Usage: "no TLS: neither offer nor accept gtk-gnutella's TLS upgrade, nor take TLS on the listening port"},
			&cli.StringFlag{Name: "control", Value: control.DefaultAddr, Usage: "`ADDR` of the control API and /metrics (IP:PORT; off: none; needs --data for its token)"},
			&cli.StringSliceFlag{Name: "gwc", Usage: "GWebCache `URL` to ask for hosts when none is known (repeatable)"},
			&cli.StringSliceFlag{Name: "uhc", Usage: "UDP host cache `HOST:PORT` to ask for hosts when none is known (repeatable)"},
			&cli.StringSliceFlag{Name: "fallback-cache", Usage: "host cache (GWebCache `URL` or uhc:HOST:PORT) to ask instead of the built-in list, when no host, --peer, --gwc or --uhc is known (repeatable)"},
			&cli.BoolFlag{Name: "no-bootstrap", Usage: "never ask host caches for hosts (neither --gwc, --uhc nor the built-in list)"},
			&cli.BoolFlag{Name: "no-udp", Usage: "no UDP socket: no out-of-band replies, no UDP host caches"},
			&cli.IntFlag{Name: "per-address", Usage: "raise every per-address limit (connections in setup, ultrapeer and leaf slots, HTTP sessions) to `N`, for tools such as govent conform", DefaultText: "0, the built-in limits"},
		}, logFlags("info")...),
		Action: func(ctx context.Context, c *cli.Command) error {
			if err := wantArgs(c, 0, ""); err != nil {
				return err
			}
			rules := append([]flagRule{
				listenAddr("listen"),
				readablePath("share"),
				makableDir("data"),
				hostPorts("peer"),
				hostPorts("uhc"),
				cacheURLs("gwc"),
				intRange("max-peers", 1, math.MaxInt),
				intRange("connections", 0, math.MaxInt),
				intRange("per-address", 0, math.MaxInt),
				intRange("relay-kbps", 1, math.MaxInt/1024),
				intRange("relay-max", 1, math.MaxInt),
				intRange("upload-slots", 1, math.MaxInt),
				intRange("upload-slots-per-ip", 1, math.MaxInt),
				intRange("upload-queue", 1, maxUploadQueue),
				ipPorts("advertise"),
				oneOf("mode", "ultrapeer", "leaf", "auto"),
				controlAddr("control"),
			}, logRules()...)
			if err := checkFlags(ctx, c, rules...); err != nil {
				return err
			}
			log, err := logger(c)
			if err != nil {
				return usageError(err)
			}
			defer log.Sync()
			rc := runConfig{Control: c.String("control")}
			switch {
			case rc.Control == "off":
				rc.Control = ""
			case c.String("data") == "" && c.IsSet("control") && sourceOf(ctx, "control") == "":
				// Asked for on the command line; one from the environment
				// or the config file is a standing preference, and off
				// like the default when there is no --data.
				return usageError(fmt.Errorf("--control %s needs --data: the control API keeps its token there", rc.Control))
			case c.String("data") == "":
				log.Info("control API off: it keeps its token in --data, and there is none")
				rc.Control = ""
			}
			cfg := servent.Config{
				Listen:            c.String("listen"),
				Peers:             c.StringSlice("peer"),
				ShareDir:          c.String("share"),
				DataDir:           c.String("data"),
				MaxPeers:          c.Int("max-peers"),
				Connections:       c.Int("connections"),
				Firewalled:        c.Bool("firewalled"),
				NoListen:          c.Bool("no-listen"),
				AllowPrivate:      c.Bool("allow-private"),
				Relay:             c.Bool("relay"),
				RelayKBps:         c.Int("relay-kbps"),
				RelayMaxTransfers: c.Int("relay-max"),
				MaxUploads:        c.Int("upload-slots"),
				MaxUploadsPerIP:   c.Int("upload-slots-per-ip"),
				MaxUploadQueue:    c.Int("upload-queue"),
				NoTLS:             c.Bool("no-tls"),
				GWebCaches:        c.StringSlice("gwc"),
				UDPHostCaches:     c.StringSlice("uhc"),
				NoBootstrap:       c.Bool("no-bootstrap"),
				NoUDP:             c.Bool("no-udp"),
				// Used by the servent only when it knows no host at all
				// and no --peer is given.
				FallbackCaches: shippedCaches,
				Logger:         log,
			}
			if fc := c.StringSlice("fallback-cache"); len(fc) > 0 {
				cfg.FallbackCaches = fc
			}
			if cfg.Mode, err = servent.ParseMode(c.String("mode")); err != nil {
				return usageError(fmt.Errorf("--mode: %w", err))
			}
			if n := c.Int("per-address"); n > 0 {
				cfg.MaxPendingPerIP, cfg.MaxPeersPerIP, cfg.MaxLeavesPerIP, cfg.MaxHTTPSessionsPerIP = n, n, n, n
			}
			if a := c.String("advertise"); a != "" {
				cfg.AdvertiseAddr = netip.MustParseAddrPort(a) // checked by ipPort
			}
			rc.Config = cfg
			return serve(ctx, rc, log)
		},
	}
}

// maxUploadQueue bounds --upload-queue: each place is a little state kept
// for a host that may never poll again.
const maxUploadQueue = 100000

// runServent runs until SIGINT/SIGTERM (or ctx ends), rescanning on SIGHUP.
func runServent(ctx context.Context, rc runConfig, log *zap.Logger) error {
	// A log whose reader went (run 2>&1 | tee log, and Ctrl-C, which ends
	// tee first) loses its lines, not the servent: without this, the next
	// line, "shutting down" at the latest, killed it by SIGPIPE before it
	// said Bye or saved its host cache, upload queue and TLS cache.
	catchEPIPE()
	// New takes the data directory's lock before anything is written
	// there: a second run on it is refused here, having written neither a
	// token nor an address, whether or not the first has a control API.
	s, err := servent.New(rc.Config)
	if err != nil {
		return err
	}
	ctx, stop := interrupt.Context(ctx)
	defer stop()
	// The control API's token and address are taken before the servent
	// joins the network, so a run that cannot serve them has dialled,
	// listened and asked no host cache.
	var ctl *controlPrep
	if rc.Control != "" {
		if ctl, err = prepareControl(rc); err != nil {
			s.Close()
			return err
		}
	}
	if err := s.Start(ctx); err != nil {
		ctl.abandon()
		return addrInUse(err, "listen", rc.Listen)
	}
	stopControl := func() {}
	if ctl != nil {
		if stopControl, err = startControl(ctx, s, rc, ctl, log); err != nil {
			s.Close()
			return err
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			log.Info("SIGHUP: rescanning the shared directory")
			s.Rescan()
		case <-ctx.Done():
			// Close says Bye 200 to every peer, though ctx is done: Start's
			// context bounds only Start. A second signal kills at once.
			stop()
			log.Info("shutting down")
			stopControl()
			return s.Close()
		}
	}
}
