package peer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/neterr"
)

// Effect is what the liveness oracle saw go wrong with the target.
type Effect string

// Effects. Each is a finding.
const (
	// EffectRefused: the control connection was refused, reset or closed
	// before an answer, or the handshake was refused (non-200) even with
	// no case connection open.
	EffectRefused Effect = "refused"
	// EffectUnresponsive: accepted, but no handshake answer or no Pong
	// within the live timeout.
	EffectUnresponsive Effect = "unresponsive"
	// EffectSlow: the check passed, but took longer than the slow bound.
	EffectSlow Effect = "slow"
	// EffectCorrupt: an answer shows broken state: a Pong with a GUID
	// that is not our Ping's, a QueryHit or Push on a link that asked for
	// neither, a Bye to a valid Ping.
	EffectCorrupt Effect = "corrupt"
	// EffectHTTPDown: the Gnutella side answered, an HTTP HEAD did not.
	EffectHTTPDown Effect = "http-unresponsive"
)

// effectBusy is a 503 to the control handshake: a full servent, not a
// finding unless it persists once no case connection is open.
const effectBusy Effect = "busy"

// Health is the result of one control check.
type Health struct {
	OK      bool          `json:"ok"`
	Effect  Effect        `json:"effect,omitempty"`
	Detail  string        `json:"detail,omitempty"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// oracle checks the target's liveness on a separate, fresh connection of
// its own: never through a case's connection, whose state the case may
// have broken on purpose.
type oracle struct {
	dial   DialFunc
	target string
	live   time.Duration // the whole check's bound
	slow   time.Duration // a passing check slower than this is a finding
	http   bool          // also HEAD over HTTP (uploads are targeted)
	// ultrapeer: connect as an ultrapeer rather than a leaf; flipped when
	// the target refuses one role (a leaf-mode servent takes no leaves).
	ultrapeer atomic.Bool
}

// check runs one control check.
func (o *oracle) check(ctx context.Context) Health {
	start := time.Now()
	h := o.gnutella(ctx)
	if !h.OK && h.Effect == effectBusy || h.Effect == effectRoleRefused {
		// Maybe it refuses the role rather than the connection.
		o.ultrapeer.Store(!o.ultrapeer.Load())
		h = o.gnutella(ctx)
	}
	if h.Effect == effectRoleRefused {
		h.Effect = EffectRefused // in both roles
	}
	if h.OK && o.http {
		h = o.head(ctx)
	}
	h.Elapsed = time.Since(start)
	if h.OK && h.Elapsed > o.slow {
		return Health{Effect: EffectSlow, Detail: fmt.Sprintf("the check took %v, over the %v bound", h.Elapsed.Round(time.Millisecond), o.slow), Elapsed: h.Elapsed}
	}
	return h
}

// effectRoleRefused is a refusal other than 503 to the control
// handshake, maybe of the role it claimed: check asks again in the other
// role before it counts as EffectRefused.
const effectRoleRefused Effect = "role-refused"

// settled is a check made with no case connection open: a target that
// answers 503 is given a second to notice the cases closed, and still
// refusing then is a finding (a slot leak, or a servent that will never
// take the control connection).
func (o *oracle) settled(ctx context.Context) Health {
	h := o.check(ctx)
	for range 4 {
		if h.Effect != effectBusy || ctx.Err() != nil {
			break
		}
		sleep(ctx, 250*time.Millisecond)
		h = o.check(ctx)
	}
	if h.Effect == effectBusy {
		h.Effect, h.Detail = EffectRefused, h.Detail+", with no case connection open for a second"
	}
	return h
}

// controlConnect is the handshake of the control connection: ours, as a
// leaf or an ultrapeer, reading plain.
func (o *oracle) controlConnect() []byte {
	h := ourConnect(o.ultrapeer.Load(), false)
	h.Set("User-Agent", "govent-fuzz-peer/control")
	return h.Append(nil)
}

// dialUntil dials addr and bounds the connection by deadline and ctx:
// once either passes, every read and write on it fails. done releases it.
func dialUntil(ctx context.Context, dial DialFunc, local netip.Addr, addr string, deadline time.Time) (nc net.Conn, done func(), err error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	nc, err = dial(ctx, local, addr)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	_ = nc.SetDeadline(deadline)
	return nc, func() { stop(); cancel(); nc.Close() }, nil
}

func (o *oracle) gnutella(ctx context.Context) Health {
	nc, done, err := dialUntil(ctx, o.dial, noSource, o.target, time.Now().Add(o.live))
	if err != nil {
		return dialHealth(err, o.live)
	}
	defer done()
	br := bufio.NewReader(nc)
	if _, err := nc.Write(o.controlConnect()); err != nil {
		return ioHealth("sending the handshake", err, o.live)
	}
	ans, err := wire.ReadHandshake(br, wire.HandshakeLimits{MaxLines: maxAnswerBlockLines, MaxBytes: maxAnswerBlockBytes})
	if err != nil {
		return ioHealth("reading the handshake answer", err, o.live)
	}
	if code, reason, ok := handshakeStatus(ans); !ok {
		if code == 503 {
			return Health{Effect: effectBusy, Detail: fmt.Sprintf("handshake answered %d %s", code, reason)}
		}
		return Health{Effect: effectRoleRefused, Detail: (&wire.RefusedError{Code: code, Reason: reason}).Error()}
	}
	ping := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePing, TTL: 1}}
	out := (&wire.Handshake{StartLine: wire.StatusLine06(200, "OK")}).Append(nil)
	out, _ = ping.Append(out) // a Ping with no payload always encodes
	if _, err := nc.Write(out); err != nil {
		return ioHealth("sending the final block and a Ping", err, o.live)
	}
	r := wire.NewReader(br, 0)
	for range maxAnswerDescriptors {
		m, err := r.ReadMessage()
		if err != nil && m == nil {
			return ioHealth("waiting for the Pong", err, o.live)
		}
		if err != nil {
			continue
		}
		switch m.Header.Type {
		case wire.TypePong:
			if m.Header.GUID == ping.Header.GUID {
				return Health{OK: true}
			}
			return Health{Effect: EffectCorrupt, Detail: fmt.Sprintf("a Pong with GUID %v on the control link, whose only Ping was %v", m.Header.GUID, ping.Header.GUID)}
		case wire.TypeQueryHit:
			return Health{Effect: EffectCorrupt, Detail: fmt.Sprintf("a QueryHit (GUID %v) on the control link, which sent no Query", m.Header.GUID)}
		case wire.TypePush:
			return Health{Effect: EffectCorrupt, Detail: "a Push on the control link, which offered no file"}
		case wire.TypeBye:
			return Health{Effect: EffectCorrupt, Detail: fmt.Sprintf("Bye %d %q to a valid handshake and Ping", m.Bye.Code, clipText(string(m.Bye.Reason())))}
		}
	}
	return Health{Effect: EffectUnresponsive, Detail: fmt.Sprintf("%d descriptors and no Pong", maxAnswerDescriptors)}
}

// head checks the HTTP side with a HEAD for a file nobody shares: any
// status line will do.
func (o *oracle) head(ctx context.Context) Health {
	nc, done, err := dialUntil(ctx, o.dial, noSource, o.target, time.Now().Add(o.live))
	if err != nil {
		h := dialHealth(err, o.live)
		h.Effect, h.Detail = EffectHTTPDown, "HEAD: "+h.Detail
		return h
	}
	defer done()
	req := "HEAD /uri-res/N2R?urn:sha1:" + controlURN + " HTTP/1.1\r\nHost: " + o.target +
		"\r\nUser-Agent: govent-fuzz-peer/control\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return Health{Effect: EffectHTTPDown, Detail: "HEAD: " + clipText(err.Error())}
	}
	line, err := readStatusLine(bufio.NewReader(nc))
	if err != nil {
		return Health{Effect: EffectHTTPDown, Detail: "HEAD: no status line: " + clipText(err.Error())}
	}
	if _, _, _, err := wire.ParseStatusLine(string(line), wire.StatusHTTP1); err != nil {
		return Health{Effect: EffectHTTPDown, Detail: fmt.Sprintf("HEAD: answered %q", clipText(string(line)))}
	}
	return Health{OK: true}
}

// controlURN is the SHA-1 of nothing anyone shares (20 zero bytes).
const controlURN = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// noSource lets the system pick the control connection's source address.
var noSource netip.Addr

func dialHealth(err error, live time.Duration) Health {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return Health{Effect: EffectUnresponsive, Detail: fmt.Sprintf("connect did not complete within %v", live)}
	}
	return Health{Effect: EffectRefused, Detail: "cannot connect: " + clipText(neterr.Cause(err).Error())}
}

func ioHealth(what string, err error, live time.Duration) Health {
	err = neterr.Cause(err) // what says what and to whom
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return Health{Effect: EffectUnresponsive, Detail: fmt.Sprintf("%s: nothing within %v", what, live)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return Health{Effect: EffectRefused, Detail: fmt.Sprintf("%s: connection closed (%s)", what, clipText(err.Error()))}
	}
	return Health{Effect: EffectCorrupt, Detail: fmt.Sprintf("%s: %s", what, clipText(err.Error()))}
}
