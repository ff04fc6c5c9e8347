// Package interrupt catches SIGINT (Ctrl-C) and SIGTERM from the start of
// the govent process, so that one arriving while the program initialises
// or reads its command line reaches the command as if it came a moment
// later, once the command listens: a command that stops on Ctrl-C then
// ends the way it ends for any Ctrl-C, with its message and exit status,
// rather than being killed by the signal.
//
// Its init starts catching: a package with few imports is initialised
// among the first, well before the heavy ones (gopacket's layers take
// milliseconds). A test binary is left alone: there nothing would listen,
// and Ctrl-C must stop `go test`.
//
// The states: holding (the command is not known yet, or it is one that
// listens but has not yet started to: a signal is kept for it),
// listening (a signal cancels the command's context) and default (a
// signal kills the process, as if none was caught: a command that does
// not listen, or one that stopped listening).
package interrupt

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"
)

var state struct {
	mu       sync.Mutex
	catching bool
	dflt     bool
	held     os.Signal
	cancel   context.CancelCauseFunc // the listening command's, or nil
}

func init() {
	if testing.Testing() {
		return
	}
	state.catching = true
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		for sig := range ch {
			deliver(sig)
		}
	}()
}

func deliver(sig os.Signal) {
	state.mu.Lock()
	defer state.mu.Unlock()
	switch {
	case state.cancel != nil:
		state.cancel(received(sig))
	case state.dflt:
		die(sig)
	case state.held == nil:
		state.held = sig
	}
}

// Enter is called as a command's action starts; listens says whether it
// stops on a signal through Context. One that does not gets the default
// behaviour from here on, and dies now of a signal held for it.
func Enter(listens bool) {
	if !listens {
		Default()
	}
}

// Default gives SIGINT and SIGTERM their default action from here on:
// once the command is done, or for a process that never listens. A
// signal held until now, which no command took, kills the process.
func Default() {
	state.mu.Lock()
	defer state.mu.Unlock()
	state.dflt, state.cancel = true, nil
	if state.held != nil {
		die(state.held)
	}
}

// Context is signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
// that also takes over a signal that arrived before it was called: the
// context is then cancelled at once. Its cause names the signal, as
// NotifyContext's does. stop also restores the default
// action, so a second Ctrl-C after it kills.
func Context(ctx context.Context) (_ context.Context, stop context.CancelFunc) {
	state.mu.Lock()
	defer state.mu.Unlock()
	if !state.catching {
		return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	if state.held != nil {
		cancel(received(state.held))
		state.held = nil
	}
	state.dflt, state.cancel = false, cancel
	return ctx, func() {
		state.mu.Lock()
		defer state.mu.Unlock()
		state.dflt, state.cancel = true, nil
		cancel(nil)
	}
}

// signalError is the cause of a context cancelled by a signal, with the
// text signal.NotifyContext gives ("interrupt signal received"); it Is
// context.Canceled, as that cause is.
type signalError string

func (e signalError) Error() string { return string(e) }

func (e signalError) Is(target error) bool { return target == context.Canceled }

func received(sig os.Signal) error { return signalError(sig.String() + " signal received") }

// die ends the process by sig with its default action, as if it had never
// been caught: a shell sees "killed by SIGINT" (status 130).
func die(sig os.Signal) {
	signal.Reset(sig)
	if s, ok := sig.(syscall.Signal); ok {
		_ = syscall.Kill(os.Getpid(), s)
		time.Sleep(time.Second) // the signal is on its way
		os.Exit(128 + int(s))
	}
	os.Exit(1)
}
