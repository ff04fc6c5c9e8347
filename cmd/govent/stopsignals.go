package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/govent/govent/cmd/internal/interrupt"
)

// stopContext is interrupt.Context (Ctrl-C, SIGTERM) for a verb that
// cleans up after itself (demo, netsim, workload), which SIGHUP, its
// terminal gone, ends too. stop restores the default action of all three.
func stopContext(ctx context.Context) (_ context.Context, stop context.CancelFunc) {
	ctx, stopInt := interrupt.Context(ctx)
	ctx, stopHup := signal.NotifyContext(ctx, syscall.SIGHUP)
	return ctx, func() { stopHup(); stopInt() }
}

// stoppableRun is how a verb that cleans up after itself (netsim,
// workload) starts its run: a write to a closed output fails rather than
// killing it (catchEPIPE), and its ctx ends on stopContext's signals or
// by halt, which its output writers call (stopOnError) with the cause.
// done, deferred, ends both.
func stoppableRun(ctx context.Context) (_ context.Context, halt context.CancelCauseFunc, done func()) {
	catchEPIPE()
	ctx, stop := stopContext(ctx)
	ctx, halt = context.WithCancelCause(ctx)
	return ctx, halt, func() { halt(nil); stop() }
}

// stopCause is " (why)" for a run that stopContext's ctx ended: the
// signal (Ctrl-C, SIGTERM, SIGHUP) or its output closed, as demo says it;
// "" for a ctx cancelled without a cause (a caller's, as in tests).
func stopCause(ctx context.Context) string {
	cause := context.Cause(ctx)
	if cause == nil || cause == context.Canceled { // ==: a signal's cause Is context.Canceled too
		return ""
	}
	return fmt.Sprintf(" (%v)", cause)
}

// catchEPIPE makes a write to a closed standard output or error (govent
// demo | head -1) fail with EPIPE, instead of killing the process before
// its defers remove what it wrote; the verb's writers, through
// stopOnError, then end its run. (run's log just loses its lines: the
// servent goes on, and shuts down cleanly on its signal.) It holds until the process exits: the
// verb's last message, that it was interrupted, goes to the closed
// standard error after its defers (demo 2>&1 | head -1), and must not
// kill it by SIGPIPE (status 141) either. (SIGPIPE is no stop signal: it
// also comes for a socket whose peer went, which is routine.)
func catchEPIPE() {
	pipeOnce.Do(func() { signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE) })
}

var pipeOnce sync.Once

// errOutputClosed is the cause of a run ended by a write to a closed
// standard output or error.
var errOutputClosed = errors.New("output closed")

// stopOnError is w that ends the run (cancel) when a write to it fails.
type stopOnError struct {
	w      io.Writer
	cancel context.CancelCauseFunc
}

func (s stopOnError) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		s.cancel(fmt.Errorf("%w: %v", errOutputClosed, err))
	}
	return n, err
}
