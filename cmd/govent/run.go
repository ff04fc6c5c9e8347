package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/govent/govent/servent"
)

// envFor names the environment variable that can set a flag.
func envFor(flag string) []string {
	b := []byte("GOVENT_")
	for _, c := range flag {
		switch {
		case c == '-':
			b = append(b, '_')
		case 'a' <= c && c <= 'z':
			b = append(b, byte(c-'a'+'A'))
		default:
			b = append(b, byte(c))
		}
	}
	return []string{string(b)}
}

// logFlags are shared by every command that runs a servent.
func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: envFor("log-level")},
		&cli.StringFlag{Name: "log-format", Value: "console", Usage: "console or json", EnvVars: envFor("log-format")},
	}
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run a servent until interrupted",
		Description: "Joins the network through the --peer hosts (and the hosts they tell about), shares\n" +
			"--share and serves uploads on the listening port. SIGINT or SIGTERM shuts down cleanly\n" +
			"(Bye 200 to every peer); SIGHUP rescans the shared directory. Every flag can also be\n" +
			"set as GOVENT_<FLAG>, e.g. GOVENT_LISTEN=:6346.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Value: ":6346", Usage: "address for Gnutella, HTTP and GIV", EnvVars: envFor("listen")},
			&cli.StringSliceFlag{Name: "peer", Usage: "host:port to connect to (repeatable)", EnvVars: envFor("peer")},
			&cli.StringFlag{Name: "share", Usage: "directory to share", EnvVars: envFor("share")},
			&cli.StringFlag{Name: "data", Usage: "directory for the host cache, file index, SHA-1 cache and downloads", EnvVars: envFor("data")},
			&cli.IntFlag{Name: "max-peers", Value: servent.DefaultMaxPeers, Usage: "Gnutella connections to accept and keep", EnvVars: envFor("max-peers")},
			&cli.IntFlag{Name: "connections", Usage: "connections to keep up, dialling learnt hosts too (0: only the --peer hosts)", EnvVars: envFor("connections")},
			&cli.BoolFlag{Name: "firewalled", Usage: "we cannot accept incoming connections: ask for Pushes", EnvVars: envFor("firewalled")},
			&cli.BoolFlag{Name: "no-listen", Usage: "dial out only, no listening port (implies --firewalled; uploads go through Pushes)", EnvVars: envFor("no-listen")},
			&cli.StringFlag{Name: "advertise", Usage: "ip:port to put in Pongs and QueryHits (default: the listening address)", EnvVars: envFor("advertise")},
			&cli.StringFlag{Name: "mode", Value: "ultrapeer", Usage: "ultrapeer, leaf or auto (leaf first, ultrapeer once up long enough)", EnvVars: envFor("mode")},
			&cli.BoolFlag{Name: "allow-private", Usage: "learn private and loopback addresses from peers", EnvVars: envFor("allow-private")},
		}, logFlags()...),
		Action: func(c *cli.Context) error {
			log, err := newLogger(c.App.ErrWriter, c.String("log-level"), c.String("log-format"))
			if err != nil {
				return usageError(err)
			}
			defer log.Sync()
			cfg := servent.Config{
				Listen:       c.String("listen"),
				Peers:        c.StringSlice("peer"),
				ShareDir:     c.String("share"),
				DataDir:      c.String("data"),
				MaxPeers:     c.Int("max-peers"),
				Connections:  c.Int("connections"),
				Firewalled:   c.Bool("firewalled"),
				NoListen:     c.Bool("no-listen"),
				AllowPrivate: c.Bool("allow-private"),
				Logger:       log,
			}
			if cfg.Mode, err = servent.ParseMode(c.String("mode")); err != nil {
				return usageError(fmt.Errorf("--mode: %w", err))
			}
			if a := c.String("advertise"); a != "" {
				ap, err := netip.ParseAddrPort(a)
				if err != nil {
					return usageError(fmt.Errorf("--advertise: %w", err))
				}
				cfg.AdvertiseAddr = ap
			}
			return runServent(c.Context, cfg, log)
		},
	}
}

// runServent runs until SIGINT/SIGTERM (or ctx ends), rescanning on SIGHUP.
func runServent(ctx context.Context, cfg servent.Config, log *zap.Logger) error {
	s, err := servent.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Start(ctx); err != nil {
		return err
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
			log.Info("shutting down")
			return s.Close()
		}
	}
}

// usageError is a command-line mistake: exit status 2.
func usageError(err error) error { return &exitError{code: 2, err: err} }
