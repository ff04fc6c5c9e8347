// Package neterr says a failed network operation in plain words: what was
// being done, to which address, and why ("connect to 127.0.0.1:1:
// connection refused", "listen on 127.0.0.1:6346: address already in
// use"), where the standard library says "dial tcp
// 127.91.57.76:0->127.0.0.1:1: connect: connection refused": the network,
// our own source address and the system call, words of Go's and not of
// what the user asked for.
//
// The error it returns wraps the original: errors.Is (syscall.ECONNREFUSED,
// context.Canceled) and errors.As (*net.OpError, net.Error) find what they
// found before, and it is a net.Error itself. Standard library only, and
// no sockets: every layer that dials or listens (servent, httpxfer, the
// tools) uses it on the error its dial or listen returned.
package neterr

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
)

// Error is a *net.OpError said in plain words.
type Error struct {
	op   *net.OpError
	bare bool // only the cause: the caller says what and to what
}

// Plain returns err in plain words when it is a *net.OpError: what was
// being done, to which address, and why. It is for a caller whose
// message does not name the address. Any other error comes back as it is.
func Plain(err error) error {
	if op := opError(err); op != nil {
		return &Error{op: op}
	}
	return err
}

// Cause is Plain's error said as its cause alone ("connection refused"),
// for a caller whose message already says what it did and to what
// ("connecting to A: connection refused"). Any other error comes back as
// it is.
func Cause(err error) error {
	if op := opError(err); op != nil {
		return &Error{op: op, bare: true}
	}
	return err
}

// opError is err's *net.OpError when err is one, or one that Plain or
// Cause made; nil otherwise (a wrapped one keeps its wrapper's words).
func opError(err error) *net.OpError {
	switch e := err.(type) {
	case *net.OpError:
		return e
	case *Error:
		return e.op
	}
	return nil
}

func (e *Error) Error() string {
	cause := causeText(e.op)
	if e.bare {
		return cause
	}
	what := e.op.Op
	switch e.op.Op {
	case "dial":
		what = "connect to"
	case "listen":
		what = "listen on"
	case "accept":
		what = "accept on"
	case "read":
		what = "read from"
	case "write":
		what = "write to"
	}
	if strings.HasPrefix(e.op.Net, "udp") {
		what += " UDP"
	}
	if e.op.Addr == nil {
		return cause // a dial whose name did not resolve: "lookup NAME: no such host"
	}
	return what + " " + e.op.Addr.String() + ": " + cause
}

// causeText is why op failed, without the system call's name
// ("connection refused", not "connect: connection refused").
func causeText(op *net.OpError) string {
	err := op.Err
	if err == nil {
		return "failed"
	}
	if op.Op == "listen" && errors.Is(err, syscall.EADDRNOTAVAIL) {
		// "cannot assign requested address": a --listen typo. (A dial
		// meets it when it runs out of ports, so only for a listen.)
		return "not an address of this host"
	}
	if se, ok := err.(*os.SyscallError); ok {
		err = se.Err
	}
	if t, ok := err.(interface{ Timeout() bool }); ok && t.Timeout() {
		return "timed out"
	}
	if errors.Is(err, net.ErrClosed) {
		return "connection closed"
	}
	return err.Error()
}

// Unwrap returns the *net.OpError.
func (e *Error) Unwrap() error { return e.op }

// Timeout is the *net.OpError's: Error is a net.Error too.
func (e *Error) Timeout() bool { return e.op.Timeout() }

// Temporary is the *net.OpError's, for net.Error.
//
// Deprecated: as net.Error's Temporary is.
func (e *Error) Temporary() bool { return e.op.Temporary() }
