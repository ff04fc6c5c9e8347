package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/govent/govent/servent"
	"github.com/govent/govent/servent/control"
	"github.com/govent/govent/wire/neterr"
)

// controlAddr: IP:PORT (port 0 picks one), or off; the IP is named, as
// the API listens on loopback unless told which other address.
func controlAddr(flag string) flagRule {
	return each(flag, func(s string) string {
		if s == "off" {
			return ""
		}
		if host, _, err := net.SplitHostPort(s); err == nil && host == "" {
			return "want IP:PORT, such as 127.0.0.1:6347, or off"
		}
		return bindAddrProblem(s, "want IP:PORT, such as 127.0.0.1:6347, or off")
	})
}

// controlPrep is what the control API needs before the servent starts:
// its token, and its address already bound.
type controlPrep struct {
	token string
	ln    net.Listener
}

// prepareControl reads (or creates) the token in rc.DataDir and binds
// rc.Control.
func prepareControl(rc runConfig) (*controlPrep, error) {
	tok, err := control.LoadOrCreateToken(rc.DataDir)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", rc.Control)
	if err != nil {
		return nil, fmt.Errorf("control API: %w", addrInUse(neterr.Plain(err), "control", rc.Control))
	}
	return &controlPrep{token: tok, ln: ln}, nil
}

// addrInUse adds to err, when it says that addr (the value of --flag) is
// taken, how to get a port of one's own: the same host with port 0.
func addrInUse(err error, flag, addr string) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return err
	}
	free := "HOST:0"
	if host, _, splitErr := net.SplitHostPort(addr); splitErr == nil {
		free = net.JoinHostPort(host, "0")
	}
	return fmt.Errorf("%w (another servent uses it; pass --%s %s or another port)", err, flag, free)
}

// abandon releases a prepared control API that will not be started.
func (p *controlPrep) abandon() {
	if p != nil {
		p.ln.Close()
	}
}

// startControl starts the control API of s on the address prepareControl
// bound, with the download queue in the data directory. The function it
// returns stops it: open streams end, running downloads stop (to resume at
// the next start), the address file goes.
func startControl(ctx context.Context, s *servent.Servent, rc runConfig, p *controlPrep, log *zap.Logger) (func(), error) {
	q, err := control.NewQueue(s, rc.DataDir, 0, log.Named("downloads"))
	if err != nil {
		p.abandon()
		return nil, err
	}
	srv, err := control.New(control.Config{Servent: s, Token: p.token, Queue: q, Logger: log.Named("control")})
	if err != nil {
		p.abandon()
		return nil, err
	}
	ln := p.ln
	bound := ln.Addr().(*net.TCPAddr)
	// As the user gave it, with the port it got: "0.0.0.0:PORT", not the
	// socket's "[::]:PORT".
	host, _, _ := net.SplitHostPort(rc.Control) // checked: IP:PORT
	addr := net.JoinHostPort(host, strconv.Itoa(bound.Port))
	if !bound.IP.IsLoopback() {
		log.Warn("the control API listens beyond loopback: its token travels in clear", zap.String("addr", addr))
	}
	if err := control.WriteAddr(rc.DataDir, addr); err != nil {
		p.abandon()
		return nil, err
	}
	q.Start(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil {
			log.Warn("control API stopped", zap.Error(err))
		}
	}()
	log.Info("control API", zap.String("addr", addr), zap.String("token", rc.DataDir+"/"+control.TokenFile))
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
		q.Close()
		if err := control.RemoveAddr(rc.DataDir); err != nil {
			log.Warn("control address file not removed", zap.Error(err))
		}
	}, nil
}
